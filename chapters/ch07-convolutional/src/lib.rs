//! Chapter 7: convolutional autoencoders.
//!
//! The first model has the shape of the convolutional autoencoder in the Keras blog's "Building
//! Autoencoders in Keras": 3×3 convolutions with ReLU, 2×2 max-pooling from 28×28×1 down to a
//! 4×4×8 code (128 values), nearest-neighbour upsampling back, and a sigmoid output trained with
//! binary cross-entropy (the sigmoid is taken inside the loss, as in every chapter).
//!
//! The layers come from [`ae_toolkit::conv`]: channels, kernel sizes, strides and padding are in
//! the types, so the type aliases below read as the architecture; the height and width of the
//! images are run-time values, because dfdx computes compile-time output sizes only on nightly
//! Rust (see `vendor/README.md`).

use ae_toolkit::conv::builder::{Conv2D, Flatten2D, MaxPool2D, Unflatten2D, Upsample2D};
use ae_toolkit::data::DataSplits;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::train_reconstruction;
use ae_toolkit::train::{History, RunOptions, TrainConfig};

/// Values in the code: 4 × 4 × 8.
pub const CODE: usize = 4 * 4 * 8;

// ANCHOR: model
/// 28×28×1 → 3×3 convolution (16 channels, padding 1 keeps 28×28) → 2×2 max-pool → 14×14×16.
pub type Down1 = (Conv2D<1, 16, 3, 1, 1>, ReLU, MaxPool2D<2, 2>);
/// 14×14×16 → 3×3 convolution (8 channels) → 2×2 max-pool → 7×7×8.
pub type Down2 = (Conv2D<16, 8, 3, 1, 1>, ReLU, MaxPool2D<2, 2>);
/// 7×7×8 → 3×3 convolution → 2×2 max-pool with padding 1 → 4×4×8. (Keras pads the odd 7 on the
/// bottom and right only, "same"; this pads one cell on every side, which gives the same size.)
pub type Down3 = (Conv2D<8, 8, 3, 1, 1>, ReLU, MaxPool2D<2, 2, 1>);
/// The encoder: a batch of flat images `(batch, 784)` to codes `(batch, 128)`.
pub type Encoder = (Unflatten2D<1, 28, 28>, Down1, Down2, Down3, Flatten2D<CODE>);

/// 4×4×8 → 3×3 convolution → upsampled ×2 → 8×8×8.
pub type Up1 = (Conv2D<8, 8, 3, 1, 1>, ReLU, Upsample2D<2>);
/// 8×8×8 → 3×3 convolution → upsampled ×2 → 16×16×8.
pub type Up2 = (Conv2D<8, 8, 3, 1, 1>, ReLU, Upsample2D<2>);
/// 16×16×8 → 3×3 convolution *without* padding (16 channels) → 14×14 → upsampled ×2 → 28×28×16.
pub type Up3 = (Conv2D<8, 16, 3, 1, 0>, ReLU, Upsample2D<2>);
/// The decoder: codes `(batch, 128)` to logits `(batch, 784)`; the last 3×3 convolution has one
/// output channel, whose sigmoid is the reconstruction.
pub type Decoder = (
    Unflatten2D<8, 4, 4>,
    Up1,
    Up2,
    Up3,
    Conv2D<16, 1, 3, 1, 1>,
    Flatten2D<784>,
);
/// The Keras blog's convolutional autoencoder: `(encoder, decoder)`.
pub type ConvAutoencoder = (Encoder, Decoder);
// ANCHOR_END: model

/// Chapter 1's one-hidden-layer recipe (784 → ReLU code → 784 logits) with a code of `CODE`
/// values: the MLP with the convolutional autoencoder's code size. It has 201,616 parameters,
/// 46 times as many.
pub type MlpSameCode = ((Linear<784, CODE>, ReLU), Linear<CODE, 784>);

/// Width of the MLP whose parameter count is nearest the convolutional autoencoder's:
/// 784·k + k + k·784 + 784 parameters is 3,922 for k = 2 and 5,491 for k = 3, against 4,385.
pub const SAME_PARAMS_CODE: usize = 2;

/// The same recipe with a code of [`SAME_PARAMS_CODE`] values: what a dense network can do with
/// the convolutional autoencoder's parameter budget.
pub type MlpSameParams = (
    (Linear<784, SAME_PARAMS_CODE>, ReLU),
    Linear<SAME_PARAMS_CODE, 784>,
);

/// The loss the chapter trains and reports: binary cross-entropy summed over the 784 pixels of an
/// image (divide by 784 for the Keras blog's per-pixel figure).
pub const LOSS: ReconstructionLoss = ReconstructionLoss::BcePerImage;

/// Trains the convolutional autoencoder on `data` with Adam (the toolkit's loop: shuffled
/// mini-batches, a test evaluation after every epoch, checkpoints that `--resume` continues
/// exactly).
pub fn train_conv<D: Device<f32>>(
    model: &mut <ConvAutoencoder as BuildOnDevice<D, f32>>::Built,
    dev: &D,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<History>
where
    ConvAutoencoder: BuildOnDevice<D, f32>,
    <ConvAutoencoder as BuildOnDevice<D, f32>>::Built: ae_toolkit::model::Autoencoder<D>,
{
    train_reconstruction(model, dev, data, LOSS, cfg, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ae_toolkit::conv::{conv_output_size, conv_trans_output_size};

    /// The sizes the type aliases' comments state, by the output-size formula.
    #[test]
    fn sizes_follow_the_formula() {
        let pool = |n| conv_output_size(n, 2, 2, 0).unwrap();
        let same = |n| conv_output_size(n, 3, 1, 1).unwrap();
        assert_eq!(pool(same(28)), 14);
        assert_eq!(pool(same(14)), 7);
        assert_eq!(conv_output_size(same(7), 2, 2, 1), Some(4));
        assert_eq!(conv_output_size(16, 3, 1, 0), Some(14));
        assert_eq!(conv_trans_output_size(14, 2, 2, 0), Some(28)); // what ×2 upsampling matches
    }

    /// A batch goes through: 784 values in, a 128-value code, 784 logits out.
    #[test]
    fn shapes() {
        let dev = Cpu::seed_from_u64(0);
        let model = dev.build_module::<ConvAutoencoder, f32>();
        let x: Tensor<(usize, Const<784>), f32, _> = dev.sample_uniform_like(&(3, Const));
        let code = model.0.forward(x.clone());
        assert_eq!(*code.shape(), (3, Const::<CODE>));
        assert_eq!(*model.forward(x).shape(), (3, Const::<784>));
    }

    /// Parameters: weights 9·(1·16 + 16·8 + 8·8 + 8·8 + 8·8 + 8·16 + 16·1) plus one bias per
    /// output channel (16 + 8 + 8 + 8 + 8 + 16 + 1).
    #[test]
    fn parameter_count() {
        let dev = Cpu::seed_from_u64(0);
        let model = dev.build_module::<ConvAutoencoder, f32>();
        let weights = 9 * (16 + 16 * 8 + 8 * 8 + 8 * 8 + 8 * 8 + 8 * 16 + 16);
        let biases = 16 + 8 + 8 + 8 + 8 + 16 + 1;
        assert_eq!(model.num_trainable_params(), weights + biases);
        assert_eq!(weights + biases, 4385);
    }

    /// The two MLPs it is compared with: same code size, and nearest parameter count.
    #[test]
    fn mlp_parameter_counts() {
        let dev = Cpu::seed_from_u64(0);
        let dense = |k: usize| 784 * k + k + k * 784 + 784;
        let same_code = dev.build_module::<MlpSameCode, f32>();
        assert_eq!(same_code.num_trainable_params(), dense(CODE));
        assert_eq!(dense(CODE), 201_616);
        let same_params = dev.build_module::<MlpSameParams, f32>();
        assert_eq!(same_params.num_trainable_params(), dense(SAME_PARAMS_CODE));
        let conv = dev
            .build_module::<ConvAutoencoder, f32>()
            .num_trainable_params();
        let gap = |k: usize| dense(k).abs_diff(conv);
        assert!(gap(SAME_PARAMS_CODE) < gap(SAME_PARAMS_CODE + 1));
        assert!(gap(SAME_PARAMS_CODE) < gap(SAME_PARAMS_CODE - 1));
    }
}
