//! What the tests of training runs share: a slice of the embedded MNIST subset small enough to
//! train on in a test, runs that keep their checkpoints in a given directory and resume from
//! them, and training with binary cross-entropy per image, the loss all these runs use.

use std::path::Path;

use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::{train_reconstruction, Autoencoder};
use ae_toolkit::train::{History, RunOptions, TrainConfig};

/// The first `train` training and `test` test images of the embedded MNIST subset.
pub fn mnist_head(train: usize, test: usize) -> DataSplits {
    let d = embedded(DatasetKind::Mnist);
    DataSplits {
        train: d.train.head(train),
        test: d.test.head(test),
        ..d
    }
}

/// Run `name`, keeping its metrics and checkpoints in `dir` and resuming from what is there.
pub fn resuming_in(dir: &Path, name: &str) -> RunOptions {
    RunOptions {
        run_dir: Some(dir.into()),
        resume: true,
        verbose: false,
        run_name: name.into(),
    }
}

/// [`train_reconstruction`] with binary cross-entropy per image.
pub fn train_bce<M: Autoencoder<Cpu>>(
    model: &mut M,
    dev: &Cpu,
    data: &DataSplits,
    cfg: &TrainConfig,
    run: &RunOptions,
) -> anyhow::Result<History> {
    train_reconstruction(model, dev, data, ReconstructionLoss::BcePerImage, cfg, run)
}
