//! One writer per experiment: a row in `writer_locks` names the process that holds it.
//! A row left by a process that no longer exists (a killed run) is taken over.

use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{now_rfc3339, StoreError};

/// Held while a command writes to an experiment; released on drop.
#[derive(Debug)]
pub struct WriterLock {
    db_path: PathBuf,
    experiment: String,
    pid: u32,
}

impl WriterLock {
    pub fn experiment(&self) -> &str {
        &self.experiment
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if let Ok(conn) = Connection::open(&self.db_path) {
            let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
            let _ = conn.execute(
                "DELETE FROM writer_locks WHERE experiment = ?1 AND pid = ?2",
                params![self.experiment, self.pid],
            );
        }
    }
}

pub(super) fn acquire(
    conn: &mut Connection,
    db_path: PathBuf,
    experiment: &str,
    command: &str,
) -> Result<WriterLock, StoreError> {
    let pid = std::process::id();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let holder: Option<(u32, Option<u64>, String, String)> = tx
        .query_row(
            "SELECT pid, pid_started, command, since FROM writer_locks WHERE experiment = ?1",
            params![experiment],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    if let Some((holder_pid, started, holder_command, since)) = holder {
        if holder_pid != pid && process_alive(holder_pid, started) {
            return Err(StoreError::Locked {
                experiment: experiment.to_string(),
                pid: holder_pid,
                command: holder_command,
                since,
            });
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO writer_locks (experiment, pid, pid_started, host, command, since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            experiment,
            pid,
            process_start_time(pid),
            hostname(),
            command,
            now_rfc3339()
        ],
    )?;
    tx.commit()?;
    Ok(WriterLock {
        db_path,
        experiment: experiment.to_string(),
        pid,
    })
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), which tells a
/// live holder from an unrelated process that re-used its pid.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn process_alive(pid: u32, started: Option<u64>) -> bool {
    match (process_start_time(pid), started) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}
