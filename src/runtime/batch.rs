//! Checks and reshapes [`EncodedBatch`]es: an export with a fixed sequence axis (e.g. 128) must be
//! fed exactly that many positions, and benchmarks build batches of a chosen size from a pool of rows.

use crate::model::EncodedBatch;

use super::error::RuntimeError;

/// BERT's `[PAD]` id, used when a batch is padded further (`attention_mask` 0, `token_type_ids` 0).
pub const PAD_TOKEN_ID: i64 = 0;

/// Checks that the arrays hold `batch * seq_len` values; `token_type_ids` may also be empty (all zeros).
pub fn validate(batch: &EncodedBatch) -> Result<(), RuntimeError> {
    let expected = batch.batch * batch.seq_len;
    let fields: [(&'static str, usize); 2] = [
        ("input_ids", batch.input_ids.len()),
        ("attention_mask", batch.attention_mask.len()),
    ];
    for (field, actual) in fields {
        if actual != expected {
            return Err(shape_error(batch, field, actual));
        }
    }
    let types = batch.token_type_ids.len();
    if types != expected && types != 0 {
        return Err(shape_error(batch, "token_type_ids", types));
    }
    Ok(())
}

fn shape_error(batch: &EncodedBatch, field: &'static str, actual: usize) -> RuntimeError {
    RuntimeError::BatchShape {
        field,
        expected: batch.batch * batch.seq_len,
        actual,
        batch: batch.batch,
        seq_len: batch.seq_len,
    }
}

/// Positions of `row` up to and including its last attended token (the rest is padding).
pub fn row_length(batch: &EncodedBatch, row: usize) -> usize {
    let mask = &batch.attention_mask[row * batch.seq_len..(row + 1) * batch.seq_len];
    mask.iter()
        .rposition(|&m| m != 0)
        .map_or(0, |last| last + 1)
}

/// The batch padded (or stripped of padding) to exactly `seq_len` positions, with `[PAD]` = 0
/// after each row's last attended token.
/// Errors if a row has more real tokens than `seq_len`: truncating would change its prediction.
pub fn repad(batch: &EncodedBatch, seq_len: usize) -> Result<EncodedBatch, RuntimeError> {
    repad_with(batch, seq_len, PAD_TOKEN_ID)
}

/// [`repad`] with an explicit pad token id.
pub fn repad_with(
    batch: &EncodedBatch,
    seq_len: usize,
    pad_id: i64,
) -> Result<EncodedBatch, RuntimeError> {
    validate(batch)?;
    for row in 0..batch.batch {
        let length = row_length(batch, row);
        if length > seq_len {
            return Err(RuntimeError::RowTooLong {
                row,
                length,
                max: seq_len,
            });
        }
    }
    let size = batch.batch * seq_len;
    let mut out = EncodedBatch {
        batch: batch.batch,
        seq_len,
        input_ids: vec![pad_id; size],
        attention_mask: vec![0; size],
        token_type_ids: vec![0; size],
    };
    // Only the real tokens are copied: every position after them becomes fresh padding.
    for row in 0..batch.batch {
        let keep = row_length(batch, row);
        let (from, to) = (row * batch.seq_len, row * seq_len);
        out.input_ids[to..to + keep].copy_from_slice(&batch.input_ids[from..from + keep]);
        out.attention_mask[to..to + keep].copy_from_slice(&batch.attention_mask[from..from + keep]);
        if !batch.token_type_ids.is_empty() {
            out.token_type_ids[to..to + keep]
                .copy_from_slice(&batch.token_type_ids[from..from + keep]);
        }
    }
    Ok(out)
}

/// The given rows of `batch` (repeats allowed), keeping its sequence length.
pub fn select_rows(batch: &EncodedBatch, rows: &[usize]) -> Result<EncodedBatch, RuntimeError> {
    validate(batch)?;
    if let Some(&bad) = rows.iter().find(|&&r| r >= batch.batch) {
        return Err(RuntimeError::BatchShape {
            field: "rows",
            expected: batch.batch,
            actual: bad + 1,
            batch: batch.batch,
            seq_len: batch.seq_len,
        });
    }
    let seq = batch.seq_len;
    let gather = |values: &[i64]| -> Vec<i64> {
        rows.iter()
            .flat_map(|&r| values[r * seq..(r + 1) * seq].iter().copied())
            .collect()
    };
    let token_type_ids = if batch.token_type_ids.is_empty() {
        vec![0; rows.len() * seq]
    } else {
        gather(&batch.token_type_ids)
    };
    Ok(EncodedBatch {
        batch: rows.len(),
        seq_len: seq,
        input_ids: gather(&batch.input_ids),
        attention_mask: gather(&batch.attention_mask),
        token_type_ids,
    })
}

/// A batch of `batch_size` rows taken from `pool` in order, wrapping around when the pool is
/// smaller (as the benchmark notebook repeats its sample texts).
pub fn cycle_rows(pool: &EncodedBatch, batch_size: usize) -> Result<EncodedBatch, RuntimeError> {
    if pool.batch == 0 {
        return Err(RuntimeError::EmptyBatch(
            "the pool of rows to build a batch from is empty",
        ));
    }
    let rows: Vec<usize> = (0..batch_size).map(|i| i % pool.batch).collect();
    select_rows(pool, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rows over 5 positions: [101, 7, 8, 102, PAD] and [101, 9, 102, PAD, PAD].
    fn two_rows() -> EncodedBatch {
        EncodedBatch {
            batch: 2,
            seq_len: 5,
            input_ids: vec![101, 7, 8, 102, 0, 101, 9, 102, 0, 0],
            attention_mask: vec![1, 1, 1, 1, 0, 1, 1, 1, 0, 0],
            token_type_ids: vec![0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
        }
    }

    #[test]
    fn row_length_ignores_trailing_padding() {
        let b = two_rows();
        assert_eq!(row_length(&b, 0), 4);
        assert_eq!(row_length(&b, 1), 3);
    }

    #[test]
    fn repad_longer_pads_with_zeros_and_keeps_tokens() {
        let b = repad(&two_rows(), 7).unwrap();
        assert_eq!((b.batch, b.seq_len), (2, 7));
        assert_eq!(
            b.input_ids,
            vec![101, 7, 8, 102, 0, 0, 0, 101, 9, 102, 0, 0, 0, 0]
        );
        assert_eq!(
            b.attention_mask,
            vec![1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
        );
        assert_eq!(
            b.token_type_ids,
            vec![0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn repad_shorter_strips_only_padding() {
        let b = repad(&two_rows(), 4).unwrap();
        assert_eq!(b.input_ids, vec![101, 7, 8, 102, 101, 9, 102, 0]);
        assert_eq!(b.attention_mask, vec![1, 1, 1, 1, 1, 1, 1, 0]);
    }

    #[test]
    fn repad_refuses_a_row_longer_than_the_target() {
        match repad(&two_rows(), 3) {
            Err(RuntimeError::RowTooLong { row, length, max }) => {
                assert_eq!((row, length, max), (0, 4, 3))
            }
            other => panic!("expected RowTooLong, got {other:?}"),
        }
    }

    #[test]
    fn repad_with_custom_pad_and_missing_token_types() {
        let mut b = two_rows();
        b.token_type_ids.clear();
        let out = repad_with(&b, 6, 5).unwrap();
        assert_eq!(out.input_ids[4..6], [5, 5]);
        assert_eq!(out.token_type_ids, vec![0; 12]);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut b = two_rows();
        b.attention_mask.pop();
        let err = validate(&b).unwrap_err().to_string();
        assert!(
            err.contains("attention_mask holds 9 values, expected 10"),
            "{err}"
        );
    }

    #[test]
    fn cycle_rows_wraps_around_the_pool() {
        let b = cycle_rows(&two_rows(), 3).unwrap();
        assert_eq!((b.batch, b.seq_len), (3, 5));
        assert_eq!(b.input_ids[10..15], [101, 7, 8, 102, 0]);
        assert_eq!(b.input_ids[5..10], [101, 9, 102, 0, 0]);
        assert!(select_rows(&two_rows(), &[2]).is_err());
    }
}
