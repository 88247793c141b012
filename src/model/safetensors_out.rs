//! Writes [`Weights`] as a safetensors file (f32, little-endian) with the `{"format": "pt"}`
//! metadata that Hugging Face Transformers expects.

use std::io::Write;
use std::path::Path;

use candle_core::DType;

use super::Weights;

fn candle_io(e: candle_core::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes every tensor as F32 under its name (names sorted, as safetensors orders them anyway).
pub fn write_safetensors(path: &Path, weights: &Weights) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut blobs: Vec<Vec<f32>> = Vec::with_capacity(weights.len());
    let mut offset = 0usize;
    for (name, tensor) in weights {
        let values: Vec<f32> = tensor
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle_io)?;
        let bytes = values.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": "F32",
                "shape": tensor.dims(),
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
        blobs.push(values);
    }
    let mut header_bytes = serde_json::to_vec(&serde_json::Value::Object(header))?;
    // Pad the header with spaces so the data starts 8-byte aligned, like the reference writer.
    while header_bytes.len() % 8 != 0 {
        header_bytes.push(b' ');
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(&(header_bytes.len() as u64).to_le_bytes())?;
    out.write_all(&header_bytes)?;
    for values in blobs {
        for v in values {
            out.write_all(&v.to_le_bytes())?;
        }
    }
    out.flush()
}
