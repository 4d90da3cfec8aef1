//! Chapter 3: the denoising autoencoder.
//!
//! Corrupt the input, reconstruct the *clean* image: the loss is `L(x, g(f(x̃)))` with `x̃` a
//! noisy copy of `x`. Two corruptions: additive Gaussian noise `x̃ = x + ε, ε ~ N(0, σ²)`, and
//! masking noise (a random fraction of pixels set to the black background). Images are scaled to
//! `[−1, 1]` and the network has a linear bottleneck and a linear output, trained with MSE.
//! Data, batches, the loss and the training loop come from [`ae_toolkit`].

use ae_toolkit::batch::{Batch, Images};
use ae_toolkit::data::{DataSplits, Dataset, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::{mse_per_pixel, scalar_value};
use ae_toolkit::model::Autoencoder;
use ae_toolkit::train::{fit, History, Metrics, RunOptions, TapedLoss, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

// ANCHOR: model
/// Encoder: 784 → 512 → 256 → 128, ReLU between layers, a linear 128-dimensional code.
pub type DenoisingEncoder = (
    Linear<784, 512>,
    ReLU,
    Linear<512, 256>,
    ReLU,
    Linear<256, 128>,
);
/// Decoder: 128 → 256 → 512 → 784 with a linear output (the data lie in [−1, 1]).
pub type DenoisingDecoder = (
    Linear<128, 256>,
    ReLU,
    Linear<256, 512>,
    ReLU,
    Linear<512, 784>,
);
/// The denoising autoencoder.
pub type DenoisingAutoencoder = (DenoisingEncoder, DenoisingDecoder);
// ANCHOR_END: model

/// The built model on device `D`.
pub type Model<D> = <DenoisingAutoencoder as BuildOnDevice<D, f32>>::Built;

/// Pixel value of the black background once images are scaled to `[−1, 1]`.
pub const BACKGROUND: f32 = -1.0;

// BEGIN SOLUTION corrupt
// ANCHOR: corruption
/// How the input is corrupted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// No corruption: a plain autoencoder.
    None,
    /// `x̃ = x + ε`, `ε ~ N(0, σ²)` independently per pixel (not clipped).
    Gaussian {
        /// Standard deviation σ, in units of the `[−1, 1]` pixel scale.
        sigma: f32,
    },
    /// Each pixel independently, with probability `fraction`, is set to the background (black).
    Masking {
        /// Fraction of pixels masked.
        fraction: f32,
    },
}

impl Noise {
    /// A corrupted copy of `pixels`, drawing from `rng`.
    pub fn corrupt(self, pixels: &[f32], rng: &mut impl Rng) -> Vec<f32> {
        match self {
            Noise::None => pixels.to_vec(),
            Noise::Gaussian { sigma } => {
                let normal = Normal::new(0.0, sigma).expect("σ must be finite and ≥ 0");
                pixels.iter().map(|&p| p + normal.sample(rng)).collect()
            }
            Noise::Masking { fraction } => pixels
                .iter()
                .map(|&p| {
                    if rng.gen::<f32>() < fraction {
                        BACKGROUND
                    } else {
                        p
                    }
                })
                .collect(),
        }
    }
}
// ANCHOR_END: corruption
// END SOLUTION

impl std::fmt::Display for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Noise::None => write!(f, "no noise"),
            Noise::Gaussian { sigma } => write!(f, "Gaussian σ = {sigma}"),
            Noise::Masking { fraction } => write!(f, "masking {:.0} %", fraction * 100.0),
        }
    }
}

/// The chapter's Gaussian noise level σ (its example's default, and the benchmarks').
pub const SIGMA: f32 = 0.5;

/// Passes over the training set the chapter's models get (its example's default).
pub const EPOCHS: usize = 10;

/// The chapter's training configuration: Adam with learning rate 10⁻³ and β₁ = 0.5 instead of
/// the usual 0.9 (the recipe the chapter follows: the running average of the gradient forgets
/// faster), batches of 128, `epochs` passes, shuffled from `seed`.
pub fn training_config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        seed,
        betas: [0.5, 0.999],
        ..TrainConfig::adam(epochs, 128)
    }
}

// ANCHOR: objective
/// The denoising objective: reconstruct the clean `x` from its corrupted copy `noisy`. Any
/// autoencoder whose decoder output is read as the pixels themselves (a linear output, the data
/// in `[−1, 1]`) can be trained on it: this chapter's MLP, Chapter 7's convolutional model.
pub fn denoising_loss<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    x: Images<D>,
    noisy: Images<D>,
    grads: Gradients<f32, D>,
) -> Tensor<Rank0, f32, D, OwnedTape<f32, D>> {
    let reconstruction = model.logits_traced(noisy.traced(grads));
    mse_per_pixel(reconstruction, x) // the target is the clean image
}
// ANCHOR_END: objective

/// The training objective [`train_denoiser`] hands to `fit`: every batch of `train` (the data set
/// the batches are drawn from) is corrupted afresh with `noise` from the run's training generator
/// ([`noise_rng`]`(seed, 1)`, one stream per image corrupted, see [`corrupt_in_parallel`]), and the
/// model learns to reconstruct the clean images.
/// The benchmarks call this too, so they time exactly what the chapter trains.
pub fn training_objective<M: Autoencoder<D>, D: Device<f32>>(
    dev: D,
    train: Dataset,
    noise: Noise,
    seed: u64,
) -> impl FnMut(&mut M, Batch<D>, Gradients<f32, D>) -> TapedLoss<D> {
    // The run's training noise: the k-th image the run corrupts draws from stream k of one
    // generator. (A resumed run restarts the count from zero.)
    let key = noise_rng(seed, 1);
    let mut corrupted = 0;
    move |model, batch, grads| {
        let noisy = corrupt_in_parallel(&train.gather(&batch.indices), noise, &key, corrupted);
        corrupted += batch.len() as u64;
        let noisy = dev.tensor_from_vec(noisy, (batch.len(), Const::<PIXELS>));
        denoising_loss(model, batch.x, noisy, grads)
    }
}

// BEGIN SOLUTION psnr
/// Peak signal-to-noise ratio in decibels, `10 log₁₀(R² / MSE)`, for images whose pixels span a
/// range of width `R` (2 for `[−1, 1]`). Infinite when the images are identical.
pub fn psnr(mse: f64, range: f64) -> f64 {
    10.0 * (range * range / mse).log10()
}
// END SOLUTION

/// Mean squared error between two equally long pixel slices.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "images of different sizes");
    a.iter()
        .zip(b)
        .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

/// A seeded noise generator; `stream` separates independent uses of one seed (0: the fixed test
/// corruption, 1: the training noise), so a run with the same seed draws the same noise. ChaCha12
/// from `rand_chacha`, whose stream is promised stable across versions (unlike `StdRng`'s).
pub fn noise_rng(seed: u64, stream: usize) -> ChaCha12Rng {
    ChaCha12Rng::seed_from_u64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ stream as u64)
}

/// A corrupted copy of `images` (row-major, 784 pixels each), drawn image by image on rayon's
/// threads: image `i` draws from stream `first_stream + i` of `key`'s generator (ChaCha's 64-bit
/// stream number, each stream independent of the others), so the result is the same on any
/// number of threads. Training draws its noise this way because it draws it at every step.
pub fn corrupt_in_parallel(
    images: &[f32],
    noise: Noise,
    key: &ChaCha12Rng,
    first_stream: u64,
) -> Vec<f32> {
    let mut noisy = vec![0.0; images.len()];
    noisy
        .par_chunks_mut(PIXELS)
        .zip(images.par_chunks(PIXELS))
        .enumerate()
        .for_each(|(i, (out, image))| {
            let mut rng = key.clone();
            rng.set_stream(first_stream + i as u64);
            out.copy_from_slice(&noise.corrupt(image, &mut rng));
        });
    noisy
}

/// A corrupted copy of every image of `data` (row-major, like `data.images`).
pub fn corrupt_all(data: &Dataset, noise: Noise, rng: &mut impl Rng) -> Vec<f32> {
    data.images
        .chunks(PIXELS)
        .flat_map(|img| noise.corrupt(img, rng))
        .collect()
}

/// Trains this chapter's denoising autoencoder (the MLP [`DenoisingAutoencoder`], built on `dev`)
/// with `noise`; see [`train_denoiser`].
pub fn train<D: Device<f32>>(
    dev: &D,
    data: &DataSplits,
    noise: Noise,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<(Model<D>, History)> {
    let mut model = DenoisingAutoencoder::build_on_device(dev);
    let history = train_denoiser(&mut model, dev, data, noise, cfg, run)?;
    Ok((model, history))
}

/// Trains `model`, any autoencoder with a linear output, to remove `noise`. Training images get
/// fresh noise at every step; the test metric is the MSE between the clean test images and the
/// reconstructions of their corrupted copies, drawn once so every epoch is scored on the same
/// corruption.
pub fn train_denoiser<M: Autoencoder<D>, D: Device<f32>>(
    model: &mut M,
    dev: &D,
    data: &DataSplits,
    noise: Noise,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<History> {
    // The evaluation closure looks each image's fixed corruption up by its test-set index, so it
    // can only score the test set.
    anyhow::ensure!(
        !cfg.evaluate_train_set,
        "the denoising objective scores only the test set; turn evaluate_train_set off"
    );
    let noisy_test = Dataset {
        images: corrupt_all(&data.test, noise, &mut noise_rng(cfg.seed, 0)),
        labels: data.test.labels.clone(),
    };
    fit(
        model,
        dev,
        data,
        cfg,
        run,
        training_objective(dev.clone(), data.train.clone(), noise, cfg.seed),
        |m, batch| {
            let noisy = dev.tensor_from_vec(
                noisy_test.gather(&batch.indices),
                (batch.len(), Const::<PIXELS>),
            );
            Metrics::loss_only(
                scalar_value(&mse_per_pixel(m.logits(noisy), batch.x.clone())) as f64,
            )
        },
    )
}

/// Reconstructions of the rows of `noisy` (row-major images), computed in batches.
pub fn denoise<M: Autoencoder<D>, D: Device<f32>>(model: &M, dev: &D, noisy: &[f32]) -> Vec<f32> {
    noisy
        .chunks(1000 * PIXELS)
        .flat_map(|chunk| {
            let x = dev.tensor_from_vec(chunk.to_vec(), (chunk.len() / PIXELS, Const::<PIXELS>));
            model.logits(x).as_vec()
        })
        .collect()
}

// BEGIN SOLUTION filters_3x3
// ANCHOR: baselines
/// The classical baseline: each pixel replaced by the median of its 3×3 neighbourhood (edges
/// repeat the border pixels). Removes isolated outliers, keeps edges better than averaging.
pub fn median_3x3(image: &[f32]) -> Vec<f32> {
    filter_3x3(image, |mut window| {
        window.sort_by(f32::total_cmp);
        window[4]
    })
}

/// The other classical baseline: a 3×3 Gaussian blur with weights `[1 2 1]ᵀ[1 2 1] / 16`
/// (edges repeat the border pixels). Averages noise away, and edges with it.
pub fn gaussian_3x3(image: &[f32]) -> Vec<f32> {
    const W: [f32; 9] = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0];
    filter_3x3(image, |window| {
        window.iter().zip(W).map(|(v, w)| v * w).sum::<f32>() / 16.0
    })
}
// ANCHOR_END: baselines
// END SOLUTION

fn filter_3x3(image: &[f32], f: impl Fn([f32; 9]) -> f32) -> Vec<f32> {
    const SIDE: usize = ae_toolkit::data::IMAGE_SIDE;
    assert_eq!(image.len(), SIDE * SIDE, "a 28×28 image");
    let at = |r: isize, c: isize| {
        let clamp = |v: isize| v.clamp(0, SIDE as isize - 1) as usize;
        image[clamp(r) * SIDE + clamp(c)]
    };
    (0..SIDE * SIDE)
        .map(|i| {
            let (r, c) = ((i / SIDE) as isize, (i % SIDE) as isize);
            let mut w = [0.0; 9];
            for (k, slot) in w.iter_mut().enumerate() {
                *slot = at(r + k as isize / 3 - 1, c + k as isize % 3 - 1);
            }
            f(w)
        })
        .collect()
}

mod psnr_table;
pub use psnr_table::*;

#[cfg(test)]
mod tests;
