//! Schema versions of event kinds, and the upcasters that read older ones.
//!
//! A kind starts at version 1, whose payloads carry no version (every log written before
//! versions existed is at 1). A kind at version N > 1 has a `schema_version: SchemaVersion<N>`
//! field, stored as `"schema_version": N`. Reading a payload tries the current shape first
//! (what this exp writes, so the common case costs nothing); a payload at an older version is
//! lifted one version at a time by `upcast` and then read; a newer one is refused with a message
//! that names the version. Stored text is never rewritten: the hash chain covers it as written.
//!
//! To change a kind's payload: add `schema_version: SchemaVersion<N>` (or raise N), change the
//! fields, add the `(kind, N - 1)` step to `upcast_step`, and raise `current`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

/// The schema version a payload type is at; stored as the number `N`, and read only from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchemaVersion<const N: u32>;

impl<const N: u32> Serialize for SchemaVersion<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(N)
    }
}

impl<'de, const N: u32> Deserialize<'de> for SchemaVersion<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = u32::deserialize(deserializer)?;
        if stored == N {
            Ok(SchemaVersion)
        } else {
            Err(D::Error::custom(format!(
                "schema version {stored} where {N} was expected"
            )))
        }
    }
}

/// The key of the version field in a payload.
pub const FIELD: &str = "schema_version";

/// The version this exp writes for `kind`.
pub fn current(kind: &str) -> u32 {
    match kind {
        "BaselineCaptured" => 2,
        _ => 1,
    }
}

/// The version a stored payload is at.
pub fn stored(payload: &Value) -> Result<u32, serde_json::Error> {
    match payload.get(FIELD) {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| serde_json::Error::custom(format!("{FIELD} is {v}, not a version"))),
    }
}

/// `payload` (of `kind`, at its stored version) lifted to the current version. A payload
/// already current is returned as it is; a newer one is an error naming both versions.
pub fn upcast(kind: &str, mut payload: Value) -> Result<Value, serde_json::Error> {
    let target = current(kind);
    let mut at = stored(&payload)?;
    if at > target {
        return Err(serde_json::Error::custom(format!(
            "{kind} payload at schema version {at} was written by a newer exp (this one reads {kind} up to version {target}); upgrade exp to read this log"
        )));
    }
    while at < target {
        payload = upcast_step(kind, at, payload)?;
        at += 1;
        if let Value::Object(map) = &mut payload {
            map.insert(FIELD.to_string(), json!(at));
        }
    }
    Ok(payload)
}

/// One version step: `payload` of `kind` at version `from` read as `from + 1`.
fn upcast_step(kind: &str, from: u32, payload: Value) -> Result<Value, serde_json::Error> {
    match (kind, from) {
        ("BaselineCaptured", 1) => baseline_captured_v1(payload),
        _ => Err(serde_json::Error::custom(format!(
            "no upcaster for {kind} version {from}"
        ))),
    }
}

/// BaselineCaptured 1 -> 2: `onnx_path`, `onnx_sha256` and `size_bytes` become the file
/// record `onnx: {path, sha256, bytes}` that every other event naming a file uses.
fn baseline_captured_v1(payload: Value) -> Result<Value, serde_json::Error> {
    let Value::Object(mut map) = payload else {
        return Err(serde_json::Error::custom(
            "BaselineCaptured payload is not an object",
        ));
    };
    let mut take = |key: &str| {
        map.remove(key).ok_or_else(|| {
            serde_json::Error::custom(format!("BaselineCaptured version 1 has no {key}"))
        })
    };
    let path = take("onnx_path")?;
    let sha256 = take("onnx_sha256")?;
    let bytes = take("size_bytes")?;
    let mut onnx = Map::new();
    onnx.insert("path".into(), path);
    onnx.insert("sha256".into(), sha256);
    onnx.insert("bytes".into(), bytes);
    map.insert("onnx".into(), Value::Object(onnx));
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_reads_only_its_own_number() {
        assert_eq!(serde_json::to_string(&SchemaVersion::<3>).unwrap(), "3");
        assert!(serde_json::from_str::<SchemaVersion<3>>("3").is_ok());
        let err = serde_json::from_str::<SchemaVersion<3>>("2").unwrap_err();
        assert!(
            err.to_string().contains("schema version 2 where 3"),
            "{err}"
        );
    }

    #[test]
    fn baseline_captured_1_becomes_2_with_a_file_record() {
        let v1 = json!({"origin": "fitted", "onnx_path": "artifacts/b.onnx",
            "onnx_sha256": "ab", "size_bytes": 7, "labels": []});
        let v2 = upcast("BaselineCaptured", v1).unwrap();
        assert_eq!(
            v2,
            json!({"origin": "fitted", "onnx": {"path": "artifacts/b.onnx", "sha256": "ab", "bytes": 7},
                "labels": [], "schema_version": 2})
        );
        // Already current: unchanged.
        assert_eq!(upcast("BaselineCaptured", v2.clone()).unwrap(), v2);
    }

    #[test]
    fn a_newer_version_is_refused_by_name_and_a_broken_old_one_says_what_is_missing() {
        let err = upcast("LrReduced", json!({"schema_version": 2})).unwrap_err();
        assert!(
            err.to_string()
                .contains("LrReduced payload at schema version 2 was written by a newer exp"),
            "{err}"
        );
        let err = upcast("BaselineCaptured", json!({"onnx_path": "x"})).unwrap_err();
        assert!(err.to_string().contains("has no onnx_sha256"), "{err}");
        let err = upcast("LrReduced", json!({"schema_version": "one"})).unwrap_err();
        assert!(err.to_string().contains("not a version"), "{err}");
    }
}
