//! The FOCUS phase's training subset: every priority sample plus an equal-sized replay of the
//! others (all of them when there are fewer), drawn deterministically from the seed.

use std::collections::BTreeSet;

use super::batching::shuffle;
use crate::model::dropout::mix64;
use crate::model::init::SeededRng;

/// Indices (ascending) into a training set of `train_len` samples: the priority indices
/// (duplicates and out-of-range ones dropped) and `min(#priority, #others)` replayed others.
pub fn focus_indices(train_len: usize, priority: &[usize], seed: u64) -> Vec<usize> {
    let chosen: BTreeSet<usize> = priority
        .iter()
        .copied()
        .filter(|&i| i < train_len)
        .collect();
    let mut others: Vec<usize> = (0..train_len).filter(|i| !chosen.contains(i)).collect();
    let mut rng = SeededRng::new(mix64(seed ^ 0xF0C5_5EED));
    shuffle(&mut others, &mut rng);
    let replay = chosen.len().min(others.len());
    let mut out: Vec<usize> = chosen
        .into_iter()
        .chain(others.into_iter().take(replay))
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focus_takes_all_priority_and_as_many_others() {
        let f = focus_indices(100, &[5, 3, 3, 250, 7], 1);
        assert_eq!(f.len(), 6, "3 distinct valid priority samples + 3 replayed");
        assert!([3, 5, 7].iter().all(|i| f.contains(i)));
        assert!(f.windows(2).all(|w| w[0] < w[1]) && f.iter().all(|&i| i < 100));
        assert_eq!(f, focus_indices(100, &[7, 5, 3], 1), "deterministic");
        assert_ne!(f, focus_indices(100, &[7, 5, 3], 2), "seeded");
        // More priority samples than others: every sample.
        let all = focus_indices(4, &[0, 1, 2], 1);
        assert_eq!(all, [0, 1, 2, 3]);
    }
}
