//! `exp verify`: recompute every experiment's hash chain from the stored rows.

use rusqlite::{params, Connection};
use serde::Serialize;

use super::hash::{chain_hash, GENESIS};
use super::StoreError;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainReport {
    pub experiment: String,
    pub events: usize,
    /// The first event whose chain does not hold; `None` when the whole chain verifies.
    pub first_bad: Option<ChainBreak>,
}

impl ChainReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

pub(super) fn verify(
    conn: &Connection,
    experiment: Option<&str>,
) -> Result<Vec<ChainReport>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, experiment, run, ts, kind, payload, prev_hash, hash FROM events
         WHERE (?1 IS NULL OR experiment = ?1) ORDER BY experiment, seq",
    )?;
    let mut rows = stmt.query(params![experiment])?;
    let mut reports: Vec<ChainReport> = Vec::new();
    let mut expected_prev = GENESIS.to_string();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let name: String = row.get(1)?;
        let run: String = row.get(2)?;
        let ts: String = row.get(3)?;
        let kind: String = row.get(4)?;
        let payload_text: String = row.get(5)?;
        let prev_hash: String = row.get(6)?;
        let hash: String = row.get(7)?;
        if reports.last().map(|r| &r.experiment) != Some(&name) {
            reports.push(ChainReport {
                experiment: name.clone(),
                events: 0,
                first_bad: None,
            });
            expected_prev = GENESIS.to_string();
        }
        let report = reports.last_mut().expect("pushed above");
        report.events += 1;
        if report.first_bad.is_some() {
            continue;
        }
        let reason = match serde_json::from_str::<serde_json::Value>(&payload_text) {
            Err(e) => Some(format!("payload is not JSON: {e}")),
            Ok(_) if prev_hash != expected_prev => Some(format!(
                "prev_hash {} does not match the previous event's hash {} (an event was removed, inserted or reordered)",
                short(&prev_hash),
                short(&expected_prev)
            )),
            Ok(payload) => {
                let recomputed = chain_hash(&prev_hash, &name, &run, &ts, &kind, &payload);
                (recomputed != hash).then(|| {
                    format!(
                        "stored hash {} but the row hashes to {} (the event was changed)",
                        short(&hash),
                        short(&recomputed)
                    )
                })
            }
        };
        if let Some(reason) = reason {
            report.first_bad = Some(ChainBreak { seq, kind, reason });
        }
        expected_prev = hash;
    }
    Ok(reports)
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
