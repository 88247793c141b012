//! Canonical JSON and the per-experiment hash chain.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of an experiment's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// JSON with object keys sorted and no whitespace: equal values always give equal bytes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// sha256(prev_hash || canonical {experiment, run, ts, kind, payload}), lower-case hex.
pub fn chain_hash(
    prev_hash: &str,
    experiment: &str,
    run: &str,
    ts: &str,
    kind: &str,
    payload: &Value,
) -> String {
    let record = serde_json::json!({
        "experiment": experiment,
        "run": run,
        "ts": ts,
        "kind": kind,
        "payload": payload,
    });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_json(&record).as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"d": [1, {"z": 0, "y": 2}], "c": "x"}}"#)
                .unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":0}]},"b":1}"#
        );
    }

    #[test]
    fn chain_hash_depends_on_every_field() {
        let payload = serde_json::json!({"n": 1});
        let base = chain_hash(GENESIS, "e", "r", "t", "K", &payload);
        assert_eq!(base.len(), 64);
        assert_ne!(base, chain_hash("1", "e", "r", "t", "K", &payload));
        assert_ne!(base, chain_hash(GENESIS, "f", "r", "t", "K", &payload));
        assert_ne!(base, chain_hash(GENESIS, "e", "s", "t", "K", &payload));
        assert_ne!(base, chain_hash(GENESIS, "e", "r", "u", "K", &payload));
        assert_ne!(base, chain_hash(GENESIS, "e", "r", "t", "L", &payload));
        assert_ne!(
            base,
            chain_hash(GENESIS, "e", "r", "t", "K", &serde_json::json!({"n": 2}))
        );
    }
}
