//! The closed sets of names that payloads store as strings: a value outside the set is a
//! payload this version cannot read, not a string a report has to guess about.

use serde::{Deserialize, Serialize};

/// An enum stored as one of a fixed set of strings, with `as_str` and `Display` giving that
/// string.
macro_rules! closed_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            /// The stored string back; anything else is an error listing the set.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("'{text}' is not one of {}", known.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set! {
    /// How an experiment trains (`exp new --recipe`).
    #[derive(Default)]
    Recipe {
        /// The plan's rules applied to the baseline's analysis.
        #[default]
        Analysis = "analysis",
        /// The control arm: one plain fine-tune.
        Plain = "plain",
    }
}

impl Recipe {
    /// Analysis is what every log before recipes means, so it is not written.
    pub fn is_analysis(&self) -> bool {
        *self == Recipe::Analysis
    }
}

closed_set! {
    /// How the experiment's model is stored.
    ModelFormat {
        /// A directory with config.json and model.safetensors.
        HfDir = "hf-dir",
        Onnx = "onnx",
    }
}

closed_set! {
    /// How the dataset file was read.
    DataFormat {
        /// FinancialPhraseBank: one `sentence@label` per line.
        Fpb = "fpb",
        Csv = "csv",
        /// CSV with tabs for commas.
        Tsv = "tsv",
        /// JSON Lines.
        Jsonl = "jsonl",
        Parquet = "parquet",
    }
}

closed_set! {
    /// Where the baseline came from.
    BaselineOrigin {
        /// The experiment's model is already a classifier.
        Model = "model",
        /// A plain fine-tune of an encoder.
        Fitted = "fitted",
    }
}

closed_set! {
    /// Where the analysis came from.
    AnalysisSource {
        /// From the baseline on the validation split.
        Computed = "computed",
        /// A notebook's file.
        Imported = "imported",
    }
}

closed_set! {
    /// How pruning ranked heads and neurons.
    Importance {
        Gradient = "gradient",
        Magnitude = "magnitude",
    }
}

closed_set! {
    /// How the model was pruned.
    PruningMethod {
        /// Heads and FFN neurons removed (a smaller dense model).
        Structured = "structured",
        /// Weights set to zero (same shape).
        Magnitude = "magnitude",
    }
}

closed_set! {
    /// The model an export directory holds.
    ExportedModel {
        Pruned = "pruned",
        FineTuned = "fine-tuned",
    }
}

closed_set! {
    /// The format of an exported file.
    ExportFormat {
        Safetensors = "safetensors",
        Onnx = "onnx",
        OnnxInt8 = "onnx-int8",
    }
}

closed_set! {
    /// The precision of a benchmarked ONNX file.
    ModelType {
        OnnxFp32 = "onnx-fp32",
        OnnxInt8 = "onnx-int8",
    }
}

closed_set! {
    /// The ONNX Runtime execution provider a benchmark ran on.
    Provider {
        Cpu = "CPUExecutionProvider",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_sets_store_their_strings_and_refuse_others() {
        assert_eq!(
            serde_json::to_string(&ExportedModel::FineTuned).unwrap(),
            "\"fine-tuned\""
        );
        assert_eq!(
            serde_json::from_str::<Provider>("\"CPUExecutionProvider\"").unwrap(),
            Provider::Cpu
        );
        assert!(serde_json::from_str::<ModelType>("\"onnx-fp16\"").is_err());
        for m in ModelFormat::ALL {
            let text = serde_json::to_string(m).unwrap();
            assert_eq!(text, format!("\"{}\"", m.as_str()));
        }
    }
}
