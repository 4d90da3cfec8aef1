//! Chapter 3 trains for real on the embedded Fashion-MNIST subset (2,000 train / 500 test images,
//! scaled to [−1, 1]), seed 0: the denoised test images end much closer to the clean ones than
//! the noisy inputs are.
//!
//! Reference values from `cargo test -p ch03-denoising --test convergence -- --nocapture`;
//! thresholds leave about 5 % of room.

use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::train::{History, RunOptions, TrainConfig};
use ch03_denoising::{train, Noise};

fn run(noise: Noise) -> History {
    let dev = Cpu::seed_from_u64(0);
    let data = embedded(DatasetKind::FashionMnist).to_symmetric_range();
    let cfg = TrainConfig {
        betas: [0.5, 0.999],
        ..TrainConfig::adam(10, 128)
    };
    let (_, h) = train(&dev, &data, noise, &cfg, &RunOptions::default()).unwrap();
    println!(
        "{noise}: test MSE to the clean images by epoch {}",
        h.test_loss_curve(4)
    );
    h
}

#[test]
fn gaussian_denoising_beats_the_noisy_input() {
    let h = run(Noise::Gaussian { sigma: 0.5 });
    let last = h.last().test.loss;
    // The noisy input is σ² = 0.25 away from the clean image per pixel, on average.
    assert!(last < 0.5 * 0.25, "{last}");
    assert!(last < 0.25 * h.untrained_test_loss());
    assert!(
        last < REFERENCE_GAUSSIAN * 1.05,
        "{last} vs {REFERENCE_GAUSSIAN}"
    );
}

#[test]
fn masking_denoising_converges() {
    let h = run(Noise::Masking { fraction: 0.3 });
    let last = h.last().test.loss;
    assert!(last < 0.25 * h.untrained_test_loss());
    assert!(
        last < REFERENCE_MASKING * 1.05,
        "{last} vs {REFERENCE_MASKING}"
    );
}

// Seed-0 references after 10 epochs (160 steps) on the subset.
const REFERENCE_GAUSSIAN: f64 = 0.1156;
const REFERENCE_MASKING: f64 = 0.1134;
