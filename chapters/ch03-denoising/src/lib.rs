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
mod tests {
    use super::*;

    #[test]
    fn parallel_corruption_draws_image_i_from_stream_first_plus_i_on_any_number_of_threads() {
        // Five different images, so a swapped stream or image shows.
        let images: Vec<f32> = (0..5 * PIXELS).map(|i| (i % 97) as f32 / 97.0).collect();
        let key = noise_rng(3, 1);
        for noise in [
            Noise::Gaussian { sigma: 0.5 },
            Noise::Masking { fraction: 0.3 },
        ] {
            let expected: Vec<f32> = images
                .chunks(PIXELS)
                .enumerate()
                .flat_map(|(i, image)| {
                    let mut rng = key.clone();
                    rng.set_stream(40 + i as u64);
                    noise.corrupt(image, &mut rng)
                })
                .collect();
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let noisy = pool.install(|| corrupt_in_parallel(&images, noise, &key, 40));
                assert_eq!(noisy, expected, "{noise}, {threads} thread(s)");
            }
        }
        // Two copies of one image get different noise: the streams are not the same.
        let twice = [images[..PIXELS].to_vec(), images[..PIXELS].to_vec()].concat();
        let noisy = corrupt_in_parallel(&twice, Noise::Gaussian { sigma: 0.5 }, &key, 0);
        assert_ne!(noisy[..PIXELS], noisy[PIXELS..]);
    }

    #[test]
    fn gaussian_noise_has_mean_zero_and_variance_sigma_squared() {
        // n = 784,000 draws. Standard errors: mean σ/√n, sample variance σ²·√(2/n). A 5-standard-
        // error band fails by chance about once in 1.7 million runs (and the seed is fixed).
        let sigma = 0.5f64;
        let clean = vec![0.25f32; 784 * 1000];
        let noisy = Noise::Gaussian {
            sigma: sigma as f32,
        }
        .corrupt(&clean, &mut noise_rng(7, 1));
        let eps: Vec<f64> = noisy
            .iter()
            .zip(&clean)
            .map(|(a, b)| (a - b) as f64)
            .collect();
        let n = eps.len() as f64;
        let mean = eps.iter().sum::<f64>() / n;
        let var = eps.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0);
        assert!(mean.abs() < 5.0 * sigma / n.sqrt(), "mean {mean}");
        assert!(
            (var - sigma * sigma).abs() < 5.0 * sigma * sigma * (2.0 / n).sqrt(),
            "variance {var}"
        );
    }

    #[test]
    fn masking_blackens_the_requested_fraction() {
        // Binomial(n, p): standard error √(p(1 − p)/n); 5 of them.
        let p = 0.3f64;
        let clean = vec![0.5f32; 784 * 1000];
        let noisy = Noise::Masking { fraction: p as f32 }.corrupt(&clean, &mut noise_rng(7, 2));
        let masked = noisy.iter().filter(|&&v| v == BACKGROUND).count() as f64;
        let n = clean.len() as f64;
        assert!(
            (masked / n - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
            "{}",
            masked / n
        );
        // Unmasked pixels are untouched.
        assert!(noisy.iter().all(|&v| v == BACKGROUND || v == 0.5));
    }

    #[test]
    fn the_training_target_is_the_clean_image() {
        let dev = Cpu::seed_from_u64(0);
        let mut model = dev.build_module::<DenoisingAutoencoder, f32>();
        let clean_v = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::FashionMnist)
            .test
            .head(4)
            .to_symmetric_range()
            .images;
        let noisy_v = Noise::Gaussian { sigma: 0.5 }.corrupt(&clean_v, &mut noise_rng(0, 3));
        let clean = dev.tensor_from_vec(clean_v.clone(), (4, Const::<PIXELS>));
        let noisy = dev.tensor_from_vec(noisy_v.clone(), (4, Const::<PIXELS>));
        let grads = model.alloc_grads();
        let loss = denoising_loss(&mut model, clean, noisy.clone(), grads).array() as f64;
        let output = model.logits(noisy).as_vec();
        let against_clean = mse(&output, &clean_v);
        let against_noisy = mse(&output, &noisy_v);
        assert!(
            (loss - against_clean).abs() < 1e-5 * against_clean,
            "{loss} vs {against_clean}"
        );
        assert!(
            (against_clean - against_noisy).abs() > 0.1,
            "the two targets must differ"
        );
    }

    #[test]
    fn psnr_matches_hand_values() {
        assert!((psnr(0.01, 2.0) - 10.0 * 400f64.log10()).abs() < 1e-12); // 26.0206 dB
        assert!((psnr(0.01, 2.0) - 26.020_599_913).abs() < 1e-8);
        assert_eq!(psnr(4.0, 2.0), 0.0); // MSE equal to the squared range
        assert!((psnr(0.04, 2.0) - 20.0).abs() < 1e-12); // R²/MSE = 100
        assert!((psnr(1e-4, 1.0) - 40.0).abs() < 1e-9);
        assert_eq!(psnr(0.0, 2.0), f64::INFINITY);
        assert!((mse(&[1.0, -1.0], &[0.0, 0.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mean_psnr_averages_the_images_decibels() {
        // Two images off by 0.2 and by 0.02 everywhere: 20 dB and 40 dB, so 30 dB on average
        // (the PSNR of the mean MSE would be 23 dB).
        let clean = vec![0.0f32; 2 * PIXELS];
        let mut noisy = vec![0.2f32; PIXELS];
        noisy.extend(vec![0.02f32; PIXELS]);
        assert!((mean_psnr(&noisy, &clean) - 30.0).abs() < 1e-5);
    }

    #[test]
    fn psnr_rows_bold_the_best_denoiser_and_name_their_noise() {
        let row = PsnrRow {
            noise: Noise::Gaussian { sigma: 0.5 },
            noisy_input: 30.0, // better than every denoiser, but not one
            denoisers: vec![18.964, 19.5],
            median_3x3: 17.0,
            gaussian_3x3: 19.5,
        };
        assert_eq!(row.values(), [30.0, 18.964, 19.5, 17.0, 19.5]);
        assert_eq!(
            row.cells(),
            ["0.5", "30.00", "18.96", "**19.50**", "17.00", "**19.50**"]
        );
        assert_eq!(row.key(), "s0_5");
        let masking = PsnrRow {
            noise: Noise::Masking { fraction: 0.3 },
            ..row
        };
        assert_eq!(
            (masking.label().as_str(), masking.key().as_str()),
            ("masking 30 %", "masking")
        );
        let table = psnr_table(&["a · 甲", "b · 乙"], &[masking]);
        assert!(table.starts_with(
            "| σ | noisy input · 含噪输入 | a · 甲 | b · 乙 | median 3×3 · 中值滤波 | Gaussian 3×3 · 高斯滤波 |\n|---|---|---|---|---|---|\n| masking 30 % |"
        ));
    }

    #[test]
    fn psnr_test_images_score_each_denoiser_on_the_same_noise() {
        let test = ae_toolkit::data::embedded(ae_toolkit::data::DatasetKind::Mnist)
            .test
            .head(20)
            .to_symmetric_range();
        let images = PsnrTestImages::draw(&test, 0.5, 0.3, 0);
        assert_eq!(images, PsnrTestImages::draw(&test, 0.5, 0.3, 0));
        assert_eq!(images.clean.images, test.images); // fewer than PSNR_IMAGES: all of them
                                                      // The training-σ copy is a draw of its own, not the table's σ = 0.5 row.
        assert_ne!(images.at_training_noise, images.gaussian[3]);
        let inputs = images.gaussian_inputs();
        assert_eq!(inputs.len(), PSNR_SIGMAS.len() + 1);
        // Two "denoisers": one returns its input, one the clean images.
        let identity: Vec<Vec<f32>> = inputs.iter().map(|x| x.to_vec()).collect();
        let oracle = vec![test.images.clone(); inputs.len()];
        let rows = images.score(
            &[identity.as_slice(), oracle.as_slice()],
            &[images.masked.as_slice(), test.images.as_slice()],
        );
        assert_eq!(rows.len(), PSNR_SIGMAS.len() + 1);
        for row in &rows {
            assert_eq!(row.denoisers[0], row.noisy_input);
            assert_eq!(row.denoisers[1], f64::INFINITY);
        }
        // Noisier rows score lower: 20 log₁₀(2 / σ) dB, about.
        let input: Vec<f64> = rows[..PSNR_SIGMAS.len()]
            .iter()
            .map(|r| r.noisy_input)
            .collect();
        assert!(input.windows(2).all(|w| w[0] > w[1]), "{input:?}");
        assert!((input[3] - 20.0 * 4f64.log10()).abs() < 0.2, "{}", input[3]);
    }

    #[test]
    fn filters_match_hand_values() {
        // One bright pixel on black: the median removes it, the blur spreads it 4/16 : 2/16 : 1/16.
        let mut img = vec![0.0f32; 784];
        img[10 * 28 + 10] = 16.0;
        assert!(median_3x3(&img).iter().all(|&v| v == 0.0));
        let blurred = gaussian_3x3(&img);
        assert_eq!(blurred[10 * 28 + 10], 4.0);
        assert_eq!(blurred[10 * 28 + 11], 2.0);
        assert_eq!(blurred[11 * 28 + 11], 1.0);
        assert_eq!(blurred.iter().sum::<f32>(), 16.0);
        // A constant image is left alone by both, borders included.
        let flat = vec![0.3f32; 784];
        assert!(median_3x3(&flat)
            .iter()
            .chain(&gaussian_3x3(&flat))
            .all(|&v| (v - 0.3).abs() < 1e-6));
        // A vertical edge survives the median exactly.
        let edge: Vec<f32> = (0..784)
            .map(|i| if i % 28 < 14 { -1.0 } else { 1.0 })
            .collect();
        assert_eq!(median_3x3(&edge), edge);
    }
}
