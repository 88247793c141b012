//! Where a run runs: exp's build, the libraries that compute its numbers, and the machine.
//! Captured once per process; nothing here fails (what cannot be read says `unknown`).

use std::sync::OnceLock;

use crate::assets::{self, Asset};
use crate::events::{Environment, OrtLibrary};

/// The SIMD extensions reported: those the matrix-product kernels (and issue-tracked bf16
/// work) choose between.
const FEATURES: [&str; 8] = [
    "sse4.2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vnni",
    "avx512bf16",
];

/// This process's environment (the ONNX Runtime library is read when it is cached or named by
/// `ORT_DYLIB_PATH`, never fetched).
pub fn capture() -> Environment {
    static CAPTURED: OnceLock<Environment> = OnceLock::new();
    CAPTURED
        .get_or_init(|| Environment {
            exp_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("EXP_GIT_COMMIT").to_string(),
            rustc: env!("EXP_RUSTC_VERSION").to_string(),
            candle: env!("EXP_CANDLE_VERSION").to_string(),
            ort_crate: env!("EXP_ORT_CRATE_VERSION").to_string(),
            tokenizers: env!("EXP_TOKENIZERS_VERSION").to_string(),
            onnxruntime: onnxruntime(),
            cpu: cpu_model(),
            cpu_features: cpu_features(),
            gemm_kernels: gemm_kernels().to_string(),
            threads: candle_core::utils::get_num_threads(),
            os: os(),
        })
        .clone()
}

fn onnxruntime() -> Option<OrtLibrary> {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| assets::cached(Asset::OnnxRuntime))
        .map(|path| OrtLibrary {
            version: ort_version(&path).unwrap_or_else(|| "unknown".into()),
            path: path.display().to_string(),
            sha256: assets::sha256_file(&path).unwrap_or_else(|_| "unknown".into()),
        })
}

/// The library's own version string (`OrtGetApiBase()->GetVersionString()`, as the ort crate
/// checks it when loading). Its build info names a git branch, which need not be the release.
fn ort_version(path: &std::path::Path) -> Option<String> {
    use std::ffi::{c_char, c_void, CStr, CString};
    use std::os::unix::ffi::OsStrExt;

    #[repr(C)]
    struct OrtApiBase {
        get_api: unsafe extern "C" fn(u32) -> *const c_void,
        get_version_string: unsafe extern "C" fn() -> *const c_char,
    }
    let name = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: the path is a NUL-terminated string; the symbol is ONNX Runtime's C entry point
    // with the documented signature, and the version string it returns is static. Closing
    // only drops this reference: a library ONNX Runtime sessions use stays loaded.
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            return None;
        }
        let symbol = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let version = (!symbol.is_null())
            .then(|| {
                let get_base: unsafe extern "C" fn() -> *const OrtApiBase =
                    std::mem::transmute(symbol);
                let base = get_base();
                (!base.is_null()).then(|| {
                    CStr::from_ptr(((*base).get_version_string)())
                        .to_string_lossy()
                        .into_owned()
                })
            })
            .flatten();
        libc::dlclose(handle);
        version
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

#[cfg(target_arch = "x86_64")]
fn has(feature: &str) -> bool {
    match feature {
        "sse4.2" => std::arch::is_x86_feature_detected!("sse4.2"),
        "avx" => std::arch::is_x86_feature_detected!("avx"),
        "avx2" => std::arch::is_x86_feature_detected!("avx2"),
        "fma" => std::arch::is_x86_feature_detected!("fma"),
        "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
        "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
        "avx512vnni" => std::arch::is_x86_feature_detected!("avx512vnni"),
        "avx512bf16" => std::arch::is_x86_feature_detected!("avx512bf16"),
        _ => false,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn has(_: &str) -> bool {
    false
}

fn cpu_features() -> Vec<String> {
    FEATURES
        .iter()
        .filter(|f| has(f))
        .map(|f| f.to_string())
        .collect()
}

/// The `gemm` crate's f32 kernels on this CPU: built with its `x86-v4` feature (Cargo.toml), it
/// takes its AVX-512 kernels where the CPU has avx512f, else its FMA kernels where it has fma,
/// else scalar code (`gemm-common`'s `init_gemm_fn`).
fn gemm_kernels() -> &'static str {
    if !cfg!(target_arch = "x86_64") {
        "portable"
    } else if has("avx512f") {
        "avx512f"
    } else if has("fma") {
        "fma"
    } else {
        "scalar"
    }
}

fn os() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|k| k.trim().to_string());
    let mut parts = vec![format!(
        "{} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )];
    parts.extend(pretty);
    parts.extend(kernel.map(|k| format!("kernel {k}")));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ort_version_is_the_librarys_own() {
        let Some(path) = assets::cached(Asset::OnnxRuntime) else {
            eprintln!("SKIPPED: ONNX Runtime is not cached here");
            return;
        };
        let version = ort_version(&path).unwrap();
        // The cached library is the pinned release, whose file name carries its version.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(&version), "{name} vs {version}");
        assert_eq!(ort_version(std::path::Path::new("/nonexistent.so")), None);
    }

    #[test]
    fn the_build_facts_are_filled_in() {
        let e = capture();
        assert_eq!(e.exp_version, env!("CARGO_PKG_VERSION"));
        assert!(e.rustc.starts_with("rustc "), "{}", e.rustc);
        assert!(e.candle.starts_with("0."), "{}", e.candle);
        assert!(e.tokenizers.starts_with("0."), "{}", e.tokenizers);
        assert!(e.threads >= 1);
        // A git checkout builds with its commit (40 hex digits).
        if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.git")).exists() {
            assert_eq!(e.git_commit.len(), 40, "{}", e.git_commit);
        }
    }
}
