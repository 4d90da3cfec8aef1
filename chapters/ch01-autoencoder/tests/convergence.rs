//! Chapter 1 trains for real: on the embedded MNIST subset (2,000 train / 500 test images), with
//! fixed seeds, each preset's test loss ends well below what needs no training at all — every
//! test image replaced by the mean training image (computed here) — and the basic preset below
//! PCA with as many components as its code (also computed here), while the narrower deep and
//! shallow presets stay above it on this subset. Each test prints its curve.

use ae_toolkit::baseline::{mean_image_loss, pca_loss};
use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::train::{History, RunOptions};
use ch01_autoencoder::{config, train, Basic, Deep, Init, PresetName, Shallow};

fn run<M>(preset: PresetName, epochs: usize, seed: u64, init: Option<Init>) -> History
where
    M: BuildOnDevice<Cpu, f32>,
    M::Built: ae_toolkit::model::Autoencoder<Cpu>,
{
    let dev = Cpu::seed_from_u64(seed);
    let data = embedded(DatasetKind::Mnist);
    let p = preset.preset();
    let init = init.unwrap_or(p.init);
    let cfg = config(&p, seed, Some(epochs));
    let h = train::<M, Cpu>(&dev, &p, init, &data, &cfg, &RunOptions::default())
        .unwrap()
        .history;
    println!(
        "{preset:?} {init:?} seed {seed}: test loss by epoch {}",
        h.test_loss_curve(4)
    );
    h
}

/// The losses, in the preset's loss, of two reconstructions that need no training: the mean
/// training image, and PCA with as many components as the code is wide (fitted on the same 2,000
/// training images; clamped into [0, 1] for the sigmoid outputs).
fn baselines(preset: PresetName, code: usize) -> (f64, f64) {
    let data = embedded(DatasetKind::Mnist);
    let loss = preset.preset().loss;
    let mean = mean_image_loss(loss, &data.train, &data.test);
    let pca = pca_loss(loss, &data.train, &data.test, code);
    println!("{preset:?} baselines: mean image {mean:.4}, PCA-{code} {pca:.4}");
    (mean, pca)
}

#[test]
fn basic_converges() {
    let h = run::<Basic>(PresetName::Basic, 20, 0, None);
    // Untrained: ≈ 784·ln 2 ≈ 543 BCE per image (σ(z) ≈ 0.5 everywhere).
    assert!((h.untrained_test_loss() - 784.0 * 2f64.ln()).abs() < 15.0);
    let last = h.last().test.loss;
    let (mean, pca) = baselines(PresetName::Basic, 20);
    assert!(last < MARGIN * mean, "{last} vs mean image {mean}");
    // In BCE, the basic model also beats PCA with 20 components (108.2 on this subset). The deep
    // and shallow presets do not beat PCA of their code size in 20 and 40 epochs on 2,000 images
    // (0.0163 and 0.1184 here), so for them the mean image is the bar, and their tests check that
    // they stay above PCA, as the chapter says.
    assert!(last < pca, "{last} vs PCA-20 {pca}");
}

#[test]
fn deep_converges() {
    let h = run::<Deep>(PresetName::Deep, 20, 0, None);
    let last = h.last().test.loss;
    let (mean, pca) = baselines(PresetName::Deep, 32);
    assert!(last < MARGIN * mean, "{last} vs mean image {mean}");
    // The chapter's remark: on so few images, in so few steps, `deep` does not beat PCA-32
    // (0.043 against 0.016 at seed 0).
    assert!(last > pca, "{last} vs PCA-32 {pca}");
}

#[test]
fn shallow_converges() {
    let h = run::<Shallow>(PresetName::Shallow, 40, 0, None);
    let last = h.last().test.loss;
    let (mean, pca) = baselines(PresetName::Shallow, 32);
    assert!(last < MARGIN * mean, "{last} vs mean image {mean}");
    // Nor does `shallow` beat PCA-32 here (0.176 against 0.118 at seed 0).
    assert!(last > pca, "{last} vs PCA-32 {pca}");
}

/// The chapter's finding: the Keras model needs Keras' Glorot initialisation to reach the blog's
/// loss; with dfdx's (= PyTorch's) default it lags behind. Not one lucky seed: on each of several
/// seeds, and on their mean by a margin.
#[test]
fn glorot_beats_default_init_on_the_shallow_model() {
    let final_loss = |seed, init| {
        run::<Shallow>(PresetName::Shallow, 40, seed, Some(init))
            .last()
            .test
            .loss
    };
    let seeds = [0, 1, 2];
    let glorot: Vec<f64> = seeds.iter().map(|&s| final_loss(s, Init::Glorot)).collect();
    let default: Vec<f64> = seeds
        .iter()
        .map(|&s| final_loss(s, Init::Default))
        .collect();
    println!("shallow after 40 epochs, seeds {seeds:?}: Glorot {glorot:?}, default {default:?}");
    for ((g, d), s) in glorot.iter().zip(&default).zip(seeds) {
        assert!(g < d, "seed {s}: glorot {g} vs default {d}");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&glorot) < 0.98 * mean(&default),
        "mean over seeds: glorot {} vs default {}",
        mean(&glorot),
        mean(&default)
    );
}

#[test]
fn same_seed_same_losses_other_seed_other_losses() {
    let a = run::<Basic>(PresetName::Basic, 2, 7, None);
    let b = run::<Basic>(PresetName::Basic, 2, 7, None);
    let c = run::<Basic>(PresetName::Basic, 2, 8, None);
    let losses = |h: &History| {
        h.epochs
            .iter()
            .map(|e| (e.train_loss, e.test.loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        losses(&a),
        losses(&b),
        "same seed must give bitwise identical losses"
    );
    assert_ne!(losses(&a), losses(&c));
}

/// A trained model must end at most this fraction of the mean image's loss (the seed-0 runs end
/// at 0.50, 0.67 and 0.69 of it; a model that learned only the mean image scores 1).
const MARGIN: f64 = 0.75;
