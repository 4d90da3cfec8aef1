//! Chapter 1 trains for real: on the embedded MNIST subset (2,000 train / 500 test images), with
//! fixed seeds, each preset's test loss ends far below the untrained loss and near a reference run.
//!
//! Reference values come from `cargo test -p ch01-autoencoder --test convergence -- --nocapture`
//! (seed 0) and are printed by each test; the thresholds leave about 5 % of room above them so that
//! only a real regression (a broken loss, optimiser or batching) fails.

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
    let losses: Vec<String> = h
        .epochs
        .iter()
        .map(|e| format!("{:.4}", e.test.loss))
        .collect();
    println!(
        "{preset:?} {init:?} seed {seed}: test loss by epoch {}",
        losses.join(" ")
    );
    h
}

#[test]
fn basic_converges() {
    let h = run::<Basic>(PresetName::Basic, 20, 0, None);
    // Untrained: ≈ 784·ln 2 ≈ 543 BCE per image (σ(z) ≈ 0.5 everywhere).
    assert!((h.untrained_test_loss() - 784.0 * 2f64.ln()).abs() < 15.0);
    let last = h.last().test.loss;
    assert!(last < 0.3 * h.untrained_test_loss());
    assert!(
        last < REFERENCE_BASIC * 1.05,
        "{last} vs reference {REFERENCE_BASIC}"
    );
}

#[test]
fn deep_converges() {
    let h = run::<Deep>(PresetName::Deep, 20, 0, None);
    let last = h.last().test.loss;
    assert!(last < 0.5 * h.untrained_test_loss());
    assert!(
        last < REFERENCE_DEEP * 1.05,
        "{last} vs reference {REFERENCE_DEEP}"
    );
}

#[test]
fn shallow_converges() {
    let h = run::<Shallow>(PresetName::Shallow, 40, 0, None);
    let last = h.last().test.loss;
    assert!(last < 0.5 * h.untrained_test_loss());
    assert!(
        last < REFERENCE_SHALLOW * 1.05,
        "{last} vs reference {REFERENCE_SHALLOW}"
    );
}

/// The chapter's finding: the Keras model needs Keras' Glorot initialisation to reach the blog's
/// loss; with dfdx's (= PyTorch's) default it lags behind.
#[test]
fn glorot_beats_default_init_on_the_shallow_model() {
    let glorot = run::<Shallow>(PresetName::Shallow, 40, 0, Some(Init::Glorot))
        .last()
        .test
        .loss;
    let default = run::<Shallow>(PresetName::Shallow, 40, 0, Some(Init::Default))
        .last()
        .test
        .loss;
    // On the full set, 50 epochs end at 0.0915 (Glorot) vs 0.0984 (default) at seed 0
    // (`--preset init-comparison`); on this subset's 320 steps: 0.176 vs 0.183.
    assert!(
        glorot < 0.98 * default,
        "glorot {glorot} vs default {default}"
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

// Seed-0 reference runs on this subset (printed by the tests above): basic after 20 epochs,
// deep after 20, shallow (Glorot) after 40. For scale, the untrained losses are 544.8, 0.2325 and
// 0.6948, and the full-data runs of the chapter reach 68.1, 0.0128 and 0.0915.
const REFERENCE_BASIC: f64 = 100.43;
const REFERENCE_DEEP: f64 = 0.0431;
const REFERENCE_SHALLOW: f64 = 0.1764;
