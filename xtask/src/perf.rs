//! `cargo xtask perf`: the chapters' models side by side with PyTorch on this machine.
//!
//! The Rust side is the `perf` crate: its criterion benchmark (`perf/benches/train_step.rs`) times
//! one training step of each model, its binary reports the models and times one epoch. The PyTorch
//! side is `perf/pytorch/train_step.py`. Both run in the same invocation, interleaved — in every
//! round, each model is timed in Rust and then in PyTorch (the order alternating from round to
//! round), and the matmul peak likewise — so that a machine getting busier or cooler in the
//! middle affects both columns alike. The tables report the median over the rounds.
//!
//! PyTorch is optional: without it the Rust columns are still measured and written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ae_toolkit::data::{DataDir, DatasetKind};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use anyhow::{bail, Context};
use cargo_metadata::TargetKind;
use clap::builder::TypedValueParser as _;
use serde::{Deserialize, Serialize};

/// The PyTorch version the comparison was written for.
pub const TORCH_PIN: &str = "2.15.0";
/// The exit status of the PyTorch script when `import torch` fails.
pub const EXIT_NO_TORCH: i32 = 3;
/// What to print when PyTorch is missing.
pub const NO_TORCH: &str =
    "PyTorch not installed: pip install torch==2.15.0 to get the comparison column";
/// Rounds when `--rounds` is not given.
pub const DEFAULT_ROUNDS: usize = 5;
/// The PyTorch script, relative to the workspace root.
pub const SCRIPT: &str = "perf/pytorch/train_step.py";
/// Where the tables go, relative to the workspace root.
pub const OUT_DIR: &str = "book/generated/perf";

/// What `cargo xtask perf` was asked to do: its command-line flags (`main.rs` flattens them into
/// the `perf` subcommand), declared once with their defaults.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct Options {
    /// Rounds; every round times every model in both frameworks, tables report the median
    #[arg(long, default_value_t = DEFAULT_ROUNDS, value_parser = clap::value_parser!(u32).range(1..).map(|r| r as usize))]
    pub rounds: usize,
    /// A smoke test: fractions of a second per timing (and the embedded subset for --epochs)
    #[arg(long)]
    pub quick: bool,
    /// Only this model (repeatable), e.g. ch05-vae
    #[arg(long, value_name = "ID")]
    pub only: Vec<String>,
    /// Time one epoch on the full training set instead of one step
    #[arg(long)]
    pub epochs: bool,
    /// Threads for dfdx and PyTorch [default: every logical CPU]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..).map(|t| t as usize))]
    pub threads: Option<usize>,
    /// The Python interpreter that has PyTorch
    #[arg(long, default_value = "python3", value_parser = |p: &str| anyhow::Ok(Python::new(p)))]
    pub python: Python,
    /// Data directory for --epochs [default: $AE_DATA_DIR, else `data/`]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to write the tables [default: book/generated/perf]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Cargo features to build the Rust side (the `perf` crate) with
    #[arg(long)]
    pub features: Option<String>,
    /// Measure nothing: rewrite the table and its named values from the recorded run
    /// (epoch.json or train-step.json in the output directory)
    #[arg(long)]
    pub from_record: bool,
}

impl Options {
    /// Seconds of (warm-up, measurement) per timing, and criterion's sample count.
    fn budget(&self) -> (f64, f64, usize) {
        if self.quick {
            (0.2, 0.5, 10)
        } else {
            (2.0, 5.0, 20)
        }
    }
}

/// A Python interpreter and the arguments it always gets before the script.
#[derive(Clone, Debug, PartialEq)]
pub struct Python {
    /// The program, e.g. `python3`.
    pub program: String,
    /// Arguments before the script (e.g. `-S` in tests, to hide installed packages).
    pub args: Vec<String>,
}

impl Python {
    /// `program` with no extra arguments.
    pub fn new(program: &str) -> Self {
        Python {
            program: program.to_string(),
            args: Vec::new(),
        }
    }

    fn command(&self, script: &Path) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args).arg(script);
        c
    }
}

/// What `train_step.py check` said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorchInfo {
    /// `torch.__version__`.
    pub torch: String,
    /// `torch.backends.cpu.get_cpu_capability()`, e.g. `AVX512`.
    pub cpu_capability: String,
    /// The Python version.
    pub python: String,
    /// The models the script has twins of.
    pub models: Vec<String>,
}

/// Whether the PyTorch column can be measured.
#[derive(Clone, Debug, PartialEq)]
pub enum Torch {
    /// The script runs and imports torch.
    Available(TorchInfo),
    /// No PyTorch (or no Python); the reason, for the log.
    Missing(String),
}

/// Decides from the outcome of `train_step.py check` whether PyTorch is there. A Python that
/// cannot be started, or the script's "no torch" exit status, means missing; any other failure is
/// an error (a bug in the script, which should not pass silently as "not installed").
pub fn classify_probe(outcome: std::io::Result<Output>, python: &str) -> anyhow::Result<Torch> {
    let out = match outcome {
        Ok(out) => out,
        Err(e) => return Ok(Torch::Missing(format!("cannot run `{python}`: {e}"))),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let info = parse_last_json(&out.stdout)
                .and_then(|v| Ok(serde_json::from_value::<TorchInfo>(v)?))
                .context("unexpected output of `train_step.py check`")?;
            Ok(Torch::Available(info))
        }
        Some(EXIT_NO_TORCH) => Ok(Torch::Missing(last_line(&stderr).to_string())),
        _ => bail!(
            "`{python} {SCRIPT} check` failed ({}):\n{stderr}",
            out.status
        ),
    }
}

/// Runs `train_step.py check` with `python`.
pub fn probe_torch(root: &Path, python: &Python) -> anyhow::Result<Torch> {
    let outcome = python.command(&root.join(SCRIPT)).arg("check").output();
    classify_probe(outcome, &python.program)
}

fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// The JSON object on the last non-empty line of `stdout`.
fn parse_last_json(stdout: &[u8]) -> anyhow::Result<serde_json::Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = last_line(&text);
    serde_json::from_str(line).with_context(|| format!("not JSON: {line:?}"))
}

/// A model as the `perf` binary describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Identifier.
    pub id: String,
    /// Chapter crate.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// Architecture and objective.
    pub what: String,
    /// Data set (as `DatasetKind` displays it).
    pub dataset: String,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's betas.
    pub betas: [f64; 2],
    /// `(in, out)` of every `Linear` layer.
    pub linears: Vec<(usize, usize)>,
    /// FLOPs of a training step (matrix products only).
    pub flops_per_step: u64,
}

/// The median; `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One model's timings, one value per round: seconds per step, or with `--epochs` seconds of
/// one epoch (and what the epoch trained on).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// The model.
    pub model: ModelInfo,
    /// Epochs: what the Rust side trained on (e.g. "MNIST full set (60000 train / 10000 test)").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// Epochs: training images in the epoch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images: usize,
    /// Rust: criterion's median time per step, or the epoch's seconds, per round.
    pub rust: Vec<f64>,
    /// PyTorch likewise; `None` without PyTorch or twin.
    pub torch: Option<Vec<f64>>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A row of the step table, derived from the medians.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// Identifier.
    pub id: String,
    /// Architecture and objective.
    pub what: String,
    /// Images per step.
    pub batch_size: usize,
    /// FLOPs per step.
    pub flops_per_step: u64,
    /// Median seconds per step.
    pub rust_seconds: f64,
    /// Median seconds per step.
    pub torch_seconds: Option<f64>,
    /// Images per second.
    pub rust_images_per_s: f64,
    /// Images per second.
    pub torch_images_per_s: Option<f64>,
    /// Rust images/s ÷ PyTorch images/s (above 1: Rust is faster).
    pub ratio: Option<f64>,
    /// GFLOP/s.
    pub rust_gflops: f64,
    /// GFLOP/s.
    pub torch_gflops: Option<f64>,
    /// Percent of the measured matmul peak.
    pub rust_peak_percent: f64,
    /// Percent of the measured matmul peak.
    pub torch_peak_percent: Option<f64>,
}

/// The matmul peak: GFLOP/s of a large single-precision product in each framework.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Side of the square matrices.
    pub n: usize,
    /// dfdx's GFLOP/s (median over rounds).
    pub rust_gflops: f64,
    /// torch.mm's GFLOP/s (median over rounds).
    pub torch_gflops: Option<f64>,
}

impl Peak {
    /// From seconds per product, one per round.
    pub fn from_times(n: usize, rust: &[f64], torch: Option<&[f64]>) -> Option<Peak> {
        let flops = 2.0 * (n as f64).powi(3);
        Some(Peak {
            n,
            rust_gflops: flops / median(rust)? / 1e9,
            torch_gflops: torch.and_then(median).map(|s| flops / s / 1e9),
        })
    }

    /// The peak the percentages refer to: the faster of the two measured products.
    pub fn gflops(&self) -> f64 {
        self.torch_gflops
            .map_or(self.rust_gflops, |t| t.max(self.rust_gflops))
    }
}

/// The table row of one model's timings, with percentages of `peak_gflops`.
pub fn step_row(t: &Timings, peak_gflops: f64) -> Option<StepRow> {
    let rust = median(&t.rust)?;
    let torch = t.torch.as_deref().and_then(median);
    let b = t.model.batch_size as f64;
    let flops = t.model.flops_per_step as f64;
    let gflops = |s: f64| flops / s / 1e9;
    Some(StepRow {
        id: t.model.id.clone(),
        what: t.model.what.clone(),
        batch_size: t.model.batch_size,
        flops_per_step: t.model.flops_per_step,
        rust_seconds: rust,
        torch_seconds: torch,
        rust_images_per_s: b / rust,
        torch_images_per_s: torch.map(|s| b / s),
        ratio: torch.map(|s| s / rust),
        rust_gflops: gflops(rust),
        torch_gflops: torch.map(gflops),
        rust_peak_percent: 100.0 * gflops(rust) / peak_gflops,
        torch_peak_percent: torch.map(|s| 100.0 * gflops(s) / peak_gflops),
    })
}

/// A row of the epoch table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// Identifier.
    pub id: String,
    /// The data.
    pub data: String,
    /// Training images.
    pub images: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Median seconds per epoch.
    pub rust_seconds: f64,
    /// Median seconds per epoch.
    pub torch_seconds: Option<f64>,
    /// Rust time ÷ PyTorch time inverted: Rust images/s ÷ PyTorch images/s.
    pub ratio: Option<f64>,
}

/// The table row of one model's epoch timings.
pub fn epoch_row(t: &Timings) -> Option<EpochRow> {
    let rust = median(&t.rust)?;
    let torch = t.torch.as_deref().and_then(median);
    Some(EpochRow {
        id: t.model.id.clone(),
        data: t.data.clone(),
        images: t.images,
        batch_size: t.model.batch_size,
        rust_seconds: rust,
        torch_seconds: torch,
        ratio: torch.map(|s| s / rust),
    })
}

/// Where and with what the measurement ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name (sysinfo; on Linux, the `model name` of /proc/cpuinfo).
    pub cpu: String,
    /// Vector extensions the CPU reports (AVX2, FMA, AVX-512F).
    pub isa: Vec<String>,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// Threads each framework was given.
    pub threads: usize,
    /// `rustc -V`.
    pub rustc: String,
    /// RUSTFLAGS, if set.
    pub rustflags: Option<String>,
    /// Cargo features the `perf` crate was built with.
    pub features: Option<String>,
    /// dfdx's version from Cargo.lock.
    pub dfdx: String,
    /// PyTorch, if installed.
    pub torch: Option<TorchInfo>,
    /// The 1-minute load average before and after the measurement (sysinfo).
    pub load: (Option<f64>, Option<f64>),
}

/// What the rounds measured: every model's timings, the table rows, the matmul peak (steps).
type Measured<R> = (Vec<Timings>, Vec<R>, Option<Peak>);

/// The note under a table when PyTorch cells are empty.
pub fn torch_note(installed: bool, missing_twins: &[String]) -> Option<String> {
    if !installed {
        return Some(format!(
            "No PyTorch column: PyTorch is not installed (`pip install torch=={TORCH_PIN}`)."
        ));
    }
    (!missing_twins.is_empty()).then(|| {
        let ids: Vec<String> = missing_twins.iter().map(|id| format!("`{id}`")).collect();
        format!("No PyTorch twin in `{SCRIPT}` yet: {}.", ids.join(", "))
    })
}

/// Everything a run measured, as written to the JSON file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report<R> {
    /// The command that produced it, as it was typed (see `invocation`).
    pub command: String,
    /// A smoke test rather than a measurement.
    pub quick: bool,
    /// Rounds.
    pub rounds: usize,
    /// The machine.
    pub machine: Machine,
    /// The matmul peak (step timing only).
    pub peak: Option<Peak>,
    /// Per-round timings.
    pub timings: Vec<Timings>,
    /// The table rows.
    pub rows: Vec<R>,
    /// Why PyTorch cells are empty, if some are.
    pub torch_note: Option<String>,
}

fn dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "—".into())
}

/// The table of the machine and the run, after a blank line: the table the page shows under the
/// results (a smoke test and empty PyTorch cells are said there too). What the columns mean is
/// the appendix's prose, in each language; the generated files hold tables only.
fn machine_table<R>(r: &Report<R>, quick: &str) -> String {
    let rows: Vec<Vec<String>> = (machine_rows(r, quick).into_iter())
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| vec![k, v])
        .collect();
    format!("\n{}", markdown_table(&["", ""], &rows))
}

fn machine_rows<R>(r: &Report<R>, quick: &str) -> Vec<(String, String)> {
    let m = &r.machine;
    vec![
        (
            "smoke test · 冒烟测试".into(),
            if r.quick {
                format!("`--quick`: {quick}; shows that the harness works, not a measurement")
            } else {
                String::new()
            },
        ),
        (
            "CPU · 处理器".to_string(),
            format!(
                "{} ({} logical CPUs; {})",
                m.cpu,
                m.logical_cpus,
                if m.isa.is_empty() {
                    "no AVX2".to_string()
                } else {
                    m.isa.join(", ")
                }
            ),
        ),
        (
            "threads · 线程".into(),
            format!(
                "{} per framework (`RAYON_NUM_THREADS` for dfdx, `torch.set_num_threads` for \
                 PyTorch)",
                m.threads
            ),
        ),
        (
            "Rust".into(),
            format!(
                "{}, dfdx {}, release build{}{}",
                m.rustc,
                m.dfdx,
                m.features
                    .as_ref()
                    .map(|f| format!(", features `{f}`"))
                    .unwrap_or_default(),
                m.rustflags
                    .as_ref()
                    .map(|f| format!(", RUSTFLAGS=`{f}`"))
                    .unwrap_or_default()
            ),
        ),
        (
            "PyTorch".into(),
            m.torch.as_ref().map_or("not installed".to_string(), |t| {
                format!(
                    "{} (CPU capability {}), Python {}",
                    t.torch, t.cpu_capability, t.python
                )
            }),
        ),
        (
            "load · 负载".into(),
            match m.load {
                (Some(a), Some(b)) => format!(
                    "1-minute load average {a:.2} before, {b:.2} after (an idle machine: near 0)"
                ),
                _ => String::new(),
            },
        ),
        (
            "rounds · 测量回合".into(),
            format!("{} (median over rounds)", r.rounds),
        ),
        ("command · 命令".into(), format!("`{}`", r.command)),
        (
            "note · 说明".into(),
            r.torch_note.clone().unwrap_or_default(),
        ),
    ]
}

/// The Markdown of the step table.
pub fn step_markdown(r: &Report<StepRow>) -> String {
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            vec![
                format!("`{}` ({})", row.id, row.what),
                row.batch_size.to_string(),
                format!("{:.0}", row.rust_images_per_s),
                dash(row.torch_images_per_s.map(|v| format!("{v:.0}"))),
                dash(row.ratio.map(|v| format!("{v:.2}"))),
                format!("{:.1}", row.rust_gflops),
                dash(row.torch_gflops.map(|v| format!("{v:.1}"))),
                format!("{:.0} %", row.rust_peak_percent),
                dash(row.torch_peak_percent.map(|v| format!("{v:.0} %"))),
            ]
        })
        .collect();
    markdown_table(
        &[
            "model · 模型",
            "batch · 批量",
            "Rust img/s · 图像/秒",
            "PyTorch img/s · 图像/秒",
            "Rust ÷ PyTorch",
            "Rust GFLOP/s",
            "PyTorch GFLOP/s",
            "Rust % of peak · 峰值占比",
            "PyTorch % of peak · 峰值占比",
        ],
        &rows,
    ) + &machine_table(r, "a fraction of a second per timing")
}

/// The Markdown of the epoch table.
pub fn epoch_markdown(r: &Report<EpochRow>) -> String {
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            vec![
                format!("`{}`", row.id),
                row.data.clone(),
                row.batch_size.to_string(),
                format!("{:.2}", row.rust_seconds),
                dash(row.torch_seconds.map(|v| format!("{v:.2}"))),
                format!("{:.0}", row.images as f64 / row.rust_seconds),
                dash(
                    row.torch_seconds
                        .map(|v| format!("{:.0}", row.images as f64 / v)),
                ),
                dash(row.ratio.map(|v| format!("{v:.2}"))),
            ]
        })
        .collect();
    markdown_table(
        &[
            "model · 模型",
            "data · 数据",
            "batch · 批量",
            "Rust s · 秒",
            "PyTorch s · 秒",
            "Rust img/s · 图像/秒",
            "PyTorch img/s · 图像/秒",
            "Rust ÷ PyTorch",
        ],
        &rows,
    ) + &machine_table(r, "one epoch of the 2,000-image embedded subset")
}

/// Runs `cargo xtask perf` from the workspace at `root`.
pub fn run(root: &Path, opts: &Options) -> anyhow::Result<()> {
    // clap has checked that --rounds and --threads are at least 1.
    let threads = (opts.threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let out_dir = opts.out.clone().unwrap_or_else(|| root.join(OUT_DIR));
    if opts.from_record {
        return rewrite_from_record(&out_dir, opts.epochs);
    }

    // Full data first: without it the epoch timing has nothing to do.
    let data_dir = DataDir::resolve(opts.data_dir.clone());
    if opts.epochs && !opts.quick {
        let missing: Vec<String> = DatasetKind::ALL
            .into_iter()
            .filter(|k| {
                let dir = data_dir.dataset_dir(*k);
                k.files().iter().any(|f| f.find_in(&dir).is_none())
            })
            .map(|k| k.to_string())
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "The epoch timing needs the full data sets; {} not in {data_dir}. Run `cargo \
                 xtask fetch-data` first (or `--quick` for the embedded subset). Skipping.",
                missing.join(" and ")
            );
            return Ok(());
        }
    }

    let rust = RustSide::build(root, threads, opts.features.as_deref())?;
    let mut models = rust.models()?;
    if !opts.only.is_empty() {
        for id in &opts.only {
            if !models.iter().any(|m| &m.id == id) {
                let known: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
                bail!("no model `{id}`; the models are {}", known.join(", "));
            }
        }
        models.retain(|m| opts.only.contains(&m.id));
    }
    let rayon = rust.threads()?;
    anyhow::ensure!(
        rayon == threads,
        "dfdx would run on {rayon} threads instead of {threads}"
    );

    let torch = match probe_torch(root, &opts.python)? {
        Torch::Available(info) => Some(info),
        Torch::Missing(why) => {
            eprintln!("{NO_TORCH}\n  ({why})");
            None
        }
    };
    let py = torch.as_ref().map(|info| PySide {
        python: opts.python.clone(),
        script: root.join(SCRIPT),
        threads,
        models: info.models.clone(),
    });
    let mut machine = machine(root, threads, torch.clone());
    machine.features = opts.features.clone();
    if let Some(load) = machine.load.0.filter(|&l| l > 0.5) {
        eprintln!(
            "warning: the machine is busy (1-minute load average {load:.2}); the timings will be \
             noisy, PyTorch's especially (its OpenMP threads spin while they wait for a core)"
        );
    }
    eprintln!(
        "{} on {} ({threads} thread(s) per framework); {} round(s)",
        if opts.epochs {
            "one epoch"
        } else {
            "one training step"
        },
        machine.cpu,
        opts.rounds
    );

    if opts.epochs {
        let m = measure_epochs(root, opts, &rust, py.as_ref(), &models, &data_dir)?;
        machine.load.1 = load_average();
        let r = report(opts, machine, py.is_some(), m);
        write_report(&out_dir, "epoch", &r, &epoch_markdown(&r))?;
        epoch_results(&r).write(&out_dir).map(drop)
    } else {
        let m = measure_steps(opts, &rust, py.as_ref(), &models)?;
        machine.load.1 = load_average();
        let r = report(opts, machine, py.is_some(), m);
        write_report(&out_dir, "train-step", &r, &step_markdown(&r))?;
        step_results(&r).write(&out_dir).map(drop)
    }
}

/// Writes the table and the named values again from the report a run recorded (its JSON), so
/// that they come from that run and not from a retyped copy.
fn rewrite_from_record(out_dir: &Path, epochs: bool) -> anyhow::Result<()> {
    let name = if epochs { "epoch" } else { "train-step" };
    let path = out_dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no recorded run at {}: run `cargo xtask perf{}` first",
            path.display(),
            if epochs { " --epochs" } else { "" }
        )
    })?;
    let what = || format!("{} is not a report of `cargo xtask perf`", path.display());
    if epochs {
        let r: Report<EpochRow> = serde_json::from_str(&text).with_context(what)?;
        write_report(out_dir, name, &r, &epoch_markdown(&r))?;
        epoch_results(&r).write(out_dir).map(drop)
    } else {
        let r: Report<StepRow> = serde_json::from_str(&text).with_context(what)?;
        write_report(out_dir, name, &r, &step_markdown(&r))?;
        step_results(&r).write(out_dir).map(drop)
    }
}

/// A model id as a value name: `ch06-deep` → `ch06_deep`.
fn value_name(id: &str) -> String {
    id.replace('-', "_")
}

/// The 1-minute load average before and after, as the tables show it (`load_before`, …).
fn load_results<R>(r: &Report<R>, prefix: &str, out: &mut Results) {
    for (name, load) in [("before", r.machine.load.0), ("after", r.machine.load.1)] {
        if let Some(l) = load {
            out.number(&format!("{prefix}_load_{name}"), l, 2);
        }
    }
}

/// The step table's numbers by name for the prose (book/generated/perf/results.json): the
/// matmul peaks, the load, and per model the ratio, the GFLOP/s and dfdx's percent of the peak
/// (the faster of the two products).
pub fn step_results(r: &Report<StepRow>) -> Results {
    let mut out = Results::new("train-step");
    if let Some(p) = &r.peak {
        out.with_unit("step_peak_rust", p.rust_gflops, 1, "GFLOP/s");
        if let Some(t) = p.torch_gflops {
            out.with_unit("step_peak_torch", t, 1, "GFLOP/s");
        }
    }
    load_results(r, "step", &mut out);
    for row in &r.rows {
        let id = value_name(&row.id);
        out.with_unit(
            &format!("step_{id}_rust_gflops"),
            row.rust_gflops,
            1,
            "GFLOP/s",
        );
        out.with_unit(
            &format!("step_{id}_rust_peak_percent"),
            row.rust_peak_percent,
            0,
            "%",
        );
        if let Some(ratio) = row.ratio {
            out.number(&format!("step_{id}_ratio"), ratio, 2);
        }
    }
    out
}

/// The epoch table's numbers by name for the prose: the load, and per model the seconds of one
/// epoch in each framework and their ratio.
pub fn epoch_results(r: &Report<EpochRow>) -> Results {
    let mut out = Results::new("epoch");
    load_results(r, "epoch", &mut out);
    for row in &r.rows {
        let id = value_name(&row.id);
        out.with_unit(&format!("epoch_{id}_rust"), row.rust_seconds, 2, "s");
        if let Some(t) = row.torch_seconds {
            out.with_unit(&format!("epoch_{id}_torch"), t, 2, "s");
        }
        if let Some(ratio) = row.ratio {
            out.number(&format!("epoch_{id}_ratio"), ratio, 2);
        }
    }
    out
}

fn report<R>(opts: &Options, machine: Machine, torch: bool, m: Measured<R>) -> Report<R> {
    let (timings, rows, peak) = m;
    // The models the PyTorch script has no twin of.
    let missing: Vec<String> = (timings.iter())
        .filter(|t| torch && t.torch.is_none())
        .map(|t| t.model.id.clone())
        .collect();
    Report {
        command: invocation(),
        quick: opts.quick,
        rounds: opts.rounds,
        machine,
        peak,
        timings,
        rows,
        torch_note: torch_note(torch, &missing),
    }
}

/// This process's command line as `cargo xtask …`: the flags the run was given, so every value
/// that differs from a default (they all come from flags).
fn invocation() -> String {
    let mut c = Command::new("cargo");
    c.arg("xtask").args(std::env::args_os().skip(1));
    crate::command_line(&c)
}

fn write_report<R: Serialize>(
    dir: &Path,
    name: &str,
    report: &Report<R>,
    markdown: &str,
) -> anyhow::Result<()> {
    let md = dir.join(format!("{name}.md"));
    ae_toolkit::atomic::write(&md, markdown.as_bytes())?;
    ae_toolkit::atomic::write(
        &dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(report)?.as_bytes(),
    )?;
    println!("{markdown}");
    eprintln!("wrote {} (and .json)", md.display());
    Ok(())
}

/// Every model's empty timings (a PyTorch column only where the script has a twin).
fn empty_timings(models: &[ModelInfo], py: Option<&PySide>) -> Vec<Timings> {
    (models.iter())
        .map(|m| Timings {
            model: m.clone(),
            data: String::new(),
            images: 0,
            rust: Vec::new(),
            torch: py.filter(|p| p.has(&m.id)).map(|_| Vec::new()),
        })
        .collect()
}

/// Runs `rust` and `torch` in turn, alternating which goes first from round to round.
fn interleaved<A, B>(
    round: usize,
    rust: impl FnOnce() -> anyhow::Result<A>,
    torch: impl FnOnce() -> anyhow::Result<B>,
) -> anyhow::Result<(A, B)> {
    Ok(if round % 2 == 1 {
        let r = rust()?;
        (r, torch()?)
    } else {
        let t = torch()?;
        (rust()?, t)
    })
}

impl Timings {
    /// One round's seconds (PyTorch's only where it has a column).
    fn push(&mut self, rust: f64, torch: Option<f64>) {
        self.rust.push(rust);
        if let (Some(v), Some(t)) = (self.torch.as_mut(), torch) {
            v.push(t);
        }
    }
}

/// The progress line of one model's round, in `unit` (seconds times `scale`).
fn progress(opts: &Options, round: usize, t: &Timings, scale: f64, unit: &str) {
    let torch = t.torch.as_ref().and_then(|v| v.last());
    eprintln!(
        "round {round}/{}: {:<16} Rust {:>8.2} {unit}, PyTorch {} {unit}",
        opts.rounds,
        t.model.id,
        scale * t.rust.last().unwrap(),
        dash(torch.map(|s| format!("{:.2}", scale * s)))
    );
}

fn measure_steps(
    opts: &Options,
    rust: &RustSide,
    py: Option<&PySide>,
    models: &[ModelInfo],
) -> anyhow::Result<Measured<StepRow>> {
    let (warmup, seconds, samples) = opts.budget();
    let mut times = empty_timings(models, py);
    let (mut peak_rust, mut peak_torch) = (Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        // The matmul peak, then every model.
        let (r, p) = interleaved(
            round,
            || rust.bench("peak/dfdx-sgemm", warmup, seconds, samples),
            || py.map(|p| p.peak(warmup, seconds)).transpose(),
        )?;
        peak_rust.push(r);
        peak_torch.extend(p);
        for t in &mut times {
            let twin = py.filter(|_| t.torch.is_some());
            let (r, p) = interleaved(
                round,
                || {
                    rust.bench(
                        &format!("train_step/{}", t.model.id),
                        warmup,
                        seconds,
                        samples,
                    )
                },
                || twin.map(|p| p.step(&t.model, warmup, seconds)).transpose(),
            )?;
            t.push(r, p);
            progress(opts, round, t, 1e3, "ms/step");
        }
    }
    let peak = Peak::from_times(rust.sgemm_n, &peak_rust, py.map(|_| &peak_torch[..]))
        .context("no matmul timing")?;
    let rows = (times.iter())
        .filter_map(|t| step_row(t, peak.gflops()))
        .collect();
    Ok((times, rows, Some(peak)))
}

fn measure_epochs(
    root: &Path,
    opts: &Options,
    rust: &RustSide,
    py: Option<&PySide>,
    models: &[ModelInfo],
    data_dir: &DataDir,
) -> anyhow::Result<Measured<EpochRow>> {
    // The subset the Rust side embeds is these very files.
    let py_data = if opts.quick {
        root.join("chapters/ae-toolkit/data")
    } else {
        data_dir.path.clone()
    };
    let mut times = empty_timings(models, py);
    for round in 1..=opts.rounds {
        for t in &mut times {
            let twin = py.filter(|_| t.torch.is_some());
            let (e, p) = interleaved(
                round,
                || rust.epoch(&t.model.id, opts.quick, &data_dir.path),
                || twin.map(|p| p.epoch(&t.model, &py_data)).transpose(),
            )?;
            (t.data, t.images) = (e.data, e.images);
            t.push(e.seconds, p.map(|p| p.seconds));
            progress(opts, round, t, 1.0, "s/epoch");
        }
    }
    let rows = times.iter().filter_map(epoch_row).collect();
    Ok((times, rows, None))
}

fn machine(root: &Path, threads: usize, torch: Option<TorchInfo>) -> Machine {
    let (cpu, isa) = (cpu_name(), vector_extensions());
    let rustc = Command::new("rustc")
        .arg("-V")
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc (version unknown)".into());
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    Machine {
        cpu,
        isa,
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        threads,
        rustc,
        rustflags: std::env::var("RUSTFLAGS").ok().filter(|f| !f.is_empty()),
        features: None,
        dfdx: locked_version(&lock, "dfdx").unwrap_or_else(|| "?".into()),
        torch,
        load: (load_average(), None),
    }
}

/// The 1-minute load average (none where the system has no such notion).
pub fn load_average() -> Option<f64> {
    cfg!(unix).then(|| sysinfo::System::load_average().one)
}

/// The CPU's model name.
pub fn cpu_name() -> String {
    use sysinfo::{CpuRefreshKind, RefreshKind, System};
    let system =
        System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()));
    let brand = system.cpus().first().map(|c| c.brand().trim().to_string());
    brand
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The CPU's vector extensions that matter here (what dfdx's matrix kernels dispatch on).
fn vector_extensions() -> Vec<String> {
    #[allow(unused_mut)]
    let mut isa = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        for (detected, name) in [
            (std::is_x86_feature_detected!("avx2"), "AVX2"),
            (std::is_x86_feature_detected!("fma"), "FMA"),
            (std::is_x86_feature_detected!("avx512f"), "AVX-512F"),
        ] {
            if detected {
                isa.push(name.to_string());
            }
        }
    }
    isa
}

/// The version of package `name` in a Cargo.lock.
pub fn locked_version(lock: &str, name: &str) -> Option<String> {
    let lock: toml_edit::DocumentMut = lock.parse().ok()?;
    let packages = lock.get("package")?.as_array_of_tables()?;
    let package = packages
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))?;
    package.get("version")?.as_str().map(str::to_string)
}

/// The built `perf` binary and criterion benchmark.
struct RustSide {
    root: PathBuf,
    perf: PathBuf,
    bench: PathBuf,
    criterion_home: PathBuf,
    threads: usize,
    sgemm_n: usize,
}

#[derive(Deserialize)]
struct EpochOut {
    data: String,
    seconds: f64,
    images: usize,
}

impl RustSide {
    /// Builds the benchmark and the binary (release settings, cargo's `bench` profile).
    fn build(root: &Path, threads: usize, features: Option<&str>) -> anyhow::Result<Self> {
        let mut args = vec![
            "bench",
            "-p",
            "perf",
            "--bench",
            "train_step",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ];
        if let Some(f) = features {
            args.extend(["--features", f]);
        }
        eprintln!("==> cargo {}", args.join(" "));
        let mut cargo = crate::cargo_command();
        cargo
            .args(args)
            .current_dir(root)
            .stderr(std::process::Stdio::inherit());
        let out = crate::output(&mut cargo)
            .context("building the perf crate failed (cargo's messages are above)")?;
        let mut perf = None;
        let mut bench = None;
        for message in cargo_metadata::Message::parse_stream(out.stdout.as_slice()) {
            let cargo_metadata::Message::CompilerArtifact(a) = message? else {
                continue;
            };
            let Some(exe) = a.executable else {
                continue;
            };
            match a.target.name.as_str() {
                "perf" if a.target.is_kind(TargetKind::Bin) => perf = Some(exe.into_std_path_buf()),
                "train_step" if a.target.is_kind(TargetKind::Bench) => {
                    bench = Some(exe.into_std_path_buf())
                }
                _ => {}
            }
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let mut side = RustSide {
            root: root.to_path_buf(),
            perf: perf.context("cargo did not report the perf binary")?,
            bench: bench.context("cargo did not report the train_step benchmark")?,
            criterion_home: target.join("criterion"),
            threads,
            sgemm_n: 0,
        };
        side.sgemm_n = side.json(&["models"])?["sgemm_n"]
            .as_u64()
            .context("no sgemm_n")? as usize;
        Ok(side)
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.root.join("perf"))
            .env("RAYON_NUM_THREADS", self.threads.to_string())
            .env("CRITERION_HOME", &self.criterion_home);
        c
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        run_json(self.command(&self.perf).args(args))
    }

    fn models(&self) -> anyhow::Result<Vec<ModelInfo>> {
        Ok(serde_json::from_value(
            self.json(&["models"])?["models"].clone(),
        )?)
    }

    fn threads(&self) -> anyhow::Result<usize> {
        self.json(&["threads"])?["threads"]
            .as_u64()
            .map(|t| t as usize)
            .context("no thread count")
    }

    fn epoch(&self, id: &str, quick: bool, data_dir: &Path) -> anyhow::Result<EpochOut> {
        let dir = data_dir.display().to_string();
        let mut args = vec!["epoch", "--model", id, "--data-dir", &dir];
        if quick {
            args.push("--quick");
        }
        Ok(serde_json::from_value(self.json(&args)?)?)
    }

    /// Runs one criterion benchmark alone and returns its median seconds per iteration.
    fn bench(&self, id: &str, warmup: f64, seconds: f64, samples: usize) -> anyhow::Result<f64> {
        let estimates = self.criterion_home.join(id).join("new/estimates.json");
        // A stale file from an earlier run must not pass for this one.
        match std::fs::remove_file(&estimates) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", estimates.display()));
            }
            _ => {}
        }
        let mut c = self.command(&self.bench);
        c.args(["--bench", "--exact", id])
            .args(["--warm-up-time", &warmup.to_string()])
            .args(["--measurement-time", &seconds.to_string()])
            .args(["--sample-size", &samples.to_string()]);
        crate::output(&mut c).with_context(|| format!("criterion benchmark {id}"))?;
        let text = std::fs::read_to_string(&estimates).with_context(|| {
            format!(
                "criterion wrote no {} (is `{id}` a benchmark?)",
                estimates.display()
            )
        })?;
        criterion_median_seconds(&text)
    }
}

/// The median of a criterion `estimates.json` (nanoseconds), in seconds.
pub fn criterion_median_seconds(estimates: &str) -> anyhow::Result<f64> {
    let v: serde_json::Value = serde_json::from_str(estimates)?;
    let ns = v["median"]["point_estimate"]
        .as_f64()
        .context("estimates.json has no median.point_estimate")?;
    Ok(ns * 1e-9)
}

/// Runs `c` and reads the JSON object on the last line it printed.
fn run_json(c: &mut Command) -> anyhow::Result<serde_json::Value> {
    let out = crate::output(c)?;
    parse_last_json(&out.stdout).with_context(|| format!("output of `{}`", crate::command_line(c)))
}

/// The PyTorch script.
struct PySide {
    python: Python,
    script: PathBuf,
    threads: usize,
    models: Vec<String>,
}

#[derive(Deserialize)]
struct PyOut {
    batch_size: usize,
    betas: [f64; 2],
    linears: Vec<(usize, usize)>,
    #[serde(default)]
    median_s: f64,
    #[serde(default)]
    seconds: f64,
}

impl PySide {
    fn has(&self, id: &str) -> bool {
        self.models.iter().any(|m| m == id)
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut c = self.python.command(&self.script);
        run_json(c.args(args).args(["--threads", &self.threads.to_string()]))
    }

    /// The script's output for `model`, checked against the Rust model: a twin that differs
    /// in its layers, batch size or optimiser would make the comparison meaningless.
    fn checked(&self, model: &ModelInfo, v: serde_json::Value) -> anyhow::Result<PyOut> {
        let out: PyOut = serde_json::from_value(v)?;
        let sorted = |l: &[(usize, usize)]| {
            let mut l = l.to_vec();
            l.sort();
            l
        };
        if out.batch_size != model.batch_size
            || out.betas != model.betas
            || sorted(&out.linears) != sorted(&model.linears)
        {
            bail!(
                "the PyTorch twin of {} differs from the Rust model: batch {} vs {}, betas {:?} \
                 vs {:?}, layers {:?} vs {:?}",
                model.id,
                out.batch_size,
                model.batch_size,
                out.betas,
                model.betas,
                out.linears,
                model.linears
            );
        }
        Ok(out)
    }

    fn step(&self, model: &ModelInfo, warmup: f64, seconds: f64) -> anyhow::Result<f64> {
        let (w, s) = (warmup.to_string(), seconds.to_string());
        let v = self.run(&[
            "step",
            "--model",
            &model.id,
            "--warmup",
            &w,
            "--seconds",
            &s,
        ])?;
        Ok(self.checked(model, v)?.median_s)
    }

    fn epoch(&self, model: &ModelInfo, data_dir: &Path) -> anyhow::Result<PyOut> {
        let dir = data_dir.display().to_string();
        let v = self.run(&["epoch", "--model", &model.id, "--data-dir", &dir])?;
        self.checked(model, v)
    }

    fn peak(&self, warmup: f64, seconds: f64) -> anyhow::Result<f64> {
        let (w, s) = (warmup.to_string(), seconds.to_string());
        let v = self.run(&["peak", "--warmup", &w, "--seconds", &s])?;
        v["median_s"].as_f64().context("no median_s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, batch: usize, flops: u64) -> ModelInfo {
        ModelInfo {
            id: id.into(),
            crate_name: "ch01-autoencoder".into(),
            what: "784-400-20-400-784, BCE per image".into(),
            dataset: "MNIST".into(),
            batch_size: batch,
            betas: [0.9, 0.999],
            linears: vec![(784, 400), (400, 20), (20, 400), (400, 784)],
            flops_per_step: flops,
        }
    }

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU".into(),
            isa: vec!["AVX2".into()],
            logical_cpus: 2,
            threads: 2,
            rustc: "rustc 1.95.0".into(),
            rustflags: None,
            features: None,
            dfdx: "0.13.0".into(),
            torch: None,
            load: (Some(0.02), Some(0.1)),
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn rows_derive_rates_ratio_flops_and_peak_share() {
        // 128 images in 5 ms: 25,600 images/s; PyTorch 6.4 ms: 20,000 images/s; Rust 1.28× as fast.
        let t = Timings {
            model: model("ch01-basic", 128, 493_977_600),
            data: String::new(),
            images: 0,
            rust: vec![0.006, 0.005, 0.004_9],
            torch: Some(vec![0.0064, 0.0070, 0.0063]),
        };
        let r = step_row(&t, 200.0).unwrap();
        assert!((r.rust_seconds - 0.005).abs() < 1e-15);
        assert!((r.rust_images_per_s - 25_600.0).abs() < 1e-6);
        assert!((r.torch_images_per_s.unwrap() - 20_000.0).abs() < 1e-6);
        assert!((r.ratio.unwrap() - 1.28).abs() < 1e-12);
        // 493,977,600 FLOPs in 5 ms: 98.8 GFLOP/s, 49.4 % of a 200 GFLOP/s peak.
        assert!((r.rust_gflops - 98.795_52).abs() < 1e-9);
        assert!((r.rust_peak_percent - 49.397_76).abs() < 1e-9);
        assert!((r.torch_gflops.unwrap() - 77.184).abs() < 1e-9);
        // Without PyTorch: the Rust half alone.
        let alone = step_row(&Timings { torch: None, ..t }, 200.0).unwrap();
        assert_eq!((alone.torch_images_per_s, alone.ratio), (None, None));

        let p = Peak::from_times(1024, &[0.02, 0.021, 0.019], Some(&[0.0215])).unwrap();
        assert!((p.rust_gflops - 2.0 * 1024f64.powi(3) / 0.02 / 1e9).abs() < 1e-9);
        assert_eq!(p.gflops(), p.rust_gflops, "the faster of the two");
        let p = Peak {
            torch_gflops: Some(500.0),
            ..p
        };
        assert_eq!(p.gflops(), 500.0);
        assert!(Peak::from_times(1024, &[], None).is_none());

        let e = epoch_row(&Timings {
            model: model("ch01-basic", 128, 1),
            data: "MNIST full set (60000 train / 10000 test)".into(),
            images: 60_000,
            rust: vec![3.0, 2.0, 4.0],
            torch: Some(vec![4.0]),
        })
        .unwrap();
        assert_eq!(
            (e.rust_seconds, e.torch_seconds, e.ratio),
            (3.0, Some(4.0), Some(4.0 / 3.0))
        );
    }

    fn step_report(torch: bool) -> Report<StepRow> {
        let t = Timings {
            model: model("ch01-basic", 128, 493_977_600),
            data: String::new(),
            images: 0,
            rust: vec![0.005],
            torch: torch.then(|| vec![0.0064]),
        };
        let peak = Peak {
            n: 1024,
            rust_gflops: 200.0,
            torch_gflops: torch.then_some(150.0),
        };
        Report {
            command: "cargo xtask perf --rounds 1".into(),
            quick: false,
            rounds: 1,
            machine: machine(),
            rows: vec![step_row(&t, peak.gflops()).unwrap()],
            peak: Some(peak),
            timings: vec![t],
            torch_note: torch_note(torch, &[]),
        }
    }

    #[test]
    fn the_step_table() {
        let md = step_markdown(&step_report(true));
        let lines: Vec<&str> = md.lines().collect();
        assert!(lines[0].starts_with("| model · 模型 | batch · 批量 | Rust img/s"));
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| `ch01-basic` (784-400-20-400-784, BCE per image) | 128 | 25600 | 20000 | 1.28 | \
             98.8 | 77.2 | 49 % | 39 % |"
        );
        assert_eq!(lines[0].matches('|').count(), lines[2].matches('|').count());
        assert!(md.contains("| command · 命令 | `cargo xtask perf --rounds 1` |"));
        assert!(md.contains("| CPU · 处理器 | Test CPU (2 logical CPUs; AVX2) |"));
        assert!(!md.contains("smoke test"));
        assert!(!md.contains("No PyTorch"));
        only_tables(&md);
        let quick = step_markdown(&Report {
            quick: true,
            ..step_report(true)
        });
        let smoke = "| smoke test · 冒烟测试 | `--quick`: a fraction of a second per timing;";
        assert!(quick.contains(smoke), "{quick}");
        only_tables(&quick);
    }

    /// The page includes the file in both languages: tables only, no prose in one language.
    fn only_tables(md: &str) {
        for line in md.lines().filter(|l| !l.is_empty()) {
            assert!(
                line.starts_with('|') && line.ends_with('|'),
                "not a table row: {line}"
            );
        }
    }

    #[test]
    fn the_step_values_give_each_models_share_of_the_peak() {
        let dir = tempfile::tempdir().unwrap();
        step_results(&step_report(true)).write(dir.path()).unwrap();
        let v = ae_toolkit::results::read(dir.path()).unwrap();
        // dfdx's 200 GFLOP/s beat torch.mm's 150: 98.8 GFLOP/s is 49 % of 200.
        assert_eq!(v["step_peak_rust"].text, "200.0 GFLOP/s");
        assert_eq!(v["step_peak_torch"].text, "150.0 GFLOP/s");
        assert_eq!(v["step_ch01_basic_rust_peak_percent"].text, "49 %");
        assert_eq!(v["step_ch01_basic_ratio"].text, "1.28");
        assert_eq!(v["step_load_before"].text, "0.02");
    }

    #[test]
    fn the_step_table_without_pytorch() {
        let md = step_markdown(&step_report(false));
        assert!(
            md.contains("| `ch01-basic` (784-400-20-400-784, BCE per image) | 128 | 25600 | — | — | 98.8 | — | 49 % | — |"),
            "{md}"
        );
        assert!(md.contains(
            "| note · 说明 | No PyTorch column: PyTorch is not installed (`pip install \
             torch==2.15.0`). |"
        ));
        only_tables(&md);
        assert_eq!(
            torch_note(true, &["ch06-deep".into()]).unwrap(),
            "No PyTorch twin in `perf/pytorch/train_step.py` yet: `ch06-deep`."
        );
        assert_eq!(torch_note(true, &[]), None);
        assert!(md.contains("| PyTorch | not installed |"));
    }

    #[test]
    fn the_epoch_table() {
        let t = Timings {
            model: model("ch05-vae", 128, 1),
            data: "MNIST full set (60000 train / 10000 test)".into(),
            images: 60_000,
            rust: vec![6.0],
            torch: Some(vec![7.5]),
        };
        let r = Report {
            command: "cargo xtask perf --epochs".into(),
            quick: false,
            rounds: 5,
            machine: machine(),
            peak: None,
            rows: vec![epoch_row(&t).unwrap()],
            timings: vec![t],
            torch_note: None,
        };
        let md = epoch_markdown(&r);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[2],
            "| `ch05-vae` | MNIST full set (60000 train / 10000 test) | 128 | 6.00 | 7.50 | 10000 | \
             8000 | 1.25 |"
        );
        assert_eq!(lines[0].matches('|').count(), lines[2].matches('|').count());
        only_tables(&md);
        assert!(md.contains("| rounds · 测量回合 | 5 (median over rounds) |"));
        assert!(md.contains("| load · 负载 | 1-minute load average 0.02 before, 0.10 after"));
    }

    #[cfg(unix)]
    fn exit(code: i32, stdout: &str, stderr: &str) -> std::io::Result<Output> {
        use std::os::unix::process::ExitStatusExt;
        Ok(Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        })
    }

    #[cfg(unix)]
    #[test]
    fn missing_pytorch_is_reported_not_fatal() {
        let no_torch = "PyTorch not installed (No module named 'torch'): pip install torch==2.15.0";
        assert_eq!(
            classify_probe(exit(EXIT_NO_TORCH, "", no_torch), "python3").unwrap(),
            Torch::Missing(no_torch.into())
        );
        let not_found = Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(
            classify_probe(not_found, "python3").unwrap(),
            Torch::Missing(why) if why.contains("cannot run `python3`")
        ));
        // A broken script is an error, not "PyTorch missing".
        assert!(classify_probe(exit(1, "", "SyntaxError"), "python3").is_err());
        let ok = r#"{"torch": "2.15.0", "cpu_capability": "AVX2", "python": "3.11.7", "threads_default": 2, "models": ["ch01-basic"]}"#;
        assert!(matches!(
            classify_probe(exit(0, ok, ""), "python3").unwrap(),
            Torch::Available(info) if info.torch == "2.15.0" && info.models == ["ch01-basic"]
        ));
    }

    #[test]
    fn the_real_script_without_torch_says_so() {
        // `python3 -S` leaves site-packages (and so torch) off the path; skipped without Python.
        let root = &ae_toolkit::paths::workspace_root();
        let python = Python {
            program: "python3".into(),
            args: vec!["-S".into()],
        };
        match probe_torch(root, &python).unwrap() {
            Torch::Missing(why) if why.contains("cannot run") => {
                eprintln!("skipped: no python3")
            }
            Torch::Missing(why) => assert!(why.contains("pip install torch==2.15.0"), "{why}"),
            Torch::Available(info) => panic!("torch importable without site-packages: {info:?}"),
        }
        let missing = probe_torch(root, &Python::new("/nonexistent/python3")).unwrap();
        assert!(matches!(missing, Torch::Missing(_)));
    }

    #[test]
    fn criterion_estimates_and_machine_facts_are_read() {
        let est = r#"{"mean":{"point_estimate":2.0},"median":{"point_estimate":9962499.1}}"#;
        assert!((criterion_median_seconds(est).unwrap() - 0.009_962_499_1).abs() < 1e-15);
        assert!(criterion_median_seconds(r#"{"mean":{}}"#).is_err());
        // On Linux, the same facts /proc/cpuinfo states (what the tables showed before sysinfo).
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        };
        if let Some(model) = field("model name") {
            assert_eq!(cpu_name(), model);
        }
        if let Some(flags) = field("flags") {
            let flags: Vec<&str> = flags.split_whitespace().collect();
            let has = |isa: &str| vector_extensions().iter().any(|i| i == isa);
            assert_eq!(has("AVX2"), flags.contains(&"avx2"));
            assert_eq!(has("FMA"), flags.contains(&"fma"));
            assert_eq!(has("AVX-512F"), flags.contains(&"avx512f"));
        }
        assert!(load_average().is_some_and(|l| l >= 0.0));
        let lock = "[[package]]\nname = \"dfdx\"\nversion = \"0.13.0\"\nsource = \"x\"\n";
        assert_eq!(locked_version(lock, "dfdx").as_deref(), Some("0.13.0"));
        assert_eq!(locked_version(lock, "torch"), None);
        let real = std::fs::read_to_string(ae_toolkit::paths::workspace_root().join("Cargo.lock"));
        assert_eq!(
            locked_version(&real.unwrap(), "dfdx").as_deref(),
            Some("0.13.0")
        );
    }
}
