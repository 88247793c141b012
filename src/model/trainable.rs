//! A [`BertClassifier`] whose parameters are candle `Var`s in a `VarMap`, so that training gets a
//! gradient for every parameter; converts to and from [`Weights`].

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::bert::BertClassifier;
use super::dropout::Mode;
use super::shapes::{param_shapes, validate_config, ConfigError};
use super::{BertConfig, EncodedBatch, Weights};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("weights lack tensor `{name}` (expected shape {expected:?})")]
    MissingTensor { name: String, expected: Vec<usize> },
    #[error("tensor `{name}` has shape {actual:?}, the config expects {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Checks that `weights` holds every parameter of `config` with the right shape.
pub fn check_weights(config: &BertConfig, weights: &Weights) -> Result<(), ModelError> {
    validate_config(config)?;
    for (name, expected) in param_shapes(config) {
        let Some(t) = weights.get(&name) else {
            return Err(ModelError::MissingTensor { name, expected });
        };
        if t.dims() != expected.as_slice() {
            return Err(ModelError::ShapeMismatch {
                name,
                expected,
                actual: t.dims().to_vec(),
            });
        }
    }
    Ok(())
}

impl BertClassifier {
    /// An inference-only model (no `Var`s) over f32 copies of `weights`, e.g. to compare with ONNX Runtime.
    pub fn from_weights(
        config: &BertConfig,
        weights: &Weights,
        device: &Device,
    ) -> Result<Self, ModelError> {
        check_weights(config, weights)?;
        let tensors = param_shapes(config)
            .into_iter()
            .map(|(name, _)| {
                let t = weights[&name].to_device(device)?.to_dtype(DType::F32)?;
                Ok((name, t))
            })
            .collect::<candle_core::Result<std::collections::HashMap<String, Tensor>>>()?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Ok(BertClassifier::new(config, vb)?)
    }
}

/// The trainable model: `varmap` owns one `Var` per Hugging Face parameter name.
pub struct TrainableBert {
    varmap: VarMap,
    model: BertClassifier,
    config: BertConfig,
}

impl TrainableBert {
    /// An f32 model on `device` holding copies of `weights` (extra tensors are ignored).
    pub fn from_weights(
        config: &BertConfig,
        weights: &Weights,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::from_weights_dtype(config, weights, device, DType::F32)
    }

    /// Same as [`Self::from_weights`] in another float dtype (f64 for gradient checks).
    pub fn from_weights_dtype(
        config: &BertConfig,
        weights: &Weights,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, ModelError> {
        check_weights(config, weights)?;
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().expect("fresh VarMap lock");
            for (name, _) in param_shapes(config) {
                // `copy` so that training never writes into the caller's tensors.
                let t = weights[&name].to_device(device)?.to_dtype(dtype)?.copy()?;
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let model = BertClassifier::new(config, vb)?;
        Ok(Self {
            varmap,
            model,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn model(&self) -> &BertClassifier {
        &self.model
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Logits `[batch, num_labels]`.
    pub fn forward(&self, batch: &EncodedBatch, mode: Mode) -> candle_core::Result<Tensor> {
        self.model.forward(batch, mode)
    }

    /// Every parameter with its Hugging Face name, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("VarMap lock");
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// A detached f32 copy of the current values (unaffected by later optimiser steps).
    pub fn weights(&self) -> candle_core::Result<Weights> {
        self.named_vars()
            .into_iter()
            .map(|(name, var)| {
                let t = var.as_tensor().detach().to_dtype(DType::F32)?.copy()?;
                Ok((name, t.to_device(&Device::Cpu)?))
            })
            .collect()
    }

    /// Overwrites the current values (e.g. to restore the best checkpoint); shapes must match.
    pub fn set_weights(&self, weights: &Weights) -> Result<(), ModelError> {
        check_weights(&self.config, weights)?;
        for (name, var) in self.named_vars() {
            let t = weights[&name]
                .to_device(var.device())?
                .to_dtype(var.dtype())?;
            var.set(&t)?;
        }
        Ok(())
    }
}
