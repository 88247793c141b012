//! Tests on the real FinancialPhraseBank files. The expected numbers were checked independently
//! with a short Python script (latin-1 decode, split on CR/LF/CRLF, `' '.join(text.split())`,
//! sha256[:16], Python's `csv` module for all-data.csv); the seed-42 split digest was reproduced by
//! a Python re-implementation of SplitMix64, the shuffle and the digest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

/// `$EXP_FPB_DIR`, else `shared/data/FinancialPhraseBank` next to or inside the repository.
fn fpb_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("EXP_FPB_DIR").map(PathBuf::from),
        Some(manifest.join("../shared/data/FinancialPhraseBank")),
        Some(manifest.join("shared/data/FinancialPhraseBank")),
        Some(PathBuf::from("/work/shared/data/FinancialPhraseBank")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("Sentences_50Agree.txt").is_file())
        .expect("FinancialPhraseBank not found: set EXP_FPB_DIR to the directory holding Sentences_50Agree.txt")
}

fn load_real(name: &str) -> Dataset {
    let path = fpb_dir().join(name);
    load(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn counts(ds: &Dataset) -> Vec<usize> {
    ds.label_counts.values().copied().collect()
}

struct Expected {
    file: &'static str,
    rows_read: usize,
    samples: usize,
    duplicates: usize,
    conflicts: usize,
    /// negative, neutral, positive
    per_label: [usize; 3],
}

const fn expected(
    file: &'static str,
    rows_read: usize,
    samples: usize,
    duplicates: usize,
    conflicts: usize,
    per_label: [usize; 3],
) -> Expected {
    Expected {
        file,
        rows_read,
        samples,
        duplicates,
        conflicts,
        per_label,
    }
}

const EXPECTED: [Expected; 5] = [
    expected("Sentences_50Agree.txt", 4846, 4836, 6, 2, [604, 2871, 1361]),
    expected("Sentences_66Agree.txt", 4217, 4211, 6, 0, [514, 2529, 1168]),
    expected("Sentences_75Agree.txt", 3453, 3448, 5, 0, [420, 2141, 887]),
    expected("Sentences_AllAgree.txt", 2264, 2259, 5, 0, [303, 1386, 570]),
    expected("all-data.csv", 4846, 4836, 6, 2, [604, 2871, 1361]),
];

#[test]
fn all_five_files_load_with_the_observed_numbers() {
    for e in EXPECTED {
        let name = e.file;
        let ds = load_real(name);
        assert_eq!(ds.encoding, Encoding::Latin1, "{name}");
        assert_eq!(ds.rows_read, e.rows_read, "{name}");
        assert_eq!(ds.samples.len(), e.samples, "{name}");
        assert_eq!(ds.duplicates, e.duplicates, "{name}");
        assert_eq!(ds.conflicts.len(), e.conflicts, "{name}");
        assert_eq!(counts(&ds), e.per_label.to_vec(), "{name}");
        let conflict_rows: usize = ds.conflicts.iter().map(|c| c.rows.len()).sum();
        assert_eq!(
            e.rows_read,
            e.samples + e.duplicates + conflict_rows,
            "{name}"
        );
    }
}

#[test]
fn fifty_agree_details() {
    let ds = load_real("Sentences_50Agree.txt");
    assert_eq!(ds.format, DataFormat::Fpb);
    assert_eq!(
        ds.sha256,
        "bb1b4df6de05d50b146f87a9d4d024b69f947066445f2384f014c3564c1612c8"
    );
    let conflicts: Vec<(&str, Vec<(usize, &str)>)> = ds
        .conflicts
        .iter()
        .map(|c| {
            let rows = c.rows.iter().map(|r| (r.line, r.label.as_str())).collect();
            (c.id.as_str(), rows)
        })
        .collect();
    assert_eq!(
        conflicts,
        vec![
            ("bf90e8a48be1f1bd", vec![(79, "neutral"), (80, "positive")]),
            (
                "c78d5e75a0024896",
                vec![(789, "positive"), (790, "neutral")]
            ),
        ]
    );
    assert!(ds.conflicts[0]
        .text
        .starts_with("TELECOMWORLDWIRE-7 April 2006-TJ Group Plc sells stake"));
    // First line, and a Latin-1 line: 0xe9 is 'é' (the file's mangled euro sign).
    assert_eq!(ds.samples[0].line, 1);
    assert!(ds.samples[0]
        .text
        .starts_with("According to Gran , the company has no plans"));
    let euro = ds
        .samples
        .iter()
        .find(|s| s.line == 4692)
        .expect("line 4692");
    assert_eq!(
        euro.text,
        "Net profit fell by almost half to +é 5.5 million from +é 9.4 million at the end of 2007 ."
    );
    assert_eq!(euro.label, "negative");
    assert_eq!(euro.id, "b6c8d9c75f384f77");
    let finnish = ds
        .samples
        .iter()
        .find(|s| s.line == 1393)
        .expect("line 1393");
    assert!(finnish.text.contains("+ä+ñnekoski"), "{}", finnish.text);
    assert_eq!(finnish.id, "618b81106ff39492");
}

#[test]
fn all_data_csv_is_headerless_label_first_with_cr_endings() {
    let ds = load_real("all-data.csv");
    assert_eq!(ds.format, DataFormat::Csv);
    assert_eq!(
        ds.csv,
        Some(CsvLayout {
            header: false,
            text_column: 1,
            label_column: 0
        })
    );
    assert_eq!(
        ds.sha256,
        "cadf7575d2cee573f77d7293337d0bc989c67ab976753f70322d0fae5e8b507d"
    );
    let lines: Vec<Vec<usize>> = ds
        .conflicts
        .iter()
        .map(|c| c.rows.iter().map(|r| r.line).collect())
        .collect();
    assert_eq!(lines, vec![vec![79, 80], vec![789, 790]]);
    // The CSV mangles non-ASCII text differently from the .txt files (0xc6 where they have 0xf1),
    // so only the pure-ASCII sentences share ids: 4727 of 4838 distinct texts.
    let fpb = load_real("Sentences_50Agree.txt");
    let in_fpb: BTreeMap<&str, &str> = fpb
        .samples
        .iter()
        .map(|s| (s.id.as_str(), s.label.as_str()))
        .collect();
    let shared: Vec<&Sample> = ds
        .samples
        .iter()
        .filter(|s| in_fpb.contains_key(s.id.as_str()))
        .collect();
    assert_eq!(shared.len(), 4727 - 2);
    assert!(shared.iter().all(|s| in_fpb[s.id.as_str()] == s.label));
}

#[test]
fn fifty_agree_split_seed_42() {
    let ds = load_real("Sentences_50Agree.txt");
    let spec = SplitSpec::default();
    let split = stratified_split(&ds.samples, &spec, DEFAULT_SPLIT_SEED).unwrap();
    assert_eq!(
        split.counts(),
        SplitCounts {
            train: 3386,
            validation: 726,
            test: 724
        }
    );
    let by_label = split.counts_by_label(&ds.samples);
    assert_eq!(
        by_label["negative"],
        SplitCounts {
            train: 423,
            validation: 91,
            test: 90
        }
    );
    assert_eq!(
        by_label["neutral"],
        SplitCounts {
            train: 2010,
            validation: 431,
            test: 430
        }
    );
    assert_eq!(
        by_label["positive"],
        SplitCounts {
            train: 953,
            validation: 204,
            test: 204
        }
    );
    // Pinned: the split of a given file and seed must never change across versions.
    assert_eq!(
        split.digest(),
        "a489cb1ff7fa01204b3bc023395faca4bbc04fc7ca278663b2aa4b459c1e84dd"
    );
    let again = stratified_split(&ds.samples, &spec, DEFAULT_SPLIT_SEED).unwrap();
    assert_eq!(split.digest(), again.digest());
    let other = stratified_split(&ds.samples, &spec, 7).unwrap();
    assert_ne!(split.digest(), other.digest());
}

#[test]
fn fifty_agree_sentences_the_annotators_split_on() {
    let fifty = load_real("Sentences_50Agree.txt");
    let low = low_agreement(&fifty, &ReadOptions::default())
        .unwrap()
        .expect("Sentences_66Agree.txt lies beside Sentences_50Agree.txt");
    assert_eq!(low.file, fpb_dir().join("Sentences_66Agree.txt"));
    // 4,209 of the 66% file's 4,211 samples are samples of the 50% file with the same label (the
    // other two are among the 50% file's conflicts, which it excludes): 4,836 - 4,209 are not.
    assert_eq!(low.ids.len(), 627);
    assert_eq!(
        low_agreement(&load_real("Sentences_66Agree.txt"), &ReadOptions::default()).unwrap(),
        None
    );
}
