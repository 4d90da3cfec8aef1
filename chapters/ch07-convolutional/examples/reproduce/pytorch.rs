//! The PyTorch column: the convolutional autoencoder's twin (`perf/pytorch/train_step.py`,
//! `train --model ch07-conv`) trained with the same configuration as the Rust model — the same
//! data, epochs, batch size, Adam settings and loss, its own initial weights and shuffles — so
//! that the chapter can show both final test losses side by side.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ae_toolkit::data::{DataSource, DataSplits, PIXELS};
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::paths::workspace_root;
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use anyhow::{bail, ensure, Context};
use ch07_convolutional::ConvAutoencoder;
use serde::Deserialize;

use super::*;

/// The script, relative to the workspace root (it also holds the twins `cargo xtask perf` times).
const SCRIPT: &str = "perf/pytorch/train_step.py";
/// The twin's id in the script (and in `cargo xtask perf`).
const TWIN: &str = "ch07-conv";
/// The interpreter, as `cargo xtask perf` runs it by default.
const PYTHON: &str = "python3";
/// The script's exit status when `import torch` fails.
const EXIT_NO_TORCH: i32 = 3;
/// What to install when it does.
const INSTALL_TORCH: &str = "pip install torch==2.15.0";

/// PyTorch is not installed: `--experiment all` goes on without the PyTorch column,
/// `--experiment pytorch` stops with this message.
#[derive(Debug)]
pub(super) struct NoTorch;

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

/// What `train_step.py train` prints.
#[derive(Debug, Deserialize)]
struct TwinRun {
    batch_size: usize,
    betas: [f64; 2],
    /// `[name, shape]` of every parameter, named by the module nesting (the Rust model's too).
    weights: Vec<(String, Vec<usize>)>,
    epochs: usize,
    train_images: usize,
    test_images: usize,
    /// Before training, then after every epoch.
    test_loss: Vec<f64>,
    epoch_seconds: Vec<f64>,
    training_seconds: f64,
    torch: String,
    threads: usize,
}

pub(super) fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let cfg = cfg(args, args.conv_epochs);
    // The twin reads the same IDX files the Rust side loaded: the full set, or the embedded
    // subset's own files.
    let data_dir = match &data.source {
        DataSource::Full(_) => args.run.data_dir().path,
        DataSource::Embedded => workspace_root().join("chapters/ae-toolkit/data"),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let twin = train_twin(&cfg, threads, &data_dir)?;
    check_twin(&twin, &cfg, data)?;
    let run_dir = args.run.run_dir(CHAPTER, "pytorch");
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let record = serde_json::to_string_pretty(&twin_json(&twin))?;
    ae_toolkit::atomic::write(&run_dir.join("ch07-conv.json"), record.as_bytes())?;

    let last = *twin.test_loss.last().context("no test loss")?;
    let per_epoch = twin.training_seconds / twin.epochs as f64;
    println!(
        "PyTorch {} twin: {last:.2} BCE per test image after {} epoch(s) ({:.1} s, {per_epoch:.1} \
         s per epoch, {} threads)",
        twin.torch, twin.epochs, twin.training_seconds, twin.threads
    );
    let out = args.run.out_dir(CHAPTER);
    let mut results = Results::new("pytorch");
    results
        .number("pytorch_conv_test_bce", last, 2)
        .number("pytorch_conv_test_bce_per_pixel", last / PIXELS as f64, 4)
        .with_unit(
            "pytorch_conv_training_seconds",
            twin.training_seconds,
            0,
            "s",
        )
        .with_unit("pytorch_conv_epoch_seconds", per_epoch, 1, "s")
        .count("pytorch_epochs", twin.epochs)
        .count("pytorch_threads", twin.threads);
    let rows = vec![vec![
        format!("convolutional AE, PyTorch {}", twin.torch),
        format!("{last:.2}"),
        format!("{:.4}", last / PIXELS as f64),
        format!(
            "{:.1} s ({per_epoch:.1} s per epoch, {} threads)",
            twin.training_seconds, twin.threads
        ),
    ]];
    let table = format!(
        "{}\nThe PyTorch twin (`{SCRIPT}`, `{TWIN}`: the same layers, checked by name and shape) \
         trained like the Rust model: {} for {} epoch(s), Adam (learning rate {}, betas {:?}), \
         batches of {}, BCE summed over each image's pixels, averaged over the {} test images; \
         its own initial weights and shuffles, seeded with {}. Training time: the shuffles, \
         batches and steps, not the test evaluations. {}\n",
        markdown_table(
            &[
                "model · 模型",
                "BCE per image · 每幅图像",
                "per pixel · 每像素",
                "training · 训练",
            ],
            &rows,
        ),
        data.title(),
        twin.epochs,
        cfg.learning_rate,
        cfg.betas,
        cfg.batch_size,
        twin.test_images,
        cfg.seed,
        command(args, &["--experiment".into(), "pytorch".into()]),
    );
    ae_toolkit::atomic::write(&out.join("pytorch.md"), table.as_bytes())?;
    results.write(&out)?;
    Ok(())
}

/// Runs `train_step.py train` for the twin; its progress goes to stderr, its JSON comes back.
fn train_twin(cfg: &TrainConfig, threads: usize, data_dir: &Path) -> anyhow::Result<TwinRun> {
    let script: PathBuf = workspace_root().join(SCRIPT);
    let mut command = Command::new(PYTHON);
    command
        .arg(&script)
        .args(["train", "--model", TWIN])
        .args(["--epochs", &cfg.epochs.to_string()])
        .args(["--seed", &cfg.seed.to_string()])
        .args(["--threads", &threads.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(Stdio::inherit());
    eprintln!(
        "==> {PYTHON} {SCRIPT} train --model {TWIN} --epochs {}",
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
        _ => bail!("`{PYTHON} {SCRIPT} train` failed ({})", out.status),
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    serde_json::from_str(line.unwrap_or(""))
        .with_context(|| format!("unexpected output of `{SCRIPT} train`: {stdout:?}"))
}

/// The twin must be the Rust model's twin: the same parameters by name and shape, the same
/// batch size, Adam betas and epochs, on as many images — otherwise the table compares nothing.
fn check_twin(twin: &TwinRun, cfg: &TrainConfig, data: &DataSplits) -> anyhow::Result<()> {
    let rust: Vec<(String, Vec<usize>)> =
        ae_toolkit::export::module_tensors(&ConvAutoencoder::build_on_device(&Cpu::default()))
            .into_iter()
            .map(|(name, shape, _)| (name, shape))
            .collect();
    let sorted = |mut w: Vec<(String, Vec<usize>)>| {
        w.sort();
        w
    };
    ensure!(
        sorted(twin.weights.clone()) == sorted(rust.clone()),
        "the PyTorch twin's parameters differ from the Rust model's:\n  PyTorch {:?}\n  Rust    \
         {rust:?}",
        twin.weights
    );
    ensure!(
        twin.batch_size == cfg.batch_size
            && twin.betas == cfg.betas
            && twin.epochs == cfg.epochs
            && (twin.train_images, twin.test_images) == (data.train.len(), data.test.len())
            && twin.test_loss.len() == cfg.epochs + 1
            && twin.epoch_seconds.len() == cfg.epochs,
        "the PyTorch run differs from the Rust configuration: batch {} vs {}, betas {:?} vs {:?}, \
         epochs {} vs {}, images {}/{} vs {}/{}",
        twin.batch_size,
        cfg.batch_size,
        twin.betas,
        cfg.betas,
        twin.epochs,
        cfg.epochs,
        twin.train_images,
        twin.test_images,
        data.train.len(),
        data.test.len()
    );
    Ok(())
}

/// The run's record for the runs directory: the per-epoch curve and timings.
fn twin_json(twin: &TwinRun) -> serde_json::Value {
    serde_json::json!({
        "model": TWIN,
        "torch": twin.torch,
        "threads": twin.threads,
        "epochs": twin.epochs,
        "test_loss": twin.test_loss,
        "epoch_seconds": twin.epoch_seconds,
        "training_seconds": twin.training_seconds,
    })
}
