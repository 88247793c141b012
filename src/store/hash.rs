//! Canonical JSON and the per-experiment hash chain.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of an experiment's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// JSON with object keys sorted and no whitespace: equal values always give equal bytes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(2048);
    write_canonical(value, &mut out);
    // Only serde_json's own (UTF-8) output and ASCII punctuation went in.
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes into a byte buffer with serde_json's writers, so that no key or number needs a
/// `String` of its own (appending a large batch serialises every payload here).
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(key.as_str(), out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// A string, number, bool or null exactly as `serde_json::to_string` writes it.
fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut impl std::io::Write) {
    serde_json::to_writer(out, value).expect("a JSON scalar always serialises");
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
    chain_hash_canonical(
        prev_hash,
        experiment,
        run,
        ts,
        kind,
        &canonical_json(payload),
    )
}

/// [`chain_hash`] of a payload already in canonical form (the text the `payload` column holds),
/// so that appending serialises each payload once. The record's keys are written in their sorted
/// order (experiment, kind, payload, run, ts), byte for byte what `canonical_json` of the record
/// object gives.
pub fn chain_hash_canonical(
    prev_hash: &str,
    experiment: &str,
    run: &str,
    ts: &str,
    kind: &str,
    canonical_payload: &str,
) -> String {
    // Streamed into the hasher: no copy of the record is made.
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"{\"experiment\":");
    write_scalar(experiment, &mut hasher);
    hasher.update(b",\"kind\":");
    write_scalar(kind, &mut hasher);
    hasher.update(b",\"payload\":");
    hasher.update(canonical_payload.as_bytes());
    hasher.update(b",\"run\":");
    write_scalar(run, &mut hasher);
    hasher.update(b",\"ts\":");
    write_scalar(ts, &mut hasher);
    hasher.update(b"}");
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

    /// The chain as it was first written (a `json!` record through `canonical_json`, one
    /// `String` per key): logs written by earlier versions must keep verifying.
    fn reference_chain_hash(prev: &str, e: &str, r: &str, t: &str, k: &str, p: &Value) -> String {
        fn canon(value: &Value, out: &mut String) {
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
                        canon(&map[key], out);
                    }
                    out.push('}');
                }
                Value::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        canon(item, out);
                    }
                    out.push(']');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        let record =
            serde_json::json!({"experiment": e, "run": r, "ts": t, "kind": k, "payload": p});
        let mut text = String::new();
        canon(&record, &mut text);
        let mut hasher = Sha256::new();
        hasher.update(prev.as_bytes());
        hasher.update(text.as_bytes());
        hex::encode(hasher.finalize())
    }

    #[test]
    fn chain_hash_matches_the_original_record_encoding() {
        let payload: Value = serde_json::from_str(
            r#"{"z": [1.5, -0.0, 1e300, 0.1, 12345678901234567890, -3], "a": null,
                "quote\"d \u00e9\n\t\u0001": {"y": true, "x": "caf\u00e9 \ud83d\ude00 \\"},
                "m": [], "n": {}, "f": 0.30000000000000004}"#,
        )
        .unwrap();
        for (experiment, run, ts, kind) in [
            (
                "fpb",
                "20250101T000000.000-1",
                "2025-01-01T00:00:00.000Z",
                "EpochCompleted",
            ),
            ("we\"ird\u{7f}é", "r\n", "t", "K"),
        ] {
            assert_eq!(
                chain_hash(GENESIS, experiment, run, ts, kind, &payload),
                reference_chain_hash(GENESIS, experiment, run, ts, kind, &payload),
            );
        }
    }
}
