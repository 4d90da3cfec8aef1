//! Chapter 2 trains for real on the embedded MNIST subset (2,000 train / 500 test images), seed 0:
//! the KL penalty drives the mean hidden activation from about one half down towards ρ while the
//! reconstruction still learns; without the penalty it does not. The baselines are computed here:
//! the same network trained without the penalty, and the mean training image as a reconstruction
//! of every test image (what a model that learned nothing about the digits scores).

use ae_toolkit::baseline::mean_image_loss;
use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::train::{EpochRecord, History, RunOptions, TrainConfig};
use ch02_sparse::{train, Penalty};

const EPOCHS: usize = 40;

fn run(penalty: Penalty) -> History {
    let dev = Cpu::seed_from_u64(0);
    let data = embedded(DatasetKind::Mnist);
    let cfg = TrainConfig::adam(EPOCHS, 128);
    let (_, h) = train(&dev, &data, penalty, 0.05, &cfg, &RunOptions::default()).unwrap();
    let row = |e: &EpochRecord| format!("{:.2}/{:.4}", e.test.loss, mean_activation(e));
    println!(
        "{penalty:?}: BCE/mean activation {} … {}",
        row(&h.epochs[0]),
        row(h.last())
    );
    h
}

fn mean_activation(e: &EpochRecord) -> f64 {
    e.test
        .parts
        .iter()
        .find(|(n, _)| n == "mean_activation")
        .unwrap()
        .1
}

#[test]
fn the_kl_penalty_makes_the_code_sparse_and_still_reconstructs() {
    let kl = run(Penalty::Kl {
        rho: 0.05,
        beta: 3.0,
    });
    let plain = run(Penalty::None);
    // Untrained sigmoid units sit near 1/2.
    assert!((mean_activation(&kl.epochs[0]) - 0.5).abs() < 0.1);
    let (sparse, dense) = (mean_activation(kl.last()), mean_activation(plain.last()));
    assert!(
        dense > 4.0 * sparse,
        "mean activation {sparse} vs {dense} without the penalty"
    );
    // Closer to ρ than to where it started.
    assert!((sparse - 0.05).abs() < (0.5 - sparse).abs(), "{sparse}");
    let data = embedded(DatasetKind::Mnist);
    let mean_image = mean_image_loss(ReconstructionLoss::BcePerImage, &data.train, &data.test);
    let (bce, plain_bce) = (kl.last().test.loss, plain.last().test.loss);
    println!("test BCE: KL {bce:.2}, no penalty {plain_bce:.2}, mean image {mean_image:.2}");
    assert!(bce < 0.75 * mean_image, "{bce} vs mean image {mean_image}");
    assert!(
        plain_bce < bce,
        "the penalty costs reconstruction: {plain_bce} vs {bce}"
    );
}
