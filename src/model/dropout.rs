//! Train/eval mode and dropout with masks from our own counter-based generator: candle's CPU RNG
//! cannot be seeded reliably, and training must be reproducible for a given seed.

use candle_core::{DType, Result, Tensor};

/// Whether dropout is active. In training, every mask is a pure function of `dropout_seed`, the
/// dropout site (its position in the model) and the element index, so a forward pass is
/// reproducible; the training loop passes a fresh seed per step (e.g. derived from run seed and step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Eval,
    Train { dropout_seed: u64 },
}

impl Mode {
    /// Training mode for optimiser step `step` of a run seeded with `run_seed`: a distinct,
    /// reproducible dropout stream per step.
    pub fn train_step(run_seed: u64, step: u64) -> Self {
        Mode::Train {
            dropout_seed: mix64(run_seed ^ mix64(step.wrapping_mul(GOLDEN))),
        }
    }
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 finaliser: a good 64-bit mix, used as a counter-based generator.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A dropout layer; `site` distinguishes the masks of different layers within one pass.
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f64,
    site: u64,
}

impl Dropout {
    pub fn new(p: f64, site: u64) -> Self {
        Self { p, site }
    }

    /// The keep/scale rule of this site for `mode`, or None when nothing is dropped.
    pub fn mask(&self, mode: Mode) -> Option<DropoutMask> {
        let seed = match mode {
            Mode::Eval => return None,
            Mode::Train { dropout_seed } => dropout_seed,
        };
        if self.p <= 0.0 {
            return None;
        }
        Some(DropoutMask {
            key: mix64(seed ^ mix64(self.site.wrapping_add(1).wrapping_mul(GOLDEN))),
            // Keep an element when its uniform draw in [0, 1) is >= p; kept values are scaled by 1/(1-p).
            threshold: (self.p * (1u64 << 53) as f64) as u64,
            scale: 1.0 / (1.0 - self.p),
        })
    }

    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        let Some(mask) = self.mask(mode) else {
            return Ok(xs.clone());
        };
        let n = xs.elem_count();
        let mask = if xs.dtype() == DType::F64 {
            let v: Vec<f64> = (0..n).map(|i| mask.factor(i)).collect();
            Tensor::from_vec(v, xs.shape(), xs.device())?
        } else {
            let v: Vec<f32> = (0..n).map(|i| mask.factor(i) as f32).collect();
            Tensor::from_vec(v, xs.shape(), xs.device())?.to_dtype(xs.dtype())?
        };
        xs.mul(&mask)
    }
}

/// The dropout mask of one site in one pass: element `i` (row-major index in the tensor) is kept
/// and scaled by `1/(1-p)`, or zeroed, as a pure function of `i`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    key: u64,
    threshold: u64,
    scale: f64,
}

impl DropoutMask {
    pub fn keep(&self, i: usize) -> bool {
        (mix64(self.key.wrapping_add((i as u64).wrapping_mul(GOLDEN))) >> 11) >= self.threshold
    }

    /// `1/(1-p)` for kept elements, 0 for dropped ones.
    pub fn factor(&self, i: usize) -> f64 {
        if self.keep(i) {
            self.scale
        } else {
            0.0
        }
    }
}
