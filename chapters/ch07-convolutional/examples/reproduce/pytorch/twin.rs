//! Running one PyTorch twin (`perf/pytorch/train_step.py train`) and checking that it trained the
//! Rust model's twin with the Rust model's configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ae_toolkit::data::DataSplits;
use ae_toolkit::paths::workspace_root;
use ae_toolkit::train::TrainConfig;
use anyhow::{bail, ensure, Context};
use serde::Deserialize;

/// The script, relative to the workspace root (it also holds the twins `cargo xtask perf` times).
pub(super) const SCRIPT: &str = "perf/pytorch/train_step.py";
/// The interpreter, as `cargo xtask perf` runs it by default.
const PYTHON: &str = "python3";
/// The script's exit status when `import torch` fails.
const EXIT_NO_TORCH: i32 = 3;
/// What to install when it does.
const INSTALL_TORCH: &str = "pip install torch==2.15.0";

/// PyTorch is not installed: `--experiment all` goes on without the PyTorch column,
/// `--experiment pytorch` stops with this message.
#[derive(Debug)]
pub(in super::super) struct NoTorch;

impl std::fmt::Display for NoTorch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PyTorch is not installed for `{PYTHON}`: `{INSTALL_TORCH}`, then run this experiment \
             again (the other experiments do not need it)"
        )
    }
}

impl std::error::Error for NoTorch {}

/// What the twin of a Rust model must match, and how the Rust model is trained.
pub(super) struct Expected {
    /// The twin's id in the script.
    pub(super) id: &'static str,
    /// The Rust model's training configuration (epochs, batch, betas, seed).
    pub(super) cfg: TrainConfig,
    /// `[name, shape]` of every parameter of the Rust model.
    pub(super) weights: Vec<(String, Vec<usize>)>,
    /// Pixels in `[−1, 1]` (Chapter 3's objective) rather than `[0, 1]`.
    pub(super) symmetric_range: bool,
    /// Settings of the objective the twin must report with these values (its latent size, its
    /// noise σ): what the parameter shapes and the optimizer settings do not show.
    pub(super) settings: Vec<(&'static str, f64)>,
}

/// What `train_step.py train` prints.
#[derive(Debug, Deserialize)]
pub(super) struct TwinRun {
    pub(super) batch_size: usize,
    pub(super) betas: [f64; 2],
    /// `[name, shape]` of every parameter, named by the module nesting (the Rust model's too).
    pub(super) weights: Vec<(String, Vec<usize>)>,
    pub(super) epochs: usize,
    pub(super) seed: u64,
    /// The data set's directory: `mnist`, `fashion-mnist`.
    pub(super) dataset: String,
    pub(super) symmetric_range: bool,
    pub(super) test_settings: BTreeMap<String, f64>,
    pub(super) train_images: usize,
    pub(super) test_images: usize,
    /// Before training, then after every epoch.
    pub(super) test_loss: Vec<f64>,
    /// The test loss's parts (a VAE's reconstruction and KL), like `test_loss`.
    pub(super) test_parts: BTreeMap<String, Vec<f64>>,
    pub(super) epoch_seconds: Vec<f64>,
    pub(super) training_seconds: f64,
    pub(super) torch: String,
    pub(super) threads: usize,
}

impl TwinRun {
    /// The test loss after the last epoch.
    pub(super) fn final_loss(&self) -> f64 {
        *self.test_loss.last().expect("checked: one loss per epoch")
    }

    /// The last value of every part of the test loss.
    pub(super) fn final_parts(&self) -> impl Iterator<Item = (&str, f64)> {
        self.test_parts
            .iter()
            .filter_map(|(name, values)| Some((name.as_str(), *values.last()?)))
    }

    /// The run's record for the runs directory: the per-epoch curves and timings.
    pub(super) fn record(&self, id: &str) -> serde_json::Value {
        serde_json::json!({
            "model": id,
            "torch": self.torch,
            "threads": self.threads,
            "epochs": self.epochs,
            "seed": self.seed,
            "test_loss": self.test_loss,
            "test_parts": self.test_parts,
            "epoch_seconds": self.epoch_seconds,
            "training_seconds": self.training_seconds,
        })
    }
}

/// Trains `expected`'s twin on the IDX files of `data_dir` and checks it against `expected`.
pub(super) fn train(
    expected: &Expected,
    data: &DataSplits,
    data_dir: &Path,
    threads: usize,
) -> anyhow::Result<TwinRun> {
    let twin = run_script(expected, data_dir, threads)?;
    check(&twin, expected, data)
        .with_context(|| format!("the PyTorch twin `{}` is not the Rust model's", expected.id))?;
    Ok(twin)
}

/// Runs `train_step.py train` for the twin; its progress goes to stderr, its JSON comes back.
fn run_script(expected: &Expected, data_dir: &Path, threads: usize) -> anyhow::Result<TwinRun> {
    let (id, cfg) = (expected.id, &expected.cfg);
    let script: PathBuf = workspace_root().join(SCRIPT);
    let mut command = Command::new(PYTHON);
    command
        .arg(&script)
        .args(["train", "--model", id])
        .args(["--epochs", &cfg.epochs.to_string()])
        .args(["--seed", &cfg.seed.to_string()])
        .args(["--threads", &threads.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(Stdio::inherit());
    eprintln!(
        "==> {PYTHON} {SCRIPT} train --model {id} --epochs {}",
        cfg.epochs
    );
    let out = command.output().with_context(|| {
        format!(
            "cannot run `{PYTHON}`: the PyTorch experiment needs Python 3 with PyTorch \
             (`{INSTALL_TORCH}`)"
        )
    })?;
    match out.status.code() {
        Some(0) => {}
        Some(EXIT_NO_TORCH) => return Err(NoTorch.into()),
        _ => bail!(
            "`{PYTHON} {SCRIPT} train --model {id}` failed ({})",
            out.status
        ),
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    serde_json::from_str(line.unwrap_or(""))
        .with_context(|| format!("unexpected output of `{SCRIPT} train`: {stdout:?}"))
}

/// The twin must be the Rust model's twin: the same parameters by name and shape, the same
/// batch size, Adam betas, epochs and seed, the same pixel range and objective settings, on as
/// many images — otherwise the table compares nothing.
fn check(twin: &TwinRun, expected: &Expected, data: &DataSplits) -> anyhow::Result<()> {
    let sorted = |mut w: Vec<(String, Vec<usize>)>| {
        w.sort();
        w
    };
    ensure!(
        sorted(twin.weights.clone()) == sorted(expected.weights.clone()),
        "its parameters differ from the Rust model's:\n  PyTorch {:?}\n  Rust    {:?}",
        twin.weights,
        expected.weights
    );
    let cfg = &expected.cfg;
    ensure!(
        twin.batch_size == cfg.batch_size
            && twin.betas == cfg.betas
            && twin.epochs == cfg.epochs
            && twin.seed == cfg.seed
            && (twin.train_images, twin.test_images) == (data.train.len(), data.test.len())
            && twin.test_loss.len() == cfg.epochs + 1
            && twin.epoch_seconds.len() == cfg.epochs,
        "its run differs from the Rust configuration: batch {} vs {}, betas {:?} vs {:?}, \
         epochs {} vs {}, seed {} vs {}, images {}/{} vs {}/{}",
        twin.batch_size,
        cfg.batch_size,
        twin.betas,
        cfg.betas,
        twin.epochs,
        cfg.epochs,
        twin.seed,
        cfg.seed,
        twin.train_images,
        twin.test_images,
        data.train.len(),
        data.test.len()
    );
    // The script reports the data directory's subdirectory it read, as `dir_name` names it.
    let dataset = data.kind.dir_name();
    ensure!(
        twin.dataset == dataset && twin.symmetric_range == expected.symmetric_range,
        "it reads {} (pixels in [−1, 1]: {}), the Rust model {dataset} ({})",
        twin.dataset,
        twin.symmetric_range,
        expected.symmetric_range
    );
    let settings: BTreeMap<String, f64> = expected
        .settings
        .iter()
        .map(|&(name, value)| (name.to_string(), value))
        .collect();
    ensure!(
        twin.test_settings == settings,
        "its objective's settings {:?} differ from the Rust model's {settings:?}",
        twin.test_settings
    );
    Ok(())
}
