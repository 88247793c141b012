//! Reading values out of `TensorProto`s (raw bytes, typed fields or external files) and making them.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::onnx::error::OnnxError;
use crate::onnx::proto::{data_type, TensorProto, DATA_LOCATION_EXTERNAL};

fn tensor_err(t: &TensorProto, reason: impl Into<String>) -> OnnxError {
    OnnxError::Tensor {
        name: t.name().to_string(),
        reason: reason.into(),
    }
}

/// The tensor's dimensions; negative ones are an error.
pub fn dims(t: &TensorProto) -> Result<Vec<usize>, OnnxError> {
    t.dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| tensor_err(t, format!("negative dimension {d}"))))
        .collect()
}

pub fn numel(t: &TensorProto) -> Result<usize, OnnxError> {
    Ok(dims(t)?.iter().product())
}

/// The element bytes of a tensor stored as `raw_data` or in an external file; `None` when the
/// values are in a typed field (`float_data`, `int64_data`...).
fn raw_bytes<'a>(
    t: &'a TensorProto,
    external_dir: Option<&Path>,
) -> Result<Option<Cow<'a, [u8]>>, OnnxError> {
    if t.data_location == Some(DATA_LOCATION_EXTERNAL) || !t.external_data.is_empty() {
        return read_external(t, external_dir).map(|b| Some(Cow::Owned(b)));
    }
    Ok(t.raw_data.as_deref().map(Cow::Borrowed))
}

fn read_external(t: &TensorProto, external_dir: Option<&Path>) -> Result<Vec<u8>, OnnxError> {
    let field = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key() == key)
            .map(|e| e.value().to_string())
    };
    let location =
        field("location").ok_or_else(|| tensor_err(t, "external data without a 'location'"))?;
    let parse = |key: &str| -> Result<Option<u64>, OnnxError> {
        field(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    tensor_err(t, format!("external data {key} '{v}' is not a number"))
                })
            })
            .transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?;
    let dir = external_dir.ok_or_else(|| {
        tensor_err(
            t,
            format!("data is in external file '{location}' but the model was not read from a file"),
        )
    })?;
    if Path::new(&location).is_absolute() || location.split(['/', '\\']).any(|p| p == "..") {
        return Err(tensor_err(
            t,
            format!("external data location '{location}' leaves the model directory"),
        ));
    }
    let path = dir.join(&location);
    let io = |source| OnnxError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::open(&path).map_err(io)?;
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut bytes = Vec::new();
    match length {
        Some(n) => {
            bytes.resize(n as usize, 0);
            file.read_exact(&mut bytes).map_err(io)?;
        }
        None => {
            file.read_to_end(&mut bytes).map_err(io)?;
        }
    }
    Ok(bytes)
}

/// The values of a FLOAT tensor.
pub fn read_f32(t: &TensorProto, external_dir: Option<&Path>) -> Result<Vec<f32>, OnnxError> {
    if t.data_type() != data_type::FLOAT {
        return Err(tensor_err(
            t,
            format!("data type {} is not float32", t.data_type()),
        ));
    }
    let n = numel(t)?;
    let values = match raw_bytes(t, external_dir)? {
        Some(bytes) => {
            if bytes.len() != n * 4 {
                return Err(tensor_err(
                    t,
                    format!("{} data bytes for {n} float32 values", bytes.len()),
                ));
            }
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        None => t.float_data.clone(),
    };
    if values.len() != n {
        return Err(tensor_err(
            t,
            format!("{} values for shape {:?}", values.len(), t.dims),
        ));
    }
    Ok(values)
}

/// The values of an integer tensor (INT64, INT32, INT8, UINT8 or BOOL) as i64.
pub fn read_i64(t: &TensorProto, external_dir: Option<&Path>) -> Result<Vec<i64>, OnnxError> {
    let n = numel(t)?;
    let bytes = raw_bytes(t, external_dir)?;
    let values: Vec<i64> = match (t.data_type(), bytes) {
        (data_type::INT64, Some(b)) => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        (data_type::INT64, None) => t.int64_data.clone(),
        (data_type::INT32, Some(b)) => b
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        (data_type::INT8, Some(b)) => b.iter().map(|&v| i64::from(v as i8)).collect(),
        (data_type::UINT8 | data_type::BOOL, Some(b)) => b.iter().map(|&v| i64::from(v)).collect(),
        // Small integer types share int32_data when not stored raw.
        (data_type::INT32 | data_type::INT8 | data_type::UINT8 | data_type::BOOL, None) => {
            t.int32_data.iter().map(|&v| i64::from(v)).collect()
        }
        (other, _) => {
            return Err(tensor_err(
                t,
                format!("data type {other} is not an integer type"),
            ))
        }
    };
    if values.len() != n {
        return Err(tensor_err(
            t,
            format!("{} values for shape {:?}", values.len(), t.dims),
        ));
    }
    Ok(values)
}

/// A float32 initialiser with little-endian `raw_data`.
pub fn f32_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    let mut raw = Vec::with_capacity(values.len() * 4);
    for v in values {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type::FLOAT),
        raw_data: Some(raw),
        ..Default::default()
    }
}

/// An int64 tensor with little-endian `raw_data`.
pub fn i64_tensor(name: &str, dims: &[usize], values: &[i64]) -> TensorProto {
    let mut raw = Vec::with_capacity(values.len() * 8);
    for v in values {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type::INT64),
        raw_data: Some(raw),
        ..Default::default()
    }
}

/// Transposes a row-major `[rows, cols]` matrix (exact: it only moves values).
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}
