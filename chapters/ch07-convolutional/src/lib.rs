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

use ae_toolkit::conv::builder::{
    Conv2D, ConvTrans2D, Crop2D, Flatten2D, MaxPool2D, Unflatten2D, Upsample2D,
};
use ae_toolkit::data::DataSplits;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::train_reconstruction;
use ae_toolkit::train::{History, RunOptions, TrainConfig};

pub mod denoising;
/// Part 3: the convolutional VAE, trained with Chapter 5's objective.
pub mod vae;

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

/// One layer's window: a `kernel`×`kernel` window moved by `stride`, the input padded by
/// `padding` on every side (a convolution, or a max-pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    /// A `kernel`×`kernel` window moved by `stride` over an input padded by `padding`.
    pub const fn new(kernel: usize, stride: usize, padding: usize) -> Window {
        Window {
            kernel,
            stride,
            padding,
        }
    }
}

// BEGIN SOLUTION receptive_field
/// The receptive field of one output cell of a stack of windows, in input pixels: its `size`,
/// the `jump` between neighbouring output cells, and where the field of output cell 0 starts
/// (`start`, negative when it reaches into the padding). Layer by layer, from `(1, 1, 0)`:
/// `size += (k − 1)·jump`, `start −= p·jump`, `jump *= s`. Output cell `i`'s field covers the
/// input positions `start + i·jump … start + i·jump + size − 1` (those inside the image).
pub fn receptive_field(layers: &[Window]) -> (usize, usize, isize) {
    let (mut size, mut jump, mut start) = (1, 1, 0isize);
    for w in layers {
        size += (w.kernel - 1) * jump;
        start -= (w.padding * jump) as isize;
        jump *= w.stride;
    }
    (size, jump, start)
}
// END SOLUTION

/// The encoder's windows, layer by layer: three times a 3×3 convolution (padding 1) and a 2×2
/// max-pooling (the last one padded by 1).
pub const ENCODER_WINDOWS: [Window; 6] = [
    Window::new(3, 1, 1),
    Window::new(2, 2, 0),
    Window::new(3, 1, 1),
    Window::new(2, 2, 0),
    Window::new(3, 1, 1),
    Window::new(2, 2, 1),
];

// ANCHOR: transposed
/// A stride-2 transposed convolution with a 3×3 kernel maps `n` pixels to `2n + 1`; the crop of
/// the first row and column makes it `2n`, the size nearest-neighbour upsampling gives (PyTorch:
/// `ConvTranspose2d(in, out, 3, stride=2, padding=1, output_padding=1)`).
pub type UpTransposed<const IN: usize, const OUT: usize> =
    (ConvTrans2D<IN, OUT, 3, 2, 0>, Crop2D<1, 0>);
/// The decoder of [`ConvAutoencoder`] with every "3×3 convolution, then ×2 upsampling" replaced
/// by one stride-2 transposed convolution: the same weights per layer (9·in·out + out), so the
/// same 4,385 parameters in all, the same encoder; only the way the decoder enlarges the image
/// differs. 4 → 8 → 16, a 3×3 convolution without padding to 14, and the last layer a transposed
/// convolution to 28.
pub type TransposedDecoder = (
    Unflatten2D<8, 4, 4>,
    (UpTransposed<8, 8>, ReLU),
    (UpTransposed<8, 8>, ReLU),
    (Conv2D<8, 16, 3, 1, 0>, ReLU),
    UpTransposed<16, 1>,
    Flatten2D<784>,
);
/// [`ConvAutoencoder`]'s encoder with [`TransposedDecoder`].
pub type TransposedAutoencoder = (Encoder, TransposedDecoder);
// ANCHOR_END: transposed

// BEGIN SOLUTION alternating_energy
/// The part of an image that alternates from one pixel to the next: its Fourier coefficients at
/// the highest frequencies, `c_ab = (1/HW) Σᵢⱼ x_ij (−1)^(a·i + b·j)` for `(a, b)` = (1, 0),
/// (0, 1) and (1, 1) — stripes along the rows, along the columns, and a checkerboard — summed as
/// energy `c₁₀² + c₀₁² + c₁₁²`. Zero for an image made of 2×2 blocks of equal pixels (what
/// nearest-neighbour upsampling gives); for an image of `side`×`side` pixels, row-major.
pub fn alternating_energy(image: &[f32], side: usize) -> f64 {
    assert_eq!(image.len(), side * side, "a {side}×{side} image");
    let mut c = [0.0f64; 3];
    for (n, &x) in image.iter().enumerate() {
        let (i, j) = (n / side, n % side);
        let sign = |e: usize| if e.is_multiple_of(2) { 1.0 } else { -1.0 };
        c[0] += x as f64 * sign(i);
        c[1] += x as f64 * sign(j);
        c[2] += x as f64 * sign(i + j);
    }
    let n = image.len() as f64;
    c.iter().map(|v| (v / n).powi(2)).sum()
}
// END SOLUTION

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

    /// The transposed decoder has the same parameter count and the same output size.
    #[test]
    fn transposed_decoder_matches_the_upsampling_one() {
        let up = |n| conv_trans_output_size(n, 3, 2, 0).unwrap() - 1; // then Crop2D<1, 0>
        assert_eq!(up(4), 8);
        assert_eq!(up(8), 16);
        assert_eq!(up(conv_output_size(16, 3, 1, 0).unwrap()), 28);
        let dev = Cpu::seed_from_u64(0);
        let a = dev.build_module::<ConvAutoencoder, f32>();
        let b = dev.build_module::<TransposedAutoencoder, f32>();
        assert_eq!(a.num_trainable_params(), b.num_trainable_params());
        let x: Tensor<(usize, Const<784>), f32, _> = dev.sample_uniform_like(&(2, Const));
        assert_eq!(*b.forward(x).shape(), (2, Const::<784>));
    }

    /// Why a stride-2, 3×3 transposed convolution makes checkerboards (Odena et al., 2016): with
    /// every input and weight 1, an output pixel is the number of (input, kernel tap) pairs that
    /// reach it — 1 at even positions, 2 at odd ones along each axis, so 1, 2 and 4 in 2-D —
    /// while upsampling then convolving gives the same count everywhere inside the image.
    #[test]
    fn transposed_convolution_overlaps_unevenly() {
        let dev = Cpu::seed_from_u64(0);
        let mut t = dev.build_module::<UpTransposed<1, 1>, f32>();
        t.0.weight = dev.ones();
        t.0.bias = dev.zeros();
        let ones: Tensor<(usize, Const<1>, usize, usize), f32, _> =
            dev.ones_like(&(1, Const, 6, 6));
        let y = t.forward(ones.clone()).as_vec(); // 12×12
        for i in 1..11 {
            for j in 1..11 {
                let along = |k: usize| if k.is_multiple_of(2) { 1.0 } else { 2.0 };
                assert_eq!(y[i * 12 + j], along(i) * along(j), "({i}, {j})");
            }
        }
        assert!(alternating_energy(&y, 12) > 0.1);

        let mut c = dev.build_module::<(Upsample2D<2>, Conv2D<1, 1, 3, 1, 1>), f32>();
        c.1.weight = dev.ones();
        c.1.bias = dev.zeros();
        let y = c.forward(ones).as_vec();
        assert!((1..11).all(|i| (1..11).all(|j| y[i * 12 + j] == 9.0)));
    }

    /// The energy by hand: a checkerboard of ±1 is all at (1, 1); stripes at (1, 0) or (0, 1);
    /// 2×2 blocks and constant images have none.
    #[test]
    fn alternating_energy_by_hand() {
        let image = |f: &dyn Fn(usize, usize) -> f32| -> Vec<f32> {
            (0..16).map(|n| f(n / 4, n % 4)).collect()
        };
        let sign = |k: usize| if k.is_multiple_of(2) { 1.0 } else { -1.0 };
        assert_eq!(alternating_energy(&image(&|i, j| sign(i + j)), 4), 1.0);
        assert_eq!(alternating_energy(&image(&|i, _| sign(i)), 4), 1.0);
        assert_eq!(alternating_energy(&image(&|_, j| 0.5 * sign(j)), 4), 0.25);
        assert_eq!(
            alternating_energy(&image(&|i, j| ((i / 2) * 2 + j / 2) as f32), 4),
            0.0
        );
        assert_eq!(alternating_energy(&[0.3; 16], 4), 0.0);
    }

    /// The receptive-field formula against the encoder itself: with every weight 1 and every
    /// bias 0, a pixel raised to 100 wins every max-pooling window it reaches, so a code value
    /// changes exactly when the pixel lies in its receptive field.
    #[test]
    fn receptive_field_formula_matches_the_encoder() {
        assert_eq!(receptive_field(&ENCODER_WINDOWS), (22, 8, -11));
        let dev = Cpu::seed_from_u64(0);
        let mut encoder = dev.build_module::<Encoder, f32>();
        let (d1, d2, d3) = (&mut encoder.1, &mut encoder.2, &mut encoder.3);
        (d1.0.weight, d1.0.bias) = (dev.ones(), dev.zeros());
        (d2.0.weight, d2.0.bias) = (dev.ones(), dev.zeros());
        (d3.0.weight, d3.0.bias) = (dev.ones(), dev.zeros());
        let base: Vec<f32> = dev.sample_uniform_like(&(784,)).as_vec();
        let code = |x: Vec<f32>| {
            encoder
                .forward(dev.tensor_from_vec(x, (1, Const::<784>)))
                .as_vec()
        };
        let before = code(base.clone());
        let (size, jump, start) = receptive_field(&ENCODER_WINDOWS);
        // Code value of channel 0 at cell (2, 1) of the 4×4 grid: index 2·4 + 1.
        let (ci, cj) = (2, 1);
        let inside = |pos: usize, cell: usize| {
            let first = start + (cell * jump) as isize;
            (first..first + size as isize).contains(&(pos as isize))
        };
        for p in 0..784 {
            let mut x = base.clone();
            x[p] = 100.0;
            let changed = code(x)[ci * 4 + cj] != before[ci * 4 + cj];
            assert_eq!(
                changed,
                inside(p / 28, ci) && inside(p % 28, cj),
                "pixel {p}"
            );
        }
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
