//! Reproduces Chapter 6 and writes every number and figure it shows into `book/generated/ch06/`.
//!
//! ```text
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment pca
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment deep --deep-epochs 200 --deep-input-noise 0.2 --deep-long-epochs 400
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment deep-validation
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment deep-chosen
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment deep-restart
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment anomaly
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment all
//! cargo run --release -p ch06-beyond --example reproduce -- --experiment all-quick
//! ```
//!
//! Data: full MNIST from the data directory (`cargo xtask fetch-data`), otherwise the embedded
//! 2,000/500-image subset (announced on stderr). Every deep run keeps a checkpoint after every
//! epoch in its own directory under `target/runs/ch06/` (`deep`, `deep-regularised`,
//! `deep-regularised-long`, `deep-validation-sigma-<σ>[-decay-<λ>]`, `deep-chosen`, and the warm
//! restarts `deep-validation-sigma-<σ>-restart[-<k>]` and `deep-chosen-restart[-<k>]`); `--resume`
//! continues them, and a finished one is read back instead of trained again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use ae_toolkit::cli::{non_negative, non_negative_f64, RunArgs, Selection};
use ae_toolkit::data::{DataSplits, DatasetKind, PIXELS};
use ae_toolkit::device::OnDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::losses::ReconstructionLoss;
use ae_toolkit::model::{reconstruct, train_reconstruction};
use ae_toolkit::pca::Pca;
use ae_toolkit::plot::{image_rows, line_chart, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::{
    checkpoint_weights_name, load_weights, EpochRecord, History, LearningRateSchedule, RunOptions,
    TrainConfig,
};
use ch06_beyond::*;
use clap::{Parser, ValueEnum};

mod anomaly;
mod deep;
mod pca;
mod validation;

use anomaly::anomaly;
use pca::PcaComparison;

const CHAPTER: &str = "ch06";
const PACKAGE: &str = "ch06-beyond";
/// Code widths of the PCA comparison.
const WIDTHS: [usize; 3] = [2, 10, 30];
/// Code width of the anomaly detectors (Chapter 1's `basic` and Chapter 5's VAE).
const ANOMALY_K: usize = 20;
/// Draws of the reparameterized code per image for the VAE's −ELBO score.
const ELBO_SAMPLES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Experiment {
    /// Linear autoencoder vs PCA (principal angles), and a nonlinear one, at code widths 2, 10, 30
    Pca,
    /// The 784-1000-500-250-30 autoencoder against Hinton & Salakhutdinov's numbers
    Deep,
    /// The deep autoencoder's regulariser (input noise σ, then weight decay λ) chosen on
    /// held-out training images
    DeepValidation,
    /// The deep autoencoder with that regulariser on the long budget (`--deep-long-epochs`)
    DeepChosen,
    /// The chosen deep autoencoder continued by more cosine cycles from its last weights (warm
    /// restarts, up to `--cycles`), as long as each lowers the error on the held-out images
    DeepRestart,
    /// Anomaly detection: each digit held out in turn, AE vs VAE vs PCA (ROC-AUC)
    Anomaly,
    /// Everything above
    All,
    /// Everything but the deep autoencoder's runs, which take hours on 2 CPU cores: `pca` and
    /// `anomaly` (`cargo xtask reproduce --quick`)
    AllQuick,
}

/// Reproduce Chapter 6's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value_t = Experiment::Pca)]
    experiment: Experiment,
    /// Epochs of the linear autoencoders (cheap; they approach the PCA subspace slowly)
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    linear_epochs: u32,
    /// Epochs of each deep autoencoder run: its budget (about 13 s each on 2 idle CPU cores)
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    deep_epochs: u32,
    /// Epochs of a third deep run, with the same regulariser as the second on a longer schedule
    /// (a regulariser slows learning down; 0 for none), and of `--experiment deep-chosen`
    #[arg(long, value_name = "N", default_value_t = 400)]
    deep_long_epochs: u32,
    /// How the deep autoencoder's learning rate changes over its epochs
    #[arg(long, value_enum, default_value_t = LearningRateSchedule::Cosine)]
    deep_schedule: LearningRateSchedule,
    /// Decoupled weight decay λ (AdamW) of the second, regularised deep run: every step shrinks
    /// each parameter by η·λ of itself; 0 for none
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_f64)]
    deep_weight_decay: f64,
    /// Standard deviation σ of the Gaussian noise on the training inputs of the second,
    /// regularised deep run (pixels in [0, 1]; the target stays the clean image); 0 for none.
    /// With no noise and no weight decay, only the plain run is trained
    #[arg(long, default_value_t = 0.2, value_parser = non_negative)]
    deep_input_noise: f32,
    /// The σ values `--experiment deep-validation` compares, each trained on five sixths of the
    /// training images and scored on the last sixth
    #[arg(long, value_name = "σ,…", value_delimiter = ',', default_values_t = [0.05, 0.1, 0.2, 0.3], value_parser = non_negative)]
    validation_noise: Vec<f32>,
    /// The weight decays λ `--experiment deep-validation` tries next, each with the σ that won
    /// among `--validation-noise` (empty: none)
    #[arg(long, value_name = "λ,…", value_delimiter = ',', default_values_t = [0.1], value_parser = non_negative_f64)]
    validation_weight_decay: Vec<f64>,
    /// Epochs of each validation run
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    validation_epochs: u32,
    /// The σ of `--experiment deep-chosen` [default: the one the validation run chose, as
    /// recorded in the chapter's results]
    #[arg(long, value_name = "σ", value_parser = non_negative)]
    chosen_noise: Option<f32>,
    /// The weight decay λ of `--experiment deep-chosen` [default: the one the validation run
    /// chose, as recorded in the chapter's results]
    #[arg(long, value_name = "λ", value_parser = non_negative_f64)]
    chosen_weight_decay: Option<f64>,
    /// The most cosine cycles of `--experiment deep-restart`, the first run's included: each warm
    /// restart is tried on the held-out images first, and the runs stop at the first cycle that
    /// does not lower the held-out error
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    cycles: u32,
    // The nonlinear autoencoders and VAEs train for 10 epochs, as in Chapters 1 and 5; the shared
    // `--epochs` flag overrides every epoch count.
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let args = Args::parse();
    ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::Mnist], |data| run(&args, &data));
}

fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let quick = args.experiment == Experiment::AllQuick;
    if quick || args.experiment.includes(Experiment::Pca) {
        args.run.on_device(PcaComparison { args, data })?;
    }
    if args.experiment.includes(Experiment::Deep) {
        deep::deep(args, data)?;
    }
    let mut chosen = None;
    if args.experiment.includes(Experiment::DeepValidation) {
        chosen = Some(validation::choose_regulariser(args, data)?);
    }
    if args.experiment.includes(Experiment::DeepChosen) {
        validation::train_with_chosen_regulariser(args, data, chosen)?;
    }
    if args.experiment.includes(Experiment::DeepRestart) {
        validation::train_with_warm_restart(args, data, chosen)?;
    }
    if quick || args.experiment.includes(Experiment::Anomaly) {
        anomaly(args, data)?;
    }
    Ok(())
}

fn command(args: &Args, flags: &[String]) -> String {
    format!("`{}`", args.run.reproduce_command(PACKAGE, flags))
}

fn degrees(radians: &[f64]) -> Vec<f64> {
    radians.iter().map(|r| r.to_degrees()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Linear autoencoder vs PCA
