//! The dataset readers (FinancialPhraseBank, CSV, TSV, JSON Lines and Parquet, with decoding,
//! label matching, integer labels, dedupe) and the stratified split, on arbitrary file contents.
//! Any input must give a dataset or an error, never a panic. The first byte picks the format and
//! the options: bits 6 and 7 both set is JSON Lines, bit 7 alone Parquet, else bit 0 (even:
//! FinancialPhraseBank, odd: CSV, or TSV where bit 6 is set).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use exp::data::{self, ColumnRef, DataFormat, ReadOptions, SplitSpec};
use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process (the readers take a path). Removed after each input:
/// libFuzzer ends with `exit`, which runs no destructor, and CI replays the corpus on every run.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("exp-fuzz-dataset-{}.txt", std::process::id()))
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, bytes)) = input.split_first() else {
        return;
    };
    let path = scratch();
    std::fs::write(path, bytes).unwrap();
    let mut options = ReadOptions {
        format: if mode & 0xC0 == 0xC0 {
            DataFormat::Jsonl
        } else if mode & 0xC0 == 0x80 {
            DataFormat::Parquet
        } else if mode & 1 == 0 {
            DataFormat::Fpb
        } else if mode & 0x40 != 0 {
            DataFormat::Tsv
        } else {
            DataFormat::Csv
        },
        ..ReadOptions::default()
    };
    if matches!(options.format, DataFormat::Csv | DataFormat::Tsv) {
        options.header = match (mode >> 1) & 3 {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        };
        if mode & 8 != 0 {
            options.text_column = Some(ColumnRef::Index(((mode >> 4) & 3) as usize));
            options.label_column = Some(ColumnRef::Name("label".to_string()));
        }
    }
    let loaded = data::load(path, &options);
    std::fs::remove_file(path).unwrap();
    if let Ok(dataset) = loaded {
        let _ = data::stratified_split(&dataset.samples, &SplitSpec::default(), 42);
    }
});
