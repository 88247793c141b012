//! The notebook's recommendation rules and their exact strings, plus parsers that turn the
//! strings of an imported analysis back into typed values.
//!
//! Only "5e-5 to 1e-4 (moderate fine-tuning)" and "Conservative pruning (10-20%) - low
//! confidence samples" are attested by the fixture; the other strings follow the same pattern.

use serde::{Deserialize, Serialize};

/// Learning-rate band chosen from accuracy: > 0.8 conservative, > 0.7 moderate, else aggressive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrBandKind {
    Conservative,
    Moderate,
    Aggressive,
}

impl LrBandKind {
    pub fn from_accuracy(accuracy: f64) -> Self {
        if accuracy > 0.8 {
            LrBandKind::Conservative
        } else if accuracy > 0.7 {
            LrBandKind::Moderate
        } else {
            LrBandKind::Aggressive
        }
    }

    /// (low, high) learning rate.
    pub fn range(self) -> (f64, f64) {
        match self {
            LrBandKind::Conservative => (1e-5, 5e-5),
            LrBandKind::Moderate => (5e-5, 1e-4),
            LrBandKind::Aggressive => (1e-4, 5e-4),
        }
    }

    /// The notebook's `recommendations.fine_tuning.learning_rate` string.
    pub fn recommendation(self) -> &'static str {
        match self {
            LrBandKind::Conservative => "1e-5 to 5e-5 (conservative fine-tuning)",
            LrBandKind::Moderate => "5e-5 to 1e-4 (moderate fine-tuning)",
            LrBandKind::Aggressive => "1e-4 to 5e-4 (aggressive fine-tuning)",
        }
    }
}

/// Reads "LOW to HIGH ..." (numbers in any float syntax) into (low, high); `None` unless both
/// parse, are positive and low <= high.
pub fn parse_learning_rate(text: &str) -> Option<(f64, f64)> {
    let mut words = text.split_whitespace();
    let low: f64 = words.next()?.parse().ok()?;
    if !words.next()?.eq_ignore_ascii_case("to") {
        return None;
    }
    let high: f64 = words.next()?.parse().ok()?;
    (low > 0.0 && high.is_finite() && low <= high).then_some((low, high))
}

/// Pruning level from coverage and accuracy at the 0.9 confidence threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruningLevel {
    Conservative,
    Moderate,
    Aggressive,
}

/// The confidence threshold the pruning rule looks at.
pub const PRUNING_CONFIDENCE_THRESHOLD: f64 = 0.9;

impl PruningLevel {
    /// coverage > 0.7 and accuracy > 0.95: aggressive; coverage > 0.5: moderate; else conservative.
    pub fn from_confidence(coverage: f64, accuracy: f64) -> Self {
        if coverage > 0.7 && accuracy > 0.95 {
            PruningLevel::Aggressive
        } else if coverage > 0.5 {
            PruningLevel::Moderate
        } else {
            PruningLevel::Conservative
        }
    }

    /// (min, max) percentage of structure to remove.
    pub fn percent_range(self) -> (u32, u32) {
        match self {
            PruningLevel::Conservative => (10, 20),
            PruningLevel::Moderate => (20, 30),
            PruningLevel::Aggressive => (30, 50),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PruningLevel::Conservative => "conservative",
            PruningLevel::Moderate => "moderate",
            PruningLevel::Aggressive => "aggressive",
        }
    }

    /// The notebook's `recommendations.pruning.strategy` string.
    pub fn strategy(self) -> &'static str {
        match self {
            PruningLevel::Conservative => "Conservative pruning (10-20%) - low confidence samples",
            PruningLevel::Moderate => "Moderate pruning (20-30%) - medium confidence samples",
            PruningLevel::Aggressive => "Aggressive pruning (30-50%) - high confidence samples",
        }
    }

    /// Reads the level from a strategy string by its leading word.
    pub fn parse_strategy(text: &str) -> Option<Self> {
        let first = text.split_whitespace().next()?.to_ascii_lowercase();
        match first.as_str() {
            "conservative" => Some(PruningLevel::Conservative),
            "moderate" => Some(PruningLevel::Moderate),
            "aggressive" => Some(PruningLevel::Aggressive),
            _ => None,
        }
    }
}

/// `recommendations.fine_tuning.focus_samples.strategy`.
pub const FOCUS_STRATEGY: &str = "Hard negative mining + low confidence samples";
/// `recommendations.data_augmentation.methods`.
pub const AUGMENTATION_METHODS: [&str; 3] = [
    "Synonym replacement for problematic terms",
    "Back-translation for class balance",
    "Paraphrasing for robustness",
];
/// `recommendations.data_augmentation.target_keywords` takes this many problematic keywords.
pub const TARGET_KEYWORDS: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_rules_and_parsing() {
        assert_eq!(
            LrBandKind::from_accuracy(0.7912541254125413),
            LrBandKind::Moderate
        );
        assert_eq!(LrBandKind::from_accuracy(0.8), LrBandKind::Moderate);
        assert_eq!(LrBandKind::from_accuracy(0.81), LrBandKind::Conservative);
        assert_eq!(LrBandKind::from_accuracy(0.7), LrBandKind::Aggressive);
        for kind in [
            LrBandKind::Conservative,
            LrBandKind::Moderate,
            LrBandKind::Aggressive,
        ] {
            assert_eq!(
                parse_learning_rate(kind.recommendation()),
                Some(kind.range())
            );
        }
        assert_eq!(
            parse_learning_rate("5e-5 to 1e-4 (moderate fine-tuning)"),
            Some((5e-5, 1e-4))
        );
        assert_eq!(parse_learning_rate("0.0001 TO 0.0002"), Some((1e-4, 2e-4)));
        assert_eq!(parse_learning_rate("fast"), None);
        assert_eq!(parse_learning_rate("1e-4 to 1e-5"), None);
    }

    #[test]
    fn pruning_rules_and_parsing() {
        assert_eq!(
            PruningLevel::from_confidence(0.0, 0.0),
            PruningLevel::Conservative
        );
        assert_eq!(
            PruningLevel::from_confidence(0.75, 0.96),
            PruningLevel::Aggressive
        );
        assert_eq!(
            PruningLevel::from_confidence(0.75, 0.95),
            PruningLevel::Moderate
        );
        assert_eq!(
            PruningLevel::from_confidence(0.5, 0.99),
            PruningLevel::Conservative
        );
        for level in [
            PruningLevel::Conservative,
            PruningLevel::Moderate,
            PruningLevel::Aggressive,
        ] {
            assert_eq!(PruningLevel::parse_strategy(level.strategy()), Some(level));
        }
        assert_eq!(PruningLevel::parse_strategy("none"), None);
    }
}
