//! Whose database a file is: exp's (by its `application_id`, or by the schema of a database an
//! earlier exp made before it set one), an empty one, or another program's, which exp refuses
//! before it writes anything to it.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// exp's SQLite `application_id` ("EXP1"), set when exp creates a database and checked on
/// every open (`sqlite3 exp.db "pragma application_id"` prints 1163415601).
pub const APPLICATION_ID: i32 = 0x4558_5031;

/// What exp found in a database file it was asked to open.
#[derive(Debug, PartialEq, Eq)]
pub enum Owner {
    /// Marked as exp's.
    Exp,
    /// Not marked, but with exp's schema: made by an exp from before the mark.
    LegacyExp,
    /// No tables yet (a new or empty file).
    Empty,
}

/// The objects an exp database has always had, by type and name.
const SIGNATURE: [(&str, &str); 4] = [
    ("table", "events"),
    ("table", "writer_locks"),
    ("trigger", "events_reject_update"),
    ("trigger", "events_reject_delete"),
];

/// Reads the header and the schema (no writes) and says whose database this is; another
/// program's database, or a file that is not SQLite, is an error naming the file.
pub fn check(conn: &Connection, path: &Path) -> Result<Owner, StoreError> {
    let not_exp = |reason: String| StoreError::NotExp {
        path: path.to_path_buf(),
        reason,
    };
    let application_id: i32 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            return Err(not_exp("it is not an SQLite database".to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    if application_id == APPLICATION_ID {
        return Ok(Owner::Exp);
    }
    let objects: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT type, name FROM sqlite_master
             WHERE type IN ('table', 'trigger', 'view') AND name NOT LIKE 'sqlite_%'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if application_id != 0 {
        return Err(not_exp(format!(
            "its application_id is {application_id:#010x}, exp's is {APPLICATION_ID:#010x}"
        )));
    }
    if objects.is_empty() {
        return Ok(Owner::Empty);
    }
    let has = |kind: &str, name: &str| objects.iter().any(|(t, n)| t == kind && n == name);
    let missing: Vec<&str> = SIGNATURE
        .iter()
        .filter(|(kind, name)| !has(kind, name))
        .map(|(_, name)| *name)
        .collect();
    if missing.is_empty() {
        return Ok(Owner::LegacyExp);
    }
    let mut tables: Vec<&str> = objects
        .iter()
        .filter(|(t, _)| t == "table")
        .map(|(_, n)| n.as_str())
        .collect();
    let more = tables.len().saturating_sub(5);
    tables.truncate(5);
    Err(not_exp(format!(
        "it has tables {}{} but not exp's {}",
        tables.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        missing.join(", ")
    )))
}
