//! Chapter 4: the dropout autoencoder.
//!
//! Dropout after every hidden activation of encoder and decoder: during training each activation
//! is zeroed with probability `p` and the survivors are scaled by `1/(1 − p)` ("inverted"
//! dropout), so nothing changes in expectation; at inference dropout is the identity. In dfdx the
//! difference is in the types: dropout acts in `forward_mut` on a tensor that carries a gradient
//! tape, and `forward` on a plain tensor passes it through untouched.
//!
//! Each of the two wrong combinations is rejected with E0308, "mismatched types": dropout has one
//! impl of each trait, so the compiler infers the tape the input must carry. (Stable rustdoc does
//! not check the code after `compile_fail`; it was read off the compiler's message.)
//!
//! ```compile_fail,E0308
//! // Inference (`forward`) on a tensor that records a tape does not compile: dropout implements
//! // `Module` only for tape-free tensors, so a training-mode input cannot take the inference path.
//! use ae_toolkit::dfdx::prelude::*;
//! let dev = Cpu::default();
//! let model = dev.build_module::<DropoutOneIn<5>, f32>();
//! let x: Tensor<Rank1<4>, f32, _> = dev.ones();
//! let _ = model.forward(x.leaky_trace());
//! ```
//!
//! ```compile_fail,E0308
//! // The reverse, training (`forward_mut`) on a tensor without a tape, does not compile either:
//! // dropout implements `ModuleMut` only for tensors that carry an `OwnedTape`.
//! use ae_toolkit::dfdx::prelude::*;
//! let dev = Cpu::default();
//! let mut model = dev.build_module::<DropoutOneIn<5>, f32>();
//! let x: Tensor<Rank1<4>, f32, _> = dev.ones();
//! let _ = model.forward_mut(x);
//! ```
//!
//! ```
//! // The two paths that do compile: inference is the identity, training drops and rescales.
//! use ae_toolkit::dfdx::prelude::*;
//! let dev = Cpu::seed_from_u64(0);
//! let mut model = dev.build_module::<DropoutOneIn<5>, f32>(); // p = 1/5
//! let x: Tensor<Rank1<1000>, f32, _> = dev.ones();
//! assert_eq!(model.forward(x.clone()).as_vec(), x.as_vec());
//! let grads = model.alloc_grads();
//! let y = model.forward_mut(x.traced(grads)).as_vec();
//! assert!(y.iter().all(|&v| v == 0.0 || v == 1.25));
//! ```

use ae_toolkit::data::DataSplits;
use ae_toolkit::dfdx::nn::{NonMutableModule, ZeroSizedModule};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::dfdx::tensor::HasErr;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::{build_and_train, Autoencoder};
use ae_toolkit::train::{History, RunOptions, TrainConfig};

// ANCHOR: model
/// Encoder 784 → 512 → 256 → 128 with `Drop` after each hidden ReLU. dfdx tuples hold at most
/// six modules, so each hidden layer is its own triple.
pub type DropoutEncoder<Drop> = (
    (Linear<784, 512>, ReLU, Drop),
    (Linear<512, 256>, ReLU, Drop),
    Linear<256, 128>,
);
/// Decoder 128 → 256 → 512 → 784 (linear output) with `Drop` after each hidden ReLU.
pub type DropoutDecoder<Drop> = (
    (Linear<128, 256>, ReLU, Drop),
    (Linear<256, 512>, ReLU, Drop),
    Linear<512, 784>,
);
/// The autoencoder with dropout `Drop`: `DropoutOneIn<5>` drops with p = 1/5 = 0.2;
/// [`NoDropout`] passes everything through, giving the same network without dropout.
pub type DropoutAutoencoder<Drop> = (DropoutEncoder<Drop>, DropoutDecoder<Drop>);
/// The chapter's model: p = 0.2.
pub type WithDropout = DropoutAutoencoder<DropoutOneIn<5>>;
/// The same network without dropout.
pub type WithoutDropout = DropoutAutoencoder<NoDropout>;
// ANCHOR_END: model

/// A module that passes its input through, in training and at inference. (dfdx's `()` is meant
/// to be that, but dfdx 0.13 cannot build a model that contains one.)
///
/// ```
/// use ae_toolkit::dfdx::prelude::*;
/// use ch04_dropout::NoDropout;
/// let dev = Cpu::default();
/// let mut m = dev.build_module::<NoDropout, f32>();
/// let x: Tensor<Rank1<3>, f32, _> = dev.ones();
/// assert_eq!(m.forward(x.clone()).as_vec(), vec![1.0; 3]);
/// let traced: Tensor<Rank1<3>, f32, Cpu, OwnedTape<f32, Cpu>> = x.leaky_trace();
/// assert_eq!(m.forward_mut(traced).as_vec(), vec![1.0; 3]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDropout;

impl ZeroSizedModule for NoDropout {}
impl NonMutableModule for NoDropout {}

impl<X: HasErr> Module<X> for NoDropout {
    type Output = X;
    type Error = X::Err;
    fn try_forward(&self, input: X) -> Result<X, X::Err> {
        Ok(input)
    }
}

/// Trains model `M` to reconstruct `data` (pixels in [−1, 1], linear output, MSE).
pub fn train<M, D>(
    dev: &D,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(M::Built, History)>
where
    D: Device<f32>,
    M: BuildOnDevice<D, f32>,
    M::Built: Autoencoder<D>,
{
    build_and_train::<M, D>(dev, data, ReconstructionLoss::LinearMse, cfg, run)
}

/// The denoising chapter's optimiser: Adam, lr 10⁻³, betas (0.5, 0.999), batch 128, with the
/// training set evaluated after every epoch so the generalisation gap can be measured.
///
/// ```
/// let cfg = ch04_dropout::config(100, 3);
/// assert_eq!((cfg.epochs, cfg.seed, cfg.betas), (100, 3, [0.5, 0.999]));
/// assert!(cfg.evaluate_train_set);
/// ```
pub fn config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        seed,
        betas: [0.5, 0.999],
        evaluate_train_set: true,
        ..TrainConfig::adam(epochs, 128)
    }
}

// BEGIN SOLUTION generalisation_gap
/// Test loss minus training-set loss after the last epoch (both measured without dropout).
pub fn generalisation_gap(history: &History) -> f64 {
    let last = history.last();
    let train = last.train_eval.as_ref().map_or(f64::NAN, |t| t.loss);
    last.test.loss - train
}
// END SOLUTION

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 200_000;

    #[test]
    fn inference_is_the_identity() {
        let dev = Cpu::seed_from_u64(0);
        let model = dev.build_module::<WithDropout, f32>();
        let plain = dev.build_module::<WithoutDropout, f32>();
        let x = dev.tensor_from_vec(
            ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::FashionMnist)
                .test
                .head(3)
                .images,
            (3, Const::<784>),
        );
        // Same weights, with and without dropout layers: identical outputs at inference.
        let mut same = plain.clone();
        same.0 .0 .0 = model.0 .0 .0.clone();
        same.0 .1 .0 = model.0 .1 .0.clone();
        same.0 .2 = model.0 .2.clone();
        same.1 .0 .0 = model.1 .0 .0.clone();
        same.1 .1 .0 = model.1 .1 .0.clone();
        same.1 .2 = model.1 .2.clone();
        assert_eq!(
            model.logits(x.clone()).as_vec(),
            same.logits(x.clone()).as_vec()
        );
        // And repeated inference is deterministic.
        assert_eq!(model.logits(x.clone()).as_vec(), model.logits(x).as_vec());
    }

    /// Kept fraction ≈ 1 − p within 5 standard errors of a binomial proportion, √(p(1 − p)/n);
    /// kept values exactly 1/(1 − p); the mean output ≈ 1 within 5 standard errors,
    /// √(p/(1 − p)/n) (each output is 0 or 1/(1 − p): variance p/(1 − p)).
    fn check_dropout<const K: usize>(seed: u64) {
        let p = 1.0 / K as f64;
        let dev = Cpu::seed_from_u64(seed);
        let mut layer = dev.build_module::<DropoutOneIn<K>, f32>();
        let x: Tensor<Rank1<N>, f32, _> = dev.ones();
        let y = layer.forward_mut(x.traced(layer.alloc_grads())).as_vec();
        let kept: Vec<f32> = y.iter().copied().filter(|&v| v != 0.0).collect();
        let n = N as f64;
        let kept_fraction = kept.len() as f64 / n;
        assert!(
            (kept_fraction - (1.0 - p)).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
            "p = {p}: kept {kept_fraction}"
        );
        let scale = 1.0 / (1.0 - p);
        assert!(
            kept.iter().all(|&v| (v as f64 - scale).abs() < 1e-6),
            "p = {p}: scale"
        );
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n;
        assert!(
            (mean - 1.0).abs() < 5.0 * (p / (1.0 - p) / n).sqrt(),
            "p = {p}: mean {mean}"
        );
    }

    #[test]
    fn training_drops_the_right_fraction_and_rescales() {
        check_dropout::<5>(1); // p = 0.2, the chapter's
        check_dropout::<2>(2); // p = 0.5
        check_dropout::<10>(3); // p = 0.1
    }

    /// The page's count, "its six linear layers hold 1,132,944 parameters": weights and biases of
    /// 784→512→256→128→256→512→784; dropout adds none.
    #[test]
    fn the_dropout_model_has_1_132_944_trainable_parameters() {
        let dev = Cpu::seed_from_u64(0);
        let layer = |i: usize, o: usize| i * o + o;
        let by_hand = layer(784, 512)
            + layer(512, 256)
            + layer(256, 128)
            + layer(128, 256)
            + layer(256, 512)
            + layer(512, 784);
        assert_eq!(by_hand, 1_132_944);
        let model = dev.build_module::<WithDropout, f32>();
        assert_eq!(model.num_trainable_params(), 1_132_944);
    }

    #[test]
    fn dropout_makes_training_outputs_random_and_inference_outputs_fixed() {
        let dev = Cpu::seed_from_u64(4);
        let mut model = dev.build_module::<WithDropout, f32>();
        let x: Tensor<(usize, Const<784>), f32, _> = dev.ones_like(&(2, Const::<784>));
        let a = model
            .logits_traced(x.clone().traced(model.alloc_grads()))
            .as_vec();
        let b = model
            .logits_traced(x.clone().traced(model.alloc_grads()))
            .as_vec();
        assert_ne!(a, b, "two training passes draw different masks");
        let mut plain = dev.build_module::<WithoutDropout, f32>();
        let c = plain
            .logits_traced(x.clone().traced(plain.alloc_grads()))
            .as_vec();
        assert_eq!(
            c,
            plain.logits(x).as_vec(),
            "without dropout, training and inference agree"
        );
    }
}
