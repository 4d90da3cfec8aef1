//! How a run is configured: the hyper-parameters ([`TrainConfig`], stored in every checkpoint)
//! and where it writes and whether it resumes ([`RunOptions`]).

use std::path::PathBuf;

use dfdx::optim::{AdamConfig, WeightDecay};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of a training run.
///
/// ```
/// use ae_toolkit::train::TrainConfig;
/// let cfg = TrainConfig { learning_rate: 3e-4, seed: 7, ..TrainConfig::adam(20, 64) };
/// // Stored in every checkpoint, so that `--resume` can check it continues the same run.
/// let json = serde_json::to_string(&cfg).unwrap();
/// assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per mini-batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Adam's (β₁, β₂).
    pub betas: [f64; 2],
    /// Seed for the shuffling order (model initialisation is seeded by the device).
    pub seed: u64,
    /// Images per evaluation batch (no gradients are kept, so this can be large).
    pub eval_batch_size: usize,
    /// Also evaluate on the training set (without a tape, like the test set) after every epoch,
    /// to measure the generalisation gap; costs one more pass over the training data.
    #[serde(default)]
    pub evaluate_train_set: bool,
    /// How the learning rate changes from epoch to epoch (constant unless a chapter says
    /// otherwise).
    #[serde(default)]
    pub schedule: LearningRateSchedule,
    /// Decoupled weight decay λ (Loshchilov & Hutter's AdamW): after each Adam step every
    /// parameter shrinks by `η·λ` of itself, `θ ← θ − η·λ·θ`; 0 turns it off.
    #[serde(default)]
    pub weight_decay: f64,
}

// ANCHOR: schedule
/// How Adam's learning rate changes over a run of `E` epochs, set once at the start of each
/// epoch `e = 1, …, E`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LearningRateSchedule {
    /// The configured rate `η` in every epoch.
    #[default]
    Constant,
    /// Cosine decay (Loshchilov & Hutter, 2017, without restarts): `η·(1 + cos(π(e − 1)/E))/2`,
    /// from `η` in the first epoch down towards zero in the last. It depends on `E`, so a run on
    /// this schedule can only be resumed with the same number of epochs.
    Cosine,
}
// ANCHOR_END: schedule

impl TrainConfig {
    /// Adam with lr 1e-3, betas (0.9, 0.999), evaluation in batches of 1,000.
    ///
    /// ```
    /// let cfg = ae_toolkit::train::TrainConfig::adam(10, 128);
    /// assert_eq!((cfg.learning_rate, cfg.betas), (1e-3, [0.9, 0.999]));
    /// ```
    pub fn adam(epochs: usize, batch_size: usize) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            learning_rate: 1e-3,
            betas: [0.9, 0.999],
            seed: 0,
            eval_batch_size: 1000,
            evaluate_train_set: false,
            schedule: LearningRateSchedule::Constant,
            weight_decay: 0.0,
        }
    }

    /// Adam's learning rate in `epoch` (1-based) under the configuration's schedule.
    ///
    /// ```
    /// use ae_toolkit::train::{LearningRateSchedule, TrainConfig};
    /// let cosine = TrainConfig { schedule: LearningRateSchedule::Cosine, ..TrainConfig::adam(4, 128) };
    /// // η(1 + cos(π(e − 1)/4))/2 for e = 1..4: η, 0.854η, η/2, 0.146η.
    /// let rates: Vec<f64> = (1..=4).map(|e| cosine.learning_rate_at(e)).collect();
    /// let expected = [1e-3, 0.853_553_4e-3, 0.5e-3, 0.146_446_6e-3];
    /// assert!(rates.iter().zip(expected).all(|(r, x)| (r - x).abs() < 1e-10), "{rates:?}");
    /// assert_eq!(TrainConfig::adam(4, 128).learning_rate_at(3), 1e-3);
    /// ```
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        match self.schedule {
            LearningRateSchedule::Constant => self.learning_rate,
            LearningRateSchedule::Cosine => {
                let progress = (epoch.saturating_sub(1)) as f64 / self.epochs.max(1) as f64;
                self.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }

    /// dfdx's Adam settings for this configuration (ε 10⁻⁸; weight decay only if asked for).
    ///
    /// ```
    /// use ae_toolkit::dfdx::optim::WeightDecay;
    /// use ae_toolkit::train::TrainConfig;
    /// let adam = TrainConfig::adam(1, 128).adam_config();
    /// assert_eq!((adam.lr, adam.betas, adam.eps), (1e-3, [0.9, 0.999], 1e-8));
    /// assert!(adam.weight_decay.is_none());
    /// let adamw = TrainConfig { weight_decay: 0.1, ..TrainConfig::adam(1, 128) }.adam_config();
    /// assert!(matches!(adamw.weight_decay, Some(WeightDecay::Decoupled(w)) if w == 0.1));
    /// ```
    pub fn adam_config(&self) -> AdamConfig {
        AdamConfig {
            lr: self.learning_rate,
            betas: self.betas,
            eps: 1e-8,
            weight_decay: (self.weight_decay > 0.0)
                .then_some(WeightDecay::Decoupled(self.weight_decay)),
        }
    }
}

/// Where a run writes its metrics and checkpoints, and whether it resumes.
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// use ae_toolkit::losses::ReconstructionLoss;
/// use ae_toolkit::model::train_reconstruction;
/// use ae_toolkit::train::{RunOptions, TrainConfig};
/// use dfdx::prelude::*;
/// type Tiny = ((Linear<784, 8>, ReLU), Linear<8, 784>);
/// let full = embedded(DatasetKind::Mnist);
/// let data = DataSplits { train: full.train.head(40), test: full.test.head(20), ..full };
/// let (dev, loss) = (Cpu::seed_from_u64(0), ReconstructionLoss::BcePerImage);
/// let dir = tempfile::tempdir().unwrap();
/// let run = RunOptions { run_dir: Some(dir.path().into()), run_name: "demo".into(), ..Default::default() };
/// let mut model = dev.build_module::<Tiny, f32>();
/// let first = train_reconstruction(&mut model, &dev, &data, loss, &TrainConfig::adam(1, 20), &run).unwrap();
/// for file in ["metrics.csv", "metrics.json", "checkpoint-epoch-0001.safetensors", "checkpoint.json"] {
///     assert!(dir.path().join(file).is_file(), "{file}");
/// }
/// // Asked for two epochs with `resume`, a new process continues after epoch 1.
/// let resume = RunOptions { resume: true, ..run };
/// let mut restarted = dev.build_module::<Tiny, f32>();
/// let cfg = TrainConfig::adam(2, 20);
/// let second = train_reconstruction(&mut restarted, &dev, &data, loss, &cfg, &resume).unwrap();
/// assert_eq!(second.epochs.len(), 3);
/// assert_eq!(second.epochs[..2], first.epochs[..]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Directory for `metrics.csv`, `metrics.json`, the checkpoint (`checkpoint.json` and the
    /// weights file it names, `checkpoint-epoch-NNNN.safetensors`); `None` writes nothing (tests).
    pub run_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `run_dir` if there is one.
    pub resume: bool,
    /// Show a progress bar and a line per epoch on stderr.
    pub verbose: bool,
    /// Names the run in the checkpoint so a different run's checkpoint is never resumed.
    pub run_name: String,
}
