//! Hidden tests for the course assignment (`cargo xtask assignment`): kept out of student copies.

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
fn generalisation_gap_uses_the_last_epoch() {
    let h = History {
        epochs: vec![
            record(0, 500.0, Some(500.0)),
            record(1, 90.0, Some(70.0)),
            record(2, 85.5, Some(88.0)),
        ],
    };
    assert_eq!(generalisation_gap(&h), -2.5);
}

#[test]
fn generalisation_gap_is_nan_without_a_training_evaluation() {
    let h = History {
        epochs: vec![record(0, 500.0, None), record(1, 80.0, None)],
    };
    assert!(generalisation_gap(&h).is_nan());
}
