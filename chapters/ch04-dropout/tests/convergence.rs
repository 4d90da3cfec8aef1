//! Chapter 4 trains for real on the embedded Fashion-MNIST subset (2,000 train / 500 test images,
//! scaled to [−1, 1]), seed 0, with and without dropout.
//!
//! Reference values from `cargo test -p ch04-dropout --test convergence -- --nocapture`;
//! thresholds leave about 5 % of room.

use ae_toolkit::data::{embedded, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::Autoencoder;
use ae_toolkit::train::{History, RunOptions};
use ch04_dropout::{config, generalisation_gap, train, WithDropout, WithoutDropout};

fn run<M>() -> History
where
    M: BuildOnDevice<Cpu, f32>,
    M::Built: Autoencoder<Cpu>,
{
    let dev = Cpu::seed_from_u64(0);
    let data = embedded(DatasetKind::FashionMnist).to_symmetric_range();
    let (_, h) = train::<M, Cpu>(&dev, &data, &config(15, 0), &RunOptions::default()).unwrap();
    let losses: Vec<String> = h
        .epochs
        .iter()
        .map(|e| format!("{:.4}", e.test.loss))
        .collect();
    println!(
        "test MSE by epoch {}; gap {:.5}",
        losses.join(" "),
        generalisation_gap(&h)
    );
    h
}

#[test]
fn both_models_converge_and_the_training_set_is_scored_without_dropout() {
    let with = run::<WithDropout>();
    let without = run::<WithoutDropout>();
    for (h, reference) in [(&with, REFERENCE_WITH), (&without, REFERENCE_WITHOUT)] {
        let last = h.last();
        assert!(last.test.loss < 0.25 * h.untrained_test_loss());
        assert!(
            last.test.loss < reference * 1.05,
            "{} vs {reference}",
            last.test.loss
        );
        // The training set is scored every epoch, like the test set.
        assert!(h.epochs.iter().all(|e| e.train_eval.is_some()));
        assert!(generalisation_gap(h).is_finite());
    }
}

// Seed-0 references after 15 epochs on the subset.
const REFERENCE_WITH: f64 = 0.1040;
const REFERENCE_WITHOUT: f64 = 0.0921;
