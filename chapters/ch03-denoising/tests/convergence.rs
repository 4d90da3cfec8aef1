//! Chapter 3 trains for real on the embedded Fashion-MNIST subset (2,000 train / 500 test images,
//! scaled to [−1, 1]), seed 0, 10 epochs, and compares the denoiser on the corrupted test images
//! the training run scores (`corrupt_all` with stream 0 of the seed) with baselines computed
//! here on the same images: the noisy input itself, the same network trained on clean images
//! (the earlier chapters' objective) and, for masking noise, the chapter's two classical filters.
//!
//! With this small budget the Gaussian filter still beats the denoiser at σ = 0.5 (the test
//! asserts this, as the chapter states it, and prints both); the chapter's table, on the full
//! data, is where the comparison is made.

use ae_toolkit::data::{embedded, DataSplits, DatasetKind, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::train::RunOptions;
use ch03_denoising::{
    corrupt_all, denoise, gaussian_3x3, median_3x3, mse, noise_rng, train, training_config, Noise,
};

const SEED: u64 = 0;

/// Test MSE to the clean images, after training, of the denoiser trained with `noise` and of
/// the baselines.
struct Scores {
    denoiser: f64,
    noisy_input: f64,
    plain_autoencoder: f64,
    median_3x3: f64,
    gaussian_3x3: f64,
}

fn scores(noise: Noise) -> Scores {
    let data: DataSplits = embedded(DatasetKind::FashionMnist).to_symmetric_range();
    let clean = &data.test.images;
    let noisy = corrupt_all(&data.test, noise, &mut noise_rng(SEED, 0));
    let trained = |noise| {
        let dev = Cpu::seed_from_u64(SEED);
        let cfg = training_config(10, SEED);
        let (model, h) = train(&dev, &data, noise, &cfg, &RunOptions::default()).unwrap();
        (mse(&denoise(&model, &dev, &noisy), clean), h)
    };
    let (denoiser, history) = trained(noise);
    println!("{noise}: test MSE by epoch {}", history.test_loss_curve(4));
    let filtered = |filter: fn(&[f32]) -> Vec<f32>| {
        let out: Vec<f32> = noisy.chunks(PIXELS).flat_map(filter).collect();
        mse(&out, clean)
    };
    let s = Scores {
        denoiser,
        noisy_input: mse(&noisy, clean),
        plain_autoencoder: trained(Noise::None).0,
        median_3x3: filtered(median_3x3),
        gaussian_3x3: filtered(gaussian_3x3),
    };
    println!(
        "{noise}: denoiser {:.4}, noisy input {:.4}, plain autoencoder {:.4}, median 3×3 {:.4}, \
         Gaussian 3×3 {:.4}",
        s.denoiser, s.noisy_input, s.plain_autoencoder, s.median_3x3, s.gaussian_3x3
    );
    // The run's own last test score is the same quantity (summed in f32 per batch of 1000).
    let logged = history.last().test.loss;
    assert!(
        (s.denoiser - logged).abs() < 1e-3 * logged,
        "{} vs {logged}",
        s.denoiser
    );
    s
}

#[test]
fn gaussian_denoiser_beats_the_noisy_input_and_the_plain_autoencoder() {
    let s = scores(Noise::Gaussian { sigma: 0.5 });
    assert!(s.denoiser < 0.5 * s.noisy_input, "{}", s.denoiser);
    assert!(s.denoiser < s.plain_autoencoder, "{}", s.denoiser);
    // The chapter says the Gaussian filter still wins on this subset; if training improves
    // enough to turn that round, the sentence has to change with it.
    assert!(
        s.gaussian_3x3 < s.denoiser,
        "Gaussian 3×3 {} vs denoiser {}",
        s.gaussian_3x3,
        s.denoiser
    );
}

#[test]
fn masking_denoiser_beats_every_baseline() {
    let s = scores(Noise::Masking { fraction: 0.3 });
    assert!(s.denoiser < 0.5 * s.noisy_input, "{}", s.denoiser);
    assert!(s.denoiser < s.plain_autoencoder, "{}", s.denoiser);
    assert!(s.denoiser < s.median_3x3, "{}", s.denoiser);
    assert!(s.denoiser < s.gaussian_3x3, "{}", s.denoiser);
}
