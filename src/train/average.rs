//! Uniform weight averaging of models fine-tuned one after another from the same start: they sit
//! in one basin of the loss, and their average often generalises better than any one of them.

use candle_core::Tensor;

use super::error::TrainError;
use crate::model::Weights;

/// The element-wise mean of `models`, which must have the same names and shapes.
pub fn average_weights(models: &[&Weights]) -> Result<Weights, TrainError> {
    let (first, rest) = models
        .split_first()
        .ok_or_else(|| TrainError::Input("no models to average".to_string()))?;
    let mut out = Weights::new();
    for (name, tensor) in first.iter() {
        let mut sum: Tensor = tensor.clone();
        for (i, other) in rest.iter().enumerate() {
            let t = other.get(name).ok_or_else(|| {
                TrainError::Input(format!("model {} has no tensor {name}", i + 1))
            })?;
            if t.dims() != tensor.dims() {
                return Err(TrainError::Input(format!(
                    "tensor {name}: shape {:?} in model {} but {:?} in model 0",
                    t.dims(),
                    i + 1,
                    tensor.dims()
                )));
            }
            sum = (sum + t)?;
        }
        out.insert(name.clone(), (sum / models.len() as f64)?);
    }
    if let Some((i, extra)) = rest
        .iter()
        .enumerate()
        .find(|(_, m)| m.len() != first.len())
    {
        return Err(TrainError::Input(format!(
            "model {} has {} tensors, model 0 has {}",
            i + 1,
            extra.len(),
            first.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn weights(pairs: &[(&str, Vec<f32>)]) -> Weights {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    Tensor::from_vec(v.clone(), v.len(), &Device::Cpu).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn averages_element_wise_and_checks_names_and_shapes() {
        let a = weights(&[("w", vec![1.0, 2.0]), ("b", vec![0.0])]);
        let b = weights(&[("w", vec![3.0, 6.0]), ("b", vec![1.0])]);
        let avg = average_weights(&[&a, &b]).unwrap();
        assert_eq!(avg["w"].to_vec1::<f32>().unwrap(), vec![2.0, 4.0]);
        assert_eq!(avg["b"].to_vec1::<f32>().unwrap(), vec![0.5]);

        let missing = weights(&[("w", vec![1.0, 2.0])]);
        let err = average_weights(&[&a, &missing]).unwrap_err().to_string();
        assert!(err.contains("model 1 has no tensor b"), "{err}");
        let wrong = weights(&[("w", vec![1.0]), ("b", vec![0.0])]);
        let err = average_weights(&[&a, &wrong]).unwrap_err().to_string();
        assert!(err.contains("tensor w: shape [1]"), "{err}");
        assert!(average_weights(&[]).is_err());
    }
}
