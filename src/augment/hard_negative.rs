//! Hard-negative mining: for each priority sample the model confused with another class, the
//! training sentences of that other class that lie nearest to it (cosine of sentence embeddings).
//! They keep their own, true label: they teach the border between the two classes.

use super::{AugmentError, Augmented, Method, TrainingSample};

/// A priority sample and the class the baseline confused it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    /// Id of the priority (training) sample.
    pub id: String,
    pub true_label: usize,
    pub confused_with: usize,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// For each confusion, the `k` training samples of class `confused_with` nearest to the priority
/// sample (excluding itself), best first; ties go to the smaller id. `embeddings[i]` belongs to
/// `train[i]`. Each result has method HardNegative, the mined sample's text, label and id, and
/// detail "nearest to <priority id> (similarity 0.87)".
pub fn mine_hard_negatives(
    train: &[TrainingSample],
    embeddings: &[Vec<f32>],
    confusions: &[Confusion],
    k: usize,
) -> Result<Vec<Augmented>, AugmentError> {
    if train.len() != embeddings.len() {
        return Err(AugmentError::EmbeddingCount {
            samples: train.len(),
            embeddings: embeddings.len(),
        });
    }
    if let Some(dim) = embeddings.first().map(Vec::len) {
        if let Some(bad) = embeddings.iter().position(|e| e.len() != dim) {
            return Err(AugmentError::EmbeddingDim {
                id: train[bad].id.clone(),
                expected: dim,
                actual: embeddings[bad].len(),
            });
        }
    }
    let mut out = Vec::new();
    for c in confusions {
        let p = train
            .iter()
            .position(|s| s.id == c.id)
            .ok_or_else(|| AugmentError::NotTraining { id: c.id.clone() })?;
        let mut scored: Vec<(f32, &TrainingSample)> = train
            .iter()
            .zip(embeddings)
            .filter(|(s, _)| s.label == c.confused_with && s.id != c.id)
            .map(|(s, e)| (cosine(&embeddings[p], e), s))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        for (sim, s) in scored.into_iter().take(k) {
            out.push(Augmented {
                text: s.text.clone(),
                label: s.label,
                source_id: s.id.clone(),
                method: Method::HardNegative,
                detail: format!("nearest to {} (similarity {sim:.2})", c.id),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, label: usize) -> TrainingSample {
        TrainingSample {
            id: id.into(),
            text: format!("text {id}"),
            label,
        }
    }

    #[test]
    fn picks_the_nearest_of_the_confused_class() {
        let train = vec![
            sample("p", 2), // priority: positive, confused with neutral (1)
            sample("a", 1), // neutral, far
            sample("b", 1), // neutral, nearest
            sample("c", 0), // negative, nearer still but the wrong class
            sample("d", 1), // neutral, tied with e
            sample("e", 1),
        ];
        let emb = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![0.9, 0.1],
            vec![1.0, 0.0],
            vec![0.5, 0.5],
            vec![2.0, 2.0], // same direction as d: same cosine
        ];
        let conf = [Confusion {
            id: "p".into(),
            true_label: 2,
            confused_with: 1,
        }];
        let got = mine_hard_negatives(&train, &emb, &conf, 3).unwrap();
        let ids: Vec<&str> = got.iter().map(|a| a.source_id.as_str()).collect();
        assert_eq!(ids, vec!["b", "d", "e"]);
        assert_eq!(got[0].label, 1);
        assert_eq!(got[0].text, "text b");
        assert_eq!(got[0].method, Method::HardNegative);
        assert_eq!(got[0].detail, "nearest to p (similarity 0.99)");
        assert_eq!(got[1].detail, "nearest to p (similarity 0.71)");
        let one = mine_hard_negatives(&train, &emb, &conf, 1).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].source_id, "b");
        // A priority id that is not a training sample is refused.
        let bad = [Confusion {
            id: "zzz".into(),
            true_label: 0,
            confused_with: 1,
        }];
        assert!(matches!(
            mine_hard_negatives(&train, &emb, &bad, 1),
            Err(AugmentError::NotTraining { .. })
        ));
        assert!(matches!(
            mine_hard_negatives(&train, &emb[..3], &conf, 1),
            Err(AugmentError::EmbeddingCount { .. })
        ));
    }
}
