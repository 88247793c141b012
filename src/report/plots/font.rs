//! Plot text needs a TrueType font (plotters lays text out with ab_glyph for PNG and SVG alike):
//! `EXP_FONT`, else a DejaVu or Liberation sans font from the system's font directories.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::report::ReportError;

const CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
];

/// Font file names accepted when searching the font directories.
const NAMES: [&str; 2] = ["DejaVuSans.ttf", "LiberationSans-Regular.ttf"];

fn search(dir: &Path, depth: usize) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut subdirs: Vec<PathBuf> = Vec::new();
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            subdirs.push(path);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| NAMES.contains(&n))
        {
            return Some(path);
        }
    }
    if depth == 0 {
        return None;
    }
    subdirs.into_iter().find_map(|d| search(&d, depth - 1))
}

fn locate() -> Result<PathBuf, ReportError> {
    if let Ok(path) = std::env::var("EXP_FONT") {
        let p = PathBuf::from(&path);
        if !p.is_file() {
            return Err(ReportError::BadFont {
                path,
                problem: "no such file".to_string(),
            });
        }
        return Ok(p);
    }
    if let Some(found) = CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Ok(found);
    }
    let roots = ["/usr/share/fonts", "/usr/local/share/fonts"];
    if let Some(found) = roots.iter().find_map(|r| search(Path::new(r), 4)) {
        return Ok(found);
    }
    Err(ReportError::NoFont {
        looked: format!("EXP_FONT, {}", roots.join(", ")),
    })
}

fn load() -> Result<PathBuf, String> {
    let path = locate().map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).map_err(|e| format!("EXP_FONT={}: {e}", path.display()))?;
    // plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| {
        format!(
            "EXP_FONT={}: not a TrueType/OpenType font plotters can read",
            path.display()
        )
    })?;
    Ok(path)
}

/// Registers the font once per process; the error names EXP_FONT.
pub fn ensure_font() -> Result<PathBuf, ReportError> {
    static FONT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FONT.get_or_init(load) {
        Ok(path) => Ok(path.clone()),
        Err(message) => Err(ReportError::Font(message.clone())),
    }
}
