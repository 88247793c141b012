//! Writes [`Weights`] as a safetensors file (f32) with the `{"format": "pt"}` metadata that
//! Hugging Face Transformers expects, through the `safetensors` crate (the reference format's own
//! writer, which candle reads with).

use std::collections::HashMap;
use std::path::Path;

use candle_core::DType;

use super::Weights;

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes every tensor as F32 under its name.
pub fn write_safetensors(path: &Path, weights: &Weights) -> std::io::Result<()> {
    // F32 and contiguous first: the crate's view of a candle tensor copies its bytes and cannot
    // report a failure there.
    let tensors = weights
        .iter()
        .map(|(name, t)| Ok((name.as_str(), t.to_dtype(DType::F32)?.contiguous()?)))
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(io_error)?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(tensors, Some(metadata), path).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::tiny_random_bert;

    #[test]
    fn written_tensors_read_back_bit_for_bit_with_pt_metadata() {
        let (_, weights) = tiny_random_bert(7, 3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        write_safetensors(&path, &weights).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(
            meta.metadata().as_ref().and_then(|m| m.get("format")),
            Some(&"pt".to_string())
        );
        let back = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
        assert_eq!(back.len(), weights.len());
        for (name, t) in &weights {
            let a: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f32> = back[name].flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(back[name].dims(), t.dims(), "{name}");
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name}"
            );
        }
    }
}
