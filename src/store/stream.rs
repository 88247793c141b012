//! Reading a long log into a fold: rows are read a chunk at a time while the previous chunk is
//! decoded (in parallel) and folded, and an event that a later one in its chunk overwrites in the
//! fold is not decoded at all.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::mpsc;

use rayon::prelude::*;

use crate::events::Event;

use super::StoreError;

/// Rows decoded together: parsing the payloads is most of the cost of folding a long log, and
/// rows do not depend on each other until the fold.
pub(super) const DECODE_CHUNK: usize = 1024;

/// What an event writes in a fold, as [`super::Store::for_each_event`]'s `slot` reports it: the
/// slot, and whether writing it is all the event does. Such an event is not decoded when a later
/// event of its chunk writes the same slot, since the fold would overwrite it anyway.
pub type SlotOf<S> = Result<Option<(S, bool)>, serde_json::Error>;

/// One row, the payload still text.
#[derive(Clone, Copy, Debug)]
struct EventRow<'a> {
    seq: i64,
    ts: &'a str,
    kind: &'a str,
    payload: &'a str,
}

impl EventRow<'_> {
    fn bad(&self, source: serde_json::Error) -> StoreError {
        StoreError::bad_payload(self.seq, self.kind, source)
    }
}

/// A chunk of rows with their text in one buffer (no allocation per row).
#[derive(Default)]
pub(super) struct RowChunk {
    text: String,
    /// seq and the ends of ts, kind and payload in `text` (each starts where the previous ends).
    rows: Vec<(i64, [usize; 4])>,
}

impl RowChunk {
    pub(super) fn push(&mut self, seq: i64, ts: &str, kind: &str, payload: &str) {
        let start = self.text.len();
        self.text.push_str(ts);
        let ts_end = self.text.len();
        self.text.push_str(kind);
        let kind_end = self.text.len();
        self.text.push_str(payload);
        self.rows
            .push((seq, [start, ts_end, kind_end, self.text.len()]));
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    fn row(&self, i: usize) -> EventRow<'_> {
        let (seq, [start, ts_end, kind_end, end]) = self.rows[i];
        EventRow {
            seq,
            ts: &self.text[start..ts_end],
            kind: &self.text[ts_end..kind_end],
            payload: &self.text[kind_end..end],
        }
    }

    /// Which rows need decoding: all but those whose slot a later row of the chunk writes again.
    /// Also the first row (in seq order) whose slot could not be read, with its error.
    fn needed<S, L>(&self, slot: &L) -> (Vec<bool>, Option<(usize, StoreError)>)
    where
        S: Eq + Hash + Send,
        L: Fn(&str, &str) -> SlotOf<S> + Sync,
    {
        let slots: Vec<SlotOf<S>> = (0..self.len())
            .into_par_iter()
            .map(|i| {
                let row = self.row(i);
                slot(row.kind, row.payload)
            })
            .collect();
        let mut needed = vec![true; slots.len()];
        let mut first_error = None;
        let mut written_later: HashSet<S> = HashSet::new();
        for (i, found) in slots.into_iter().enumerate().rev() {
            match found {
                Err(e) => first_error = Some((i, self.row(i).bad(e))),
                Ok(Some((slot, only_writes_slot))) => {
                    if only_writes_slot && written_later.contains(&slot) {
                        needed[i] = false;
                    } else {
                        written_later.insert(slot);
                    }
                }
                Ok(None) => {}
            }
        }
        (needed, first_error)
    }

    /// Decodes the rows that need it (in parallel), hands every row to `f` in seq order (`None`
    /// for one not decoded) and empties the chunk. The first row that does not decode, in seq
    /// order, is the error.
    fn drain<S, L, F>(&mut self, slot: &L, f: &mut F) -> Result<(), StoreError>
    where
        S: Eq + Hash + Send,
        L: Fn(&str, &str) -> SlotOf<S> + Sync,
        F: FnMut(i64, &str, Option<Event>) -> Result<(), StoreError>,
    {
        let (needed, slot_error) = self.needed(slot);
        let end = slot_error.as_ref().map_or(self.len(), |(i, _)| *i);
        let events: Vec<Option<Result<Event, StoreError>>> = (0..end)
            .into_par_iter()
            .map(|i| {
                let row = self.row(i);
                needed[i].then(|| super::decode(row.seq, row.kind, row.payload))
            })
            .collect();
        for (i, event) in events.into_iter().enumerate() {
            let row = self.row(i);
            f(row.seq, row.ts, event.transpose()?)?;
        }
        if let Some((_, error)) = slot_error {
            return Err(error);
        }
        self.text.clear();
        self.rows.clear();
        Ok(())
    }
}

/// Feeds the chunks `read` fills to a decoding thread, so that reading the next chunk overlaps
/// decoding and folding this one. `read` gets a sink to push rows into; errors come back in seq
/// order (a decoding error before a read error that follows it).
pub(super) fn decode_while_reading<S, L, F>(
    slot: L,
    mut f: F,
    read: impl FnOnce(&mut ChunkSink) -> Result<(), StoreError>,
) -> Result<(), StoreError>
where
    S: Eq + Hash + Send,
    L: Fn(&str, &str) -> SlotOf<S> + Sync + Send,
    F: FnMut(i64, &str, Option<Event>) -> Result<(), StoreError> + Send,
{
    // Two chunks in flight at most: one decoding, one filled and waiting.
    let (full, to_decode) = mpsc::sync_channel::<RowChunk>(1);
    let (recycle, emptied) = mpsc::channel::<RowChunk>();
    std::thread::scope(|scope| {
        let decoder = scope.spawn(move || -> Result<(), StoreError> {
            for mut chunk in to_decode {
                chunk.drain(&slot, &mut f)?;
                // The reader may have finished: a chunk nobody reuses is just dropped.
                let _ = recycle.send(chunk);
            }
            Ok(())
        });
        let mut sink = ChunkSink {
            chunk: RowChunk::default(),
            full: Some(full),
            emptied,
        };
        let read_result = read(&mut sink).map(|()| {
            sink.flush();
        });
        // Closing the channel ends the decoder's loop.
        sink.full = None;
        let decoded = match decoder.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        decoded.and(read_result)
    })
}

/// Where `read` pushes rows; full chunks go to the decoding thread.
pub(super) struct ChunkSink {
    chunk: RowChunk,
    full: Option<mpsc::SyncSender<RowChunk>>,
    emptied: mpsc::Receiver<RowChunk>,
}

impl ChunkSink {
    /// Adds a row; false when the decoder has stopped (on an error it will report), so reading
    /// can stop too.
    pub(super) fn push(&mut self, seq: i64, ts: &str, kind: &str, payload: &str) -> bool {
        self.chunk.push(seq, ts, kind, payload);
        if self.chunk.len() < DECODE_CHUNK {
            return true;
        }
        self.flush()
    }

    fn flush(&mut self) -> bool {
        let next = self.emptied.try_recv().unwrap_or_default();
        let chunk = std::mem::replace(&mut self.chunk, next);
        match &self.full {
            Some(full) => full.send(chunk).is_ok(),
            None => false,
        }
    }
}
