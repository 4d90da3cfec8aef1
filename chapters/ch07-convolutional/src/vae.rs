//! The convolutional VAE, in the shape of TensorFlow's "Convolutional Variational Autoencoder"
//! tutorial: two strided 3×3 convolutions down, a dense layer to the two heads (μ, log σ²) of
//! q(z|x); a dense layer up to 7×7×32, two strided 3×3 transposed convolutions to 28×28, and a
//! last 3×3 transposed convolution to one channel of logits of Bernoulli pixel probabilities.
//!
//! Everything but the architecture is Chapter 5's: the model implements
//! [`ch05_vae::VariationalAutoencoder`] through its `(encoder, decoder)` tuple, so it trains with
//! Chapter 5's negative ELBO ([`ch05_vae::train_model`], [`ch05_vae::elbo_terms`]) and is scored,
//! sampled and decoded by the same functions as Chapter 5's MLP.
//!
//! Where this differs from the tutorial, and why:
//! - The tutorial's encoder ends in one `Dense(2·latent)` whose output is split into μ and
//!   log σ²; here two `Linear<2304, Z>` heads read the same features (Chapter 5's `SplitInto`):
//!   the same map and the same parameter count, one weight matrix cut in two.
//! - The tutorial binarises MNIST (pixel > ½ → 1) and estimates the KL term by a single Monte-Carlo
//!   sample (log p(z) − log q(z|x) at the sampled z); this chapter, to compare with Chapter 5,
//!   keeps the grey levels as Bernoulli targets and uses the closed-form KL, as Chapter 5 does.
//! - Initialisation is the toolkit's (PyTorch's default, uniform in ±1/√fan-in), not Keras'
//!   Glorot-uniform weights with zero biases.
//!
//! The tutorial trains with latent size 2, batches of 32 and Adam at 10⁻⁴ for 10 epochs (read
//! from the tutorial's notebook, tensorflow/docs `site/en/tutorials/generative/cvae.ipynb`). The
//! reproduce example trains it like Chapter 5's VAE instead (Adam at 10⁻³, batches of 128, 10
//! epochs), so that the two models differ only in their layers.

use ae_toolkit::conv::builder::{Conv2D, ConvTrans2D, Crop2D, Flatten2D, Unflatten2D};
use ae_toolkit::dfdx::prelude::*;

/// Values the encoder's convolutions hand to the two heads: 6 × 6 positions × 64 channels.
pub const ENCODER_FEATURES: usize = 6 * 6 * 64;
/// Values the decoder's dense layer makes, viewed as 32 channels of 7 × 7.
pub const DECODER_GRID: usize = 7 * 7 * 32;

// ANCHOR: model
/// TensorFlow's `Conv2DTranspose(OUT, 3, strides=2, padding='same')`: a stride-2 transposed
/// convolution (3×3, no padding) maps `n` pixels to `2n + 1`; TensorFlow's "same" keeps `2n` of
/// them by dropping the **last** row and column, `Crop2D<0, 1>`. (TensorFlow defines the
/// transposed convolution as the gradient of the forward convolution, whose "same" padding puts
/// the odd row of zeros at the bottom and right; `tf_same_is_the_adjoint_of_a_same_convolution`
/// below checks the two against each other.)
///
/// In PyTorch, exactly: `ConvTranspose2d(IN, OUT, 3, stride=2)` followed by `x[:, :, :-1, :-1]`.
/// Not `padding=1, output_padding=1`, which gives the same size but drops the *first* row and
/// column (`Crop2D<1, 0>`, the chapter's [`crate::UpTransposed`]): the same layer shifted by one
/// pixel.
pub type TfSameUp<const IN: usize, const OUT: usize> =
    (ConvTrans2D<IN, OUT, 3, 2, 0>, Crop2D<0, 1>);

/// The encoder: flat images `(batch, 784)` → 28×28×1 → 3×3 convolution, stride 2, no padding,
/// ReLU → 13×13×32 → the same with 64 channels → 6×6×64 → 2,304 values → two dense heads of
/// width `Z`, μ and log σ² (no activation).
///
/// PyTorch: `Conv2d(1, 32, 3, stride=2)`, ReLU, `Conv2d(32, 64, 3, stride=2)`, ReLU, flatten
/// (channel-major, as here), and two `Linear(2304, Z)`.
pub type ConvVaeEncoder<const Z: usize> = (
    Unflatten2D<1, 28, 28>,
    (Conv2D<1, 32, 3, 2, 0>, ReLU),
    (Conv2D<32, 64, 3, 2, 0>, ReLU),
    Flatten2D<ENCODER_FEATURES>,
    SplitInto<(Linear<ENCODER_FEATURES, Z>, Linear<ENCODER_FEATURES, Z>)>,
);

/// The decoder: codes `(batch, Z)` → dense to 1,568 values, ReLU → 7×7×32 → [`TfSameUp`] with
/// 64 channels, ReLU → 14×14×64 → [`TfSameUp`] with 32 channels, ReLU → 28×28×32 → 3×3
/// transposed convolution, stride 1, padding 1 (TensorFlow's "same" at stride 1, symmetric) →
/// 28×28×1 logits → 784 values.
///
/// PyTorch: `Linear(Z, 1568)`, ReLU, unflatten to `(32, 7, 7)`, twice
/// `ConvTranspose2d(·, ·, 3, stride=2)` + `[:, :, :-1, :-1]` + ReLU (64 then 32 channels),
/// `ConvTranspose2d(32, 1, 3, stride=1, padding=1)`, flatten.
pub type ConvVaeDecoder<const Z: usize> = (
    (Linear<Z, DECODER_GRID>, ReLU),
    Unflatten2D<32, 7, 7>,
    (TfSameUp<32, 64>, ReLU),
    (TfSameUp<64, 32>, ReLU),
    ConvTrans2D<32, 1, 3, 1, 1>,
    Flatten2D<784>,
);

/// The convolutional VAE with a `Z`-dimensional latent space: `(encoder, decoder)`, a
/// [`ch05_vae::VariationalAutoencoder`].
pub type ConvVae<const Z: usize> = (ConvVaeEncoder<Z>, ConvVaeDecoder<Z>);
// ANCHOR_END: model

/// The built convolutional VAE on device `D`.
pub type ConvVaeModel<const Z: usize, D> = <ConvVae<Z> as BuildOnDevice<D, f32>>::Built;

/// Trainable parameters of [`ConvVae`] with latent size `z`, counted layer by layer from the
/// sizes above: a convolution has `in·out·3·3` weights and `out` biases, a dense layer `in·out`
/// and `out`.
pub const fn conv_vae_parameters(z: usize) -> usize {
    const fn conv(channels_in: usize, channels_out: usize) -> usize {
        channels_in * channels_out * 9 + channels_out
    }
    const fn dense(inputs: usize, outputs: usize) -> usize {
        inputs * outputs + outputs
    }
    let encoder = conv(1, 32) + conv(32, 64) + 2 * dense(ENCODER_FEATURES, z);
    let decoder = dense(z, DECODER_GRID) + conv(32, 64) + conv(64, 32) + conv(32, 1);
    encoder + decoder
}

#[cfg(test)]
mod tests {
    use super::*;
    use ae_toolkit::conv::{conv_output_size, conv_trans_output_size};
    use ae_toolkit::data::PIXELS;

    /// The sizes in the doc comments, by the output-size formulas.
    #[test]
    fn sizes_follow_the_formulas() {
        let down = |n| conv_output_size(n, 3, 2, 0).unwrap();
        assert_eq!(down(28), 13);
        assert_eq!(down(down(28)), 6);
        assert_eq!(down(down(28)) * down(down(28)) * 64, ENCODER_FEATURES);
        // Up: 2n + 1, cropped by one row (and column) to 2n.
        let up = |n| conv_trans_output_size(n, 3, 2, 0).unwrap() - 1;
        assert_eq!(conv_trans_output_size(7, 3, 2, 0), Some(15));
        assert_eq!(up(7), 14);
        assert_eq!(conv_trans_output_size(14, 3, 2, 0), Some(29));
        assert_eq!(up(up(7)), 28);
        assert_eq!(conv_trans_output_size(28, 3, 1, 1), Some(28));
        assert_eq!(7 * 7 * 32, DECODER_GRID);
    }

    /// A batch goes through: (μ, log σ²) of width Z from 784 pixels, 784 logits from a code.
    #[test]
    fn shapes() {
        let dev = Cpu::seed_from_u64(0);
        let model = dev.build_module::<ConvVae<5>, f32>();
        let x: Tensor<(usize, Const<PIXELS>), f32, _> = dev.sample_uniform_like(&(3, Const));
        let (mu, logvar) = model.0.forward(x);
        assert_eq!(mu.shape().concrete(), [3, 5]);
        assert_eq!(logvar.shape().concrete(), [3, 5]);
        assert_eq!(model.1.forward(mu).shape().concrete(), [3, PIXELS]);
    }

    /// The model's count against the formula, and the formula against the layer sizes written
    /// out by hand for the two latent sizes the chapter trains.
    #[test]
    fn parameter_count() {
        let dev = Cpu::seed_from_u64(0);
        assert_eq!(
            dev.build_module::<ConvVae<2>, f32>().num_trainable_params(),
            conv_vae_parameters(2)
        );
        assert_eq!(
            dev.build_module::<ConvVae<20>, f32>()
                .num_trainable_params(),
            conv_vae_parameters(20)
        );
        // Encoder 320 + 18,496 + 2·(2,304·2 + 2); decoder (2·1,568 + 1,568) + 18,496 + 18,464 + 289.
        assert_eq!(
            conv_vae_parameters(2),
            320 + 18_496 + 9_220 + 4_704 + 18_496 + 18_464 + 289
        );
        assert_eq!(conv_vae_parameters(2), 69_989);
        assert_eq!(conv_vae_parameters(20), 181_193);
        // Chapter 5's MLP with 20 latent dimensions has 3.6 times as many.
        let mlp = dev
            .build_module::<ch05_vae::Vae<20>, f32>()
            .num_trainable_params();
        assert_eq!(mlp, 652_824);
        // The chapter says the dense layers into and out of the latent space hold most of the
        // 20-D model's parameters: the two heads and the decoder's first layer, counted.
        let model = dev.build_module::<ConvVae<20>, f32>();
        let dense = model.0 .4.num_trainable_params() + model.1 .0.num_trainable_params();
        assert_eq!(dense, 2 * (2_304 * 20 + 20) + (20 * 1_568 + 1_568));
        assert!(2 * dense > conv_vae_parameters(20));
    }

    /// TensorFlow's `Conv2DTranspose(padding='same')` is the adjoint (the gradient with respect to
    /// the input) of `Conv2D(padding='same')` with the same kernel, whose stride-2 "same" padding
    /// of a 14-pixel side needs one row of zeros in all, put at the bottom (and one column, at the
    /// right). So for any x (14×14) and y (7×7): ⟨conv_same(x), y⟩ = ⟨x, TfSameUp(y)⟩ with the
    /// bias at zero; the convolution is written out here as nested loops, in f64.
    #[test]
    fn tf_same_is_the_adjoint_of_a_same_convolution() {
        const IN: usize = 3;
        const OUT: usize = 2;
        let dev = Cpu::seed_from_u64(3);
        let mut up = dev.build_module::<TfSameUp<IN, OUT>, f32>();
        up.0.bias = dev.zeros();
        let w = up.0.weight.as_vec(); // [IN, OUT, 3, 3]
        let (small, large) = (7, 14);
        let y: Tensor<(usize, Const<IN>, usize, usize), f32, _> =
            dev.sample_normal_like(&(1, Const, small, small));
        let x: Tensor<(usize, Const<OUT>, usize, usize), f32, _> =
            dev.sample_normal_like(&(1, Const, large, large));
        let (xs, ys) = (x.as_vec(), y.as_vec());
        // The forward "same" convolution OUT → IN channels, 14 → 7, padding 0 before, 1 after.
        let mut conv_x = vec![0.0f64; IN * small * small];
        for i in 0..IN {
            for a in 0..small {
                for b in 0..small {
                    let mut sum = 0.0;
                    for o in 0..OUT {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (r, c) = (2 * a + ky, 2 * b + kx);
                                if r < large && c < large {
                                    let weight = w[((i * OUT + o) * 3 + ky) * 3 + kx] as f64;
                                    sum += weight * xs[(o * large + r) * large + c] as f64;
                                }
                            }
                        }
                    }
                    conv_x[(i * small + a) * small + b] = sum;
                }
            }
        }
        let lhs: f64 = conv_x.iter().zip(&ys).map(|(c, &y)| c * y as f64).sum();
        let up_y = up.forward(y).as_vec();
        assert_eq!(up_y.len(), OUT * large * large);
        let rhs: f64 = up_y
            .iter()
            .zip(&xs)
            .map(|(&u, &x)| u as f64 * x as f64)
            .sum();
        assert!(
            (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
        // And the other crop, PyTorch's padding=1/output_padding=1, is a different map.
        let mut shifted = dev.build_module::<(ConvTrans2D<IN, OUT, 3, 2, 0>, Crop2D<1, 0>), f32>();
        shifted.0.weight = up.0.weight.clone();
        shifted.0.bias = dev.zeros();
        let y = dev.tensor_from_vec(ys.clone(), (1, Const::<IN>, small, small));
        let other: f64 = shifted
            .forward(y)
            .as_vec()
            .iter()
            .zip(&xs)
            .map(|(&u, &x)| u as f64 * x as f64)
            .sum();
        assert!((lhs - other).abs() > 1e-2, "{lhs} vs {other}");
    }

    /// Chapter 5's functions take the convolutional VAE as they take the MLP, the clamp of the
    /// log-variance included: with its head's bias pushed to ±10⁴, every log σ² comes out at
    /// ±`LOGVAR_LIMIT`.
    #[test]
    fn chapter_5_encodes_and_decodes_it() {
        let dev = Cpu::seed_from_u64(1);
        let mut model = dev.build_module::<ConvVae<2>, f32>();
        let x = dev.sample_uniform_like(&(4, Const::<PIXELS>));
        for extreme in [1e4f32, -1e4] {
            model.0 .4 .0 .1.bias = dev.tensor([extreme; 2]);
            let (mu, logvar) = ch05_vae::encode(&model, x.clone());
            assert_eq!(mu.shape().concrete(), [4, 2]);
            let limit = extreme.signum() * ch05_vae::LOGVAR_LIMIT;
            assert!(
                logvar.as_vec().iter().all(|&v| v == limit),
                "log σ² {:?}, not clamped to {limit}",
                logvar.as_vec()
            );
        }
        let images = ch05_vae::decode(&model, &dev, &ch05_vae::manifold_codes(3));
        assert_eq!(images.len(), 9 * PIXELS);
        assert!(images.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}
