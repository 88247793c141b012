//! FinancialPhraseBank's annotator agreement. Its files nest: `Sentences_50Agree.txt` holds the
//! sentences on which at least half of the annotators agreed, `Sentences_66Agree.txt` those on
//! which at least two thirds did, and so on. A sentence of the 50% file that the 66% file lacks (or
//! labels otherwise) is one the annotators split on: its label is the likeliest to be noise.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{load, DataError, DataFormat, Dataset, ReadOptions};

/// The file a sentence below two-thirds agreement is missing from, by the name of the file read.
const SPLIT_ON: (&str, &str) = ("Sentences_50Agree.txt", "Sentences_66Agree.txt");

/// Samples of a dataset that its stricter sibling file does not hold with the same label.
#[derive(Debug, Clone, PartialEq)]
pub struct LowAgreement {
    /// The stricter file, as read.
    pub file: PathBuf,
    pub sha256: String,
    /// What the stricter file stands for ("at least 66% of the annotators agreed").
    pub rule: String,
    /// Ids of the dataset's samples that the stricter file lacks or labels differently.
    pub ids: BTreeSet<String>,
}

/// The stricter sibling of a FinancialPhraseBank 50% file, when the dataset is one and the
/// sibling lies beside it; `None` for any other file.
fn stricter_sibling(dataset: &Dataset) -> Option<PathBuf> {
    let name = dataset.path.file_name()?.to_str()?;
    if dataset.format != DataFormat::Fpb || name != SPLIT_ON.0 {
        return None;
    }
    let sibling = dataset.path.with_file_name(SPLIT_ON.1);
    sibling.is_file().then_some(sibling)
}

/// Reads the stricter sibling (see [`stricter_sibling`]) with the dataset's own options and
/// lists the dataset's samples it does not confirm; `Ok(None)` when there is no sibling.
pub fn low_agreement(
    dataset: &Dataset,
    options: &ReadOptions,
) -> Result<Option<LowAgreement>, DataError> {
    let Some(file) = stricter_sibling(dataset) else {
        return Ok(None);
    };
    let stricter = load(&file, options)?;
    Ok(Some(LowAgreement {
        ids: unconfirmed(dataset, &stricter),
        sha256: stricter.sha256,
        file,
        rule: "at least 66% of the annotators agreed".to_string(),
    }))
}

/// Ids of `dataset`'s samples that `stricter` lacks or gives another label.
fn unconfirmed(dataset: &Dataset, stricter: &Dataset) -> BTreeSet<String> {
    let confirmed: BTreeSet<(&str, &str)> = stricter
        .samples
        .iter()
        .map(|s| (s.id.as_str(), s.label.as_str()))
        .collect();
    dataset
        .samples
        .iter()
        .filter(|s| !confirmed.contains(&(s.id.as_str(), s.label.as_str())))
        .map(|s| s.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(dir: &Path, name: &str, lines: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, lines).unwrap();
        path
    }

    #[test]
    fn flags_what_the_stricter_file_lacks_or_relabels() {
        let dir = tempfile::tempdir().unwrap();
        let fifty = write(
            dir.path(),
            SPLIT_ON.0,
            "Sales rose .@positive\nSales fell .@negative\nThe CEO spoke .@neutral\n",
        );
        write(
            dir.path(),
            SPLIT_ON.1,
            "Sales rose .@positive\nThe CEO spoke .@positive\n",
        );
        let options = ReadOptions::default();
        let dataset = load(&fifty, &options).unwrap();
        let low = low_agreement(&dataset, &options).unwrap().unwrap();
        let flagged: Vec<&str> = dataset
            .samples
            .iter()
            .filter(|s| low.ids.contains(&s.id))
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(flagged, ["Sales fell .", "The CEO spoke ."]);
        assert_eq!(low.file, dir.path().join(SPLIT_ON.1));
    }

    #[test]
    fn other_files_have_no_agreement_levels() {
        let dir = tempfile::tempdir().unwrap();
        let other = write(dir.path(), "phrases.txt", "Sales rose .@positive\n");
        write(dir.path(), SPLIT_ON.1, "Sales rose .@positive\n");
        let options = ReadOptions::default();
        let dataset = load(&other, &options).unwrap();
        assert_eq!(low_agreement(&dataset, &options).unwrap(), None);
        // The 50% file without its sibling: nothing to compare with.
        let alone = tempfile::tempdir().unwrap();
        let fifty = write(alone.path(), SPLIT_ON.0, "Sales rose .@positive\n");
        let dataset = load(&fifty, &options).unwrap();
        assert_eq!(low_agreement(&dataset, &options).unwrap(), None);
    }
}
