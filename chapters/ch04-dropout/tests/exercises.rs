//! A self-check for the course exercise on `generalisation_gap` (`cargo xtask assignment`).

use ae_toolkit::train::{EpochRecord, History, Metrics};
use ch04_dropout::generalisation_gap;

fn record(epoch: usize, test: f64, train: Option<f64>) -> EpochRecord {
    EpochRecord {
        epoch,
        train_loss: Some(0.0),
        test: Metrics::loss_only(test),
        train_eval: train.map(Metrics::loss_only),
        seconds: 1.0,
        samples_per_sec: 1.0,
    }
}

#[test]
fn generalisation_gap_is_test_minus_train() {
    let h = History {
        epochs: vec![record(0, 500.0, Some(500.0)), record(1, 80.0, Some(75.0))],
    };
    assert_eq!(generalisation_gap(&h), 5.0);
}
