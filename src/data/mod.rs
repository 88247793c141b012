//! Datasets: readers for FinancialPhraseBank `sentence@label` files and CSV, stable sample ids,
//! dedupe with conflict reporting, and the seeded stratified train / validation / test split.
//!
//! The flow is `load` (bytes -> text -> rows -> labelled samples) then `stratified_split` (samples -> ids
//! per split). Nothing here knows about models; samples are identified by their stable id everywhere.

mod agreement;
mod columns;
mod csv;
mod dataset;
mod decode;
mod error;
mod fpb;
mod ids;
mod jsonl;
mod label_map;
mod options;
mod parquet;
mod rng;
pub(crate) use rng::SplitMix64;
mod split;

#[cfg(test)]
mod tests;

pub use agreement::{low_agreement, LowAgreement};
pub use columns::CsvLayout;
pub use dataset::{load, Conflict, ConflictRow, Dataset, Sample};
pub use decode::{decode, split_lines, DecodeError, Decoded, Encoding};
pub use error::DataError;
pub use ids::{normalize_text, sample_id};
pub use jsonl::NamedColumns;
pub use label_map::LabelMap;
pub use options::{ColumnRef, DataFormat, ReadOptions, DEFAULT_LABELS};
pub use split::{stratified_split, Split, SplitCounts, SplitSpec, DEFAULT_SPLIT_SEED};
