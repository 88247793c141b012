//! The SQLite event store: schema, append, read, writer locks and the hash chain.

mod canonical;
mod hash;
mod lock;
mod owner;
pub mod paths;
mod stream;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::events::Event;

pub use hash::{canonical_json, chain_hash, chain_hash_canonical, GENESIS};
pub use lock::WriterLock;
pub use owner::APPLICATION_ID;
pub use stream::SlotOf;
pub use verify::{ChainBreak, ChainReport};

const SCHEMA: &str = include_str!("../../schema.sql");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the event database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot open the event database {path}: its directory {dir} does not exist")]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error("{path} is a directory; --db names the database file (for example {}/exp.db)", .path.display())]
    IsDirectory { path: PathBuf },
    #[error("{path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path} is not an exp event database ({reason}); exp reads and writes only its own databases: give --db another file")]
    NotExp { path: PathBuf, reason: String },
    #[error("cannot read {path}: it has a write-ahead log ({path}-wal, from a writer that is running or was killed) and SQLite cannot open its shared-memory index beside it (the directory or the -shm file is read-only); run `exp ls` once as a user who can write there, or copy exp.db with its -wal and -shm files to a writable place: {source}")]
    UnreadableWal {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path} cannot be written (the file or its directory is read-only), and this command records events; the read-only commands (ls, show, events, verify, report) work on it")]
    ReadOnly { path: PathBuf },
    #[error("event database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("experiment '{experiment}' is being written by pid {pid} ({command}) since {since}; wait for it to finish or stop it")]
    Locked {
        experiment: String,
        pid: u32,
        command: String,
        since: String,
    },
    #[error("cannot write a {kind} event as JSON: {source}")]
    Encode {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("event {seq} ({kind}) has a payload this version cannot read: {source}")]
    BadPayload {
        seq: i64,
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    fn bad_payload(seq: i64, kind: &str, source: serde_json::Error) -> StoreError {
        StoreError::BadPayload {
            seq,
            kind: kind.to_string(),
            source,
        }
    }
}

/// The event a stored row's kind and payload text describe.
fn decode(seq: i64, kind: &str, payload: &str) -> Result<Event, StoreError> {
    Event::from_json(kind, payload).map_err(|source| StoreError::bad_payload(seq, kind, source))
}

/// One row of `events`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub experiment: String,
    pub run: String,
    pub ts: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    /// The typed event, for folding into state.
    pub fn event(&self) -> Result<Event, StoreError> {
        Event::from_parts(&self.kind, self.payload.clone())
            .map_err(|source| StoreError::bad_payload(self.seq, &self.kind, source))
    }
}

/// An event as [`Store::append`] wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    pub seq: i64,
    pub ts: String,
    pub kind: &'static str,
    /// The `payload` column: canonical JSON.
    pub payload: String,
    pub hash: String,
}

impl Appended {
    /// The event as stored (what a fold of the log reads back).
    pub fn event(&self) -> Result<Event, StoreError> {
        decode(self.seq, self.kind, &self.payload)
    }
}

/// The event's payload as canonical JSON, written into `buffer` (cleared first). The event is
/// written whole, `{"kind":"Name","payload":...}` (its keys already in order), and the payload
/// is the text between.
fn payload_text<'a>(event: &Event, buffer: &'a mut Vec<u8>) -> Result<&'a str, StoreError> {
    const HEAD: &str = "{\"kind\":\"";
    const MIDDLE: &str = "\",\"payload\":";
    let kind = event.kind();
    buffer.clear();
    canonical::write(event, buffer).map_err(|source| StoreError::Encode { kind, source })?;
    let start = HEAD.len() + kind.len() + MIDDLE.len();
    debug_assert!(buffer.starts_with(format!("{HEAD}{kind}{MIDDLE}").as_bytes()));
    debug_assert_eq!(buffer.last(), Some(&b'}'));
    let payload = &buffer[start..buffer.len() - 1];
    // serde_json writes UTF-8 and the cut is at ASCII punctuation.
    Ok(std::str::from_utf8(payload).expect("canonical JSON is UTF-8"))
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// [`paths::base_dir`] of `path`, computed once.
    base: PathBuf,
    run: String,
    read_only: bool,
}

/// A fresh run id: the time and this process's pid.
fn new_run_id() -> String {
    format!(
        "{}-{}",
        now_rfc3339().replace([':', '-'], "").trim_end_matches('Z'),
        std::process::id()
    )
}

/// `path` with `suffix` appended to its file name (`exp.db` -> `exp.db-wal`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `path` as the path part of an SQLite `file:` URI: characters other than unreserved ones and
/// `/` percent-encoded (a `?` or `#` in a file name would otherwise end the path).
fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for &b in absolute.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether this process may write the database: the file (when it exists) and its directory,
/// where SQLite creates the `-wal` and `-shm` files. Checked before opening, since SQLite opens a
/// read-only file read-only without a word and fails only at the first write, after creating
/// `-wal`/`-shm` files that it then leaves behind.
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let can_write = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            // SAFETY: access() reads a NUL-terminated path and touches nothing else.
            .is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    (!path.exists() || can_write(path)) && can_write(dir)
}

/// Refuses a `--db` that names a directory, or whose directory does not exist.
fn check_location(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Err(StoreError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(StoreError::NoDirectory {
            path: path.to_path_buf(),
            dir,
        });
    }
    Ok(())
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Store {
    /// Opens (creating if needed) the database at `path` for writing and applies the schema.
    /// A file that is not exp's (another program's SQLite database, or not SQLite at all) is
    /// refused before anything is written to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        check_location(path)?;
        if !writable(path) {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        // Read the header and the table names before any pragma writes.
        let owner = owner::check(&conn, path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // Pages are read through a memory map (SQLite's default cap, 2 GiB) instead of a read()
        // copy each: folding a long log reads every page of it.
        conn.pragma_update(None, "mmap_size", 0x7fff_0000_i64)
            .map_err(open_err)?;
        // 64 MiB of page cache (SQLite's default is 2 MiB): a batch append touches a page of the
        // hash index per event, and a smaller cache spills the transaction and re-reads pages.
        conn.pragma_update(None, "cache_size", -65536)
            .map_err(open_err)?;
        // Checkpoint the WAL every 10,000 pages (40 MiB) instead of 1,000: a page rewritten by
        // many appends in between (the indexes' pages) is copied into the database once.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)
            .map_err(open_err)?;
        // One transaction, so that two processes opening the database at once do not
        // interleave the views' DROP and CREATE ("view already exists").
        conn.execute_batch(&format!("BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;"))
            .map_err(open_err)?;
        if owner != owner::Owner::Exp {
            conn.pragma_update(None, "application_id", owner::APPLICATION_ID)
                .map_err(open_err)?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            base: paths::base_dir(path),
            run: new_run_id(),
            read_only: false,
        })
    }

    /// Opens an existing database for reading only: nothing is written to it or beside it, so
    /// it works on a read-only file or directory and leaves no `-wal`/`-shm` files behind.
    ///
    /// Without a `-wal` file no writer has the log open, and SQLite is told the file is
    /// `immutable` (its documented way to read a database that cannot be written, without the
    /// shared-memory index). With a `-wal` (a writer is running, or was killed) the log is read
    /// through it as usual, which needs the `-shm` to exist or to be creatable.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        check_location(path)?;
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let wal = sidecar(path, "-wal");
        let live_wal = wal.exists();
        let uri = format!(
            "file:{}?mode=ro{}",
            uri_path(path),
            if live_wal { "" } else { "&immutable=1" }
        );
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let cannot_read = |source: rusqlite::Error| -> StoreError {
            let wal_unreadable = live_wal
                && matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                );
            if wal_unreadable {
                StoreError::UnreadableWal {
                    path: path.to_path_buf(),
                    source,
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                }
            }
        };
        let conn = Connection::open_with_flags(&uri, flags).map_err(cannot_read)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(cannot_read)?;
        match owner::check(&conn, path) {
            Ok(owner::Owner::Empty) => {
                return Err(StoreError::NotExp {
                    path: path.to_path_buf(),
                    reason: "it is empty".to_string(),
                })
            }
            Ok(_) => {}
            Err(StoreError::Sql(source)) => return Err(cannot_read(source)),
            Err(other) => return Err(other),
        }
        conn.pragma_update(None, "mmap_size", 0x7fff_0000_i64)
            .map_err(cannot_read)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            base: paths::base_dir(path),
            run: new_run_id(),
            read_only: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the paths in events are relative to (see [`paths`]).
    pub fn base_dir(&self) -> &Path {
        &self.base
    }

    /// The id of this process's run, written in the `run` column of every event it appends.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Takes the experiment's writer lock, or says who holds it.
    pub fn lock(&mut self, experiment: &str, command: &str) -> Result<WriterLock, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        lock::acquire(&mut self.conn, self.path.clone(), experiment, command)
    }

    /// Appends events atomically: all of them, chained, or none.
    pub fn append(
        &mut self,
        lock: &WriterLock,
        events: &[Event],
    ) -> Result<Vec<Appended>, StoreError> {
        let experiment = lock.experiment();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut prev_hash: String = tx
            .query_row(
                "SELECT hash FROM events WHERE experiment = ?1 ORDER BY seq DESC LIMIT 1",
                params![experiment],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| GENESIS.to_string());
        let mut appended = Vec::with_capacity(events.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (experiment, run, ts, kind, payload, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut buffer = Vec::with_capacity(4096);
            for event in events {
                let ts = now_rfc3339();
                let kind = event.kind();
                // Serialised once: the same text is hashed and stored.
                let text = payload_text(event, &mut buffer)?;
                let hash = chain_hash_canonical(&prev_hash, experiment, &self.run, &ts, kind, text);
                insert.execute(params![
                    experiment, self.run, ts, kind, text, prev_hash, hash
                ])?;
                appended.push(Appended {
                    seq: tx.last_insert_rowid(),
                    ts,
                    kind,
                    payload: text.to_string(),
                    hash: hash.clone(),
                });
                prev_hash = hash;
            }
        }
        tx.commit()?;
        Ok(appended)
    }

    /// Whether any event names this experiment.
    pub fn exists(&self, experiment: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM events WHERE experiment = ?1 LIMIT 1",
                params![experiment],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Whether `name` is a sweep's stream (`exp sweep`), not an experiment.
    pub fn is_sweep(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM events WHERE experiment = ?1 AND kind = 'SweepDefined' LIMIT 1",
                params![name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Experiment names in order of creation (a sweep's stream is not one).
    pub fn experiments(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT experiment FROM events GROUP BY experiment
             HAVING max(kind = 'SweepDefined') = 0 ORDER BY min(seq)",
        )?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// The experiments whose `v_experiments` row meets `condition` (an SQL expression over its
    /// columns, from the user: the connection of `exp ls` is read-only).
    pub fn experiments_where(&self, condition: &str) -> Result<Vec<String>, StoreError> {
        let sql =
            format!("SELECT experiment FROM v_experiments WHERE ({condition}) ORDER BY experiment");
        let mut stmt = self.conn.prepare(&sql)?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// An experiment's events in order, optionally of one kind.
    pub fn events(
        &self,
        experiment: &str,
        kind: Option<&str>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_after(experiment, kind, 0, usize::MAX)
    }

    /// At most `limit` of the experiment's events after seq `after`, in order, optionally of one
    /// kind: a page of the log, or what a live view has not seen yet.
    pub fn events_after(
        &self,
        experiment: &str,
        kind: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, experiment, run, ts, kind, payload, prev_hash, hash FROM events
             WHERE experiment = ?1 AND (?2 IS NULL OR kind = ?2) AND seq > ?3
             ORDER BY seq LIMIT ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![experiment, kind, after, limit], stored_event)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many events of each kind the experiment has, by kind.
    pub fn kind_counts(&self, experiment: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, count(*) FROM events WHERE experiment = ?1 GROUP BY kind ORDER BY kind",
        )?;
        let rows = stmt.query_map(params![experiment], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Calls `f` with the seq, timestamp and decoded event of each of the experiment's events,
    /// in seq order, leaving out those of kind `skip`. `slot` says what an event writes in the
    /// caller's fold (see [`SlotOf`]): an event a later one overwrites is not decoded (`f` gets
    /// `None` for it). Rows are read a chunk at a time and decoded straight from their text, in
    /// parallel and while the next chunk is read (`events` would hold the whole log, every
    /// payload as a `serde_json::Value`).
    pub fn for_each_event<S, L, F>(
        &self,
        experiment: &str,
        skip: Option<&str>,
        slot: L,
        f: F,
    ) -> Result<(), StoreError>
    where
        S: Eq + std::hash::Hash + Send,
        L: Fn(&str, &str) -> SlotOf<S> + Sync + Send,
        F: FnMut(i64, &str, Option<Event>) -> Result<(), StoreError> + Send,
    {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, ts, kind, payload FROM events
             WHERE experiment = ?1 AND (?2 IS NULL OR kind <> ?2) ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![experiment, skip])?;
        stream::decode_while_reading(slot, f, |sink| {
            while let Some(row) = rows.next()? {
                if !sink.push(row.get(0)?, text(row, 1)?, text(row, 2)?, text(row, 3)?) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// The seq of the experiment's latest event of `kind`, if any.
    pub fn last_seq(&self, experiment: &str, kind: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT max(seq) FROM events WHERE experiment = ?1 AND kind = ?2",
            params![experiment, kind],
            |r| r.get(0),
        )?)
    }

    /// Recomputes the hash chain of one experiment, or of all.
    pub fn verify(&self, experiment: Option<&str>) -> Result<Vec<ChainReport>, StoreError> {
        verify::verify(&self.conn, experiment)
    }
}

/// A row of `SELECT seq, experiment, run, ts, kind, payload, prev_hash, hash FROM events`.
fn stored_event(r: &rusqlite::Row<'_>) -> Result<StoredEvent, rusqlite::Error> {
    let payload: String = r.get(5)?;
    Ok(StoredEvent {
        seq: r.get(0)?,
        experiment: r.get(1)?,
        run: r.get(2)?,
        ts: r.get(3)?,
        kind: r.get(4)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

/// A text column borrowed from the row (no copy).
fn text<'a>(row: &'a rusqlite::Row<'_>, index: usize) -> Result<&'a str, rusqlite::Error> {
    row.get_ref(index)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}
