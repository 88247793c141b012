//! ONNX Runtime is loaded once per process, from the library [`crate::assets::ort_dylib`] finds
//! (`ORT_DYLIB_PATH`, else the cache, else fetched), never from whatever `libonnxruntime.so` the
//! loader would pick up by name.

use std::path::PathBuf;
use std::sync::Mutex;

use ort::environment::Environment;

use super::error::RuntimeError;

// A Mutex rather than a OnceLock: a failed load is not cached, so a later call can retry
// after the user fixes ORT_DYLIB_PATH. The environment lives until the process exits.
static ENVIRONMENT: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment() -> Result<Environment, RuntimeError> {
    let mut slot = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((env, _)) = slot.as_ref() {
        return Ok(env.clone());
    }
    let path = crate::assets::ort_dylib()?;
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::LoadLibrary {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    let env = builder
        .with_name("exp")
        .with_telemetry(false)
        .build()
        .map_err(|source| RuntimeError::Environment {
            path: path.clone(),
            source,
        })?;
    *slot = Some((env.clone(), path));
    Ok(env)
}

/// The ONNX Runtime library this process loaded (loading it if needed), for benchmark records.
pub fn library_path() -> Result<PathBuf, RuntimeError> {
    environment()?;
    let slot = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(slot
        .as_ref()
        .map(|(_, path)| path.clone())
        .unwrap_or_default())
}
