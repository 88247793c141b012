//! `exp tag` and `exp note`: events that describe an experiment rather than train it. They take
//! the experiment's writer lock like any command that records, and read nothing else.

use std::path::Path;

use crate::events::{Event, NoteAdded, TagSet};
use crate::recorder::{LastSeq, Recorder};

use super::PipelineError;

/// A tag key: letters, digits, `_`, `-`, `.` and `:`, at most 64 of them.
pub fn check_tag_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag key '{key}': use 1 to 64 letters, digits, '_', '-', '.' or ':'"
        ))
    }
}

/// `key=value` as `exp tag` takes it.
pub fn parse_tag(text: &str) -> Result<TagSet, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not KEY=VALUE"))?;
    let key = key.trim();
    check_tag_key(key)?;
    if value.trim().is_empty() {
        return Err(format!(
            "tag '{key}' has an empty value (remove a tag with --remove {key})"
        ));
    }
    Ok(TagSet {
        key: key.to_string(),
        value: Some(value.trim().to_string()),
    })
}

/// Appends the events to experiment `name`'s log; returns the seq of the last one.
fn record(db: &Path, name: &str, command: &str, events: Vec<Event>) -> Result<i64, PipelineError> {
    let (store, lock) = super::lock_experiment(db, name, command)?;
    let mut log = Recorder::with_lock(store, lock, LastSeq::default());
    log.record_all(events)?;
    Ok(log.state().0.unwrap_or(0))
}

/// Sets `tags` and removes `removed` on experiment `name`.
pub fn tag(
    db: &Path,
    name: &str,
    tags: Vec<TagSet>,
    removed: &[String],
) -> Result<i64, PipelineError> {
    let mut events: Vec<Event> = tags.into_iter().map(Event::TagSet).collect();
    events.extend(removed.iter().map(|key| {
        Event::TagSet(TagSet {
            key: key.clone(),
            value: None,
        })
    }));
    record(db, name, "exp tag", events)
}

/// Adds a note to experiment `name`.
pub fn note(db: &Path, name: &str, text: &str) -> Result<i64, PipelineError> {
    record(
        db,
        name,
        "exp note",
        vec![Event::NoteAdded(NoteAdded {
            text: text.to_string(),
        })],
    )
}
