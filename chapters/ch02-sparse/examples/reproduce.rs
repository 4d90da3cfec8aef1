//! Reproduces Chapter 2: trains the sparse autoencoder (and, for comparison, the same model with
//! no penalty and with an L1 activity penalty) on MNIST, sweeps β, and writes every number and
//! figure the chapter shows into `book/generated/ch02/`.
//!
//! Data: the full MNIST set from the data directory if it is there (`cargo xtask fetch-data`),
//! otherwise the 2,000/500-image subset compiled into `ae-toolkit` (announced on stderr).
//!
//! ```text
//! cargo run --release -p ch02-sparse --example reproduce -- --experiment all
//! cargo run --release -p ch02-sparse --example reproduce -- --help
//! ```

use ae_toolkit::cli::{RunArgs, Selection};
use ae_toolkit::data::{DataSplits, DatasetKind, PIXELS};
use ae_toolkit::device::OnDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::plot::{histograms, image_rows, line_chart, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch02_sparse::{train, unit_means, Penalty, HIDDEN};
use clap::Parser;

const CHAPTER: &str = "ch02";
const PACKAGE: &str = "ch02-sparse";
/// The β values of the sweep (0 is the plain autoencoder).
const SWEEP: [f32; 5] = [0.0, 0.3, 1.0, 3.0, 10.0];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Experiment {
    /// The KL-penalised model next to no penalty and the L1 penalty
    Main,
    /// The KL penalty with β from 0 to 10
    Sweep,
    /// Both
    All,
}

/// Reproduce Chapter 2's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value_t = Experiment::Main)]
    experiment: Experiment,
    /// Target mean activation ρ, in (0, 1)
    #[arg(long, default_value_t = ch02_sparse::RHO, value_parser = open_unit_interval)]
    rho: f32,
    /// Weight β of the KL penalty (main experiment)
    #[arg(long, default_value_t = ch02_sparse::BETA, value_parser = ae_toolkit::cli::non_negative)]
    beta: f32,
    /// Weight λ of the L1 activity penalty (main experiment)
    #[arg(long, default_value_t = 1.0, value_parser = ae_toolkit::cli::non_negative)]
    lambda: f32,
    #[command(flatten)]
    run: RunArgs,
}

/// ρ as the library validates it (`ch02_sparse::check_rho`).
fn open_unit_interval(s: &str) -> Result<f32, String> {
    ch02_sparse::check_rho(s.parse::<f32>().map_err(|e| e.to_string())?)
}

fn main() {
    let args = Args::parse();
    ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::Mnist], |data| run(&args, &data));
}

/// What one trained model leaves for the figures, on the host.
struct Outcome {
    history: History,
    unit_means: Vec<f64>,
    encoder_weights: Vec<f32>,
    reconstructions: Vec<f32>,
}

/// One training run on a freshly seeded device.
struct TrainingRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    name: String,
    penalty: Penalty,
}

impl OnDevice for TrainingRun<'_> {
    type Output = Outcome;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<Outcome> {
        let cfg = self.args.run.train_config(10, 128);
        let description = format!("{:?} on {}", self.penalty, self.data.title());
        let run = self.args.run.run_options(CHAPTER, &self.name, &description);
        eprintln!("training {} ({:?})", self.name, self.penalty);
        let (model, history) = train(&dev, self.data, self.penalty, self.args.rho, &cfg, &run)?;
        let head = self.data.test.head(12);
        let x = dev.tensor_from_vec(head.images, (head.labels.len(), Const::<PIXELS>));
        Ok(Outcome {
            unit_means: unit_means(&model, &dev, &self.data.test),
            encoder_weights: model.0 .0.weight.as_vec(),
            reconstructions: model.1.forward(model.0.forward(x)).sigmoid().as_vec(),
            history,
        })
    }
}

fn train_one(
    args: &Args,
    data: &DataSplits,
    name: &str,
    penalty: Penalty,
) -> anyhow::Result<Outcome> {
    let run = TrainingRun {
        args,
        data,
        name: name.to_string(),
        penalty,
    };
    let out = args.run.on_device(run)?;
    let last = out.history.last();
    println!(
        "{name}: test BCE per image {:.3}, mean activation {:.4}, KL {:.3} (ρ = {})",
        last.test.loss,
        part(&out.history, "mean_activation"),
        part(&out.history, "kl"),
        args.rho
    );
    Ok(out)
}

fn part(h: &History, name: &str) -> f64 {
    h.last()
        .test
        .parts
        .iter()
        .find(|(n, _)| n == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    if args.experiment.includes(Experiment::Main) {
        main_experiment(args, data)?;
    }
    if args.experiment.includes(Experiment::Sweep) {
        sweep(args, data)?;
    }
    Ok(())
}

fn main_experiment(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let out_dir = args.run.out_dir(CHAPTER);
    let runs = [
        ("no penalty · 无惩罚", "none", Penalty::None),
        (
            "KL · KL 惩罚",
            "kl",
            Penalty::Kl {
                rho: args.rho,
                beta: args.beta,
            },
        ),
        (
            "L1 · L1 惩罚",
            "l1",
            Penalty::L1 {
                lambda: args.lambda,
            },
        ),
    ];
    let mut outcomes = Vec::new();
    for (_, name, penalty) in runs {
        outcomes.push(train_one(args, data, name, penalty)?);
    }

    let mut rows = Vec::new();
    for ((label, _, penalty), o) in runs.iter().zip(&outcomes) {
        let setting = match penalty {
            Penalty::None => "—".to_string(),
            Penalty::Kl { rho, beta } => format!("ρ = {rho}, β = {beta}"),
            Penalty::L1 { lambda } => format!("λ = {lambda}"),
        };
        let dead = o.unit_means.iter().filter(|&&m| m < 0.01).count();
        rows.push(vec![
            label.to_string(),
            setting,
            format!("**{:.2}**", o.history.last().test.loss),
            format!("**{:.4}**", part(&o.history, "mean_activation")),
            format!("{:.2}", part(&o.history, "kl")),
            format!("{dead} / {HIDDEN}"),
        ]);
    }
    let mut table = markdown_table(
        &[
            "penalty · 惩罚",
            "setting · 设置",
            "test BCE per image · 逐图像测试 BCE",
            "mean activation ρ̂ · 平均激活",
            &format!("Σ KL(ρ‖ρ̂ⱼ), ρ = {}", args.rho),
            "units with ρ̂ⱼ < 0.01 · 几乎不激活的单元",
        ],
        &rows,
    );
    let kl_run = &outcomes[1].history;
    table.push_str(&format!(
        "\n{}; Adam lr 0.001, batch 128, {} epochs, seed {}; {}; `{}`\n",
        data.title(),
        kl_run.last().epoch,
        args.run.seed,
        args.run.timing(kl_run),
        args.run
            .reproduce_command(PACKAGE, &["--experiment", "main"])
    ));
    ae_toolkit::atomic::write(&out_dir.join("main-summary.md"), table.as_bytes())?;

    let samples: Vec<(String, Vec<f64>)> = runs
        .iter()
        .zip(&outcomes)
        .map(|((_, name, _), o)| (name.to_string(), o.unit_means.clone()))
        .collect();
    histograms(
        &out_dir.join("unit-means.svg"),
        &format!("Mean activation of each of the {HIDDEN} hidden units on the test set"),
        "mean activation ρ̂ⱼ",
        &samples,
        (0.0, 1.0),
        50,
    )?;

    for (o, name) in [(&outcomes[0], "none"), (&outcomes[1], "kl")] {
        weight_tiles(
            &out_dir.join(format!("weights-{name}.png")),
            &o.encoder_weights,
        )?;
    }

    let originals: Vec<&[f32]> = (0..12).map(|i| data.test.image(i)).collect();
    let mut rows: Vec<Vec<&[f32]>> = vec![originals];
    rows.extend(
        outcomes
            .iter()
            .map(|o| o.reconstructions.chunks(PIXELS).collect()),
    );
    image_rows(&out_dir.join("reconstructions.png"), &rows, (0.0, 1.0))
}

/// Each hidden unit's incoming weights as a 28×28 tile, scaled to its own range: the features
/// the unit responds to. 20 rows of 20.
fn weight_tiles(path: &std::path::Path, weights: &[f32]) -> anyhow::Result<()> {
    let tiles: Vec<Vec<f32>> = weights
        .chunks(PIXELS)
        .map(|w| {
            let (lo, hi) = w
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            w.iter().map(|&v| (v - lo) / (hi - lo).max(1e-12)).collect()
        })
        .collect();
    let rows: Vec<Vec<&[f32]>> = tiles
        .chunks(20)
        .map(|r| r.iter().map(Vec::as_slice).collect())
        .collect();
    image_rows(path, &rows, (0.0, 1.0))
}

fn sweep(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let mut points = Vec::new();
    let mut rows = Vec::new();
    let mut results = Results::new("sweep");
    let mut previous: Option<(String, f64, f64)> = None;
    for beta in SWEEP {
        let penalty = if beta == 0.0 {
            Penalty::None
        } else {
            Penalty::Kl {
                rho: args.rho,
                beta,
            }
        };
        let o = train_one(args, data, &format!("sweep-beta-{beta}"), penalty)?;
        let (bce, mean) = (
            o.history.last().test.loss,
            part(&o.history, "mean_activation"),
        );
        points.push((mean, bce));
        // By name, for the answer the text gives: `sweep_<β>_bce`, `sweep_<β>_activation`, and
        // what each step up in β charges in BCE per 0.01 of mean activation it removes.
        let b = format!("{beta}").replace('.', "_");
        results.number(&format!("sweep_{b}_bce"), bce, 2).number(
            &format!("sweep_{b}_activation"),
            mean,
            4,
        );
        if let Some((prev, prev_bce, prev_mean)) = &previous {
            results.number(
                &format!("sweep_price_{prev}_to_{b}"),
                (bce - prev_bce) / ((prev_mean - mean) * 100.0),
                2,
            );
        }
        previous = Some((b, bce, mean));
        rows.push(vec![
            format!("{beta}"),
            format!("{bce:.2}"),
            format!("{mean:.4}"),
            format!("{:.2}", part(&o.history, "kl")),
        ]);
    }
    let out_dir = args.run.out_dir(CHAPTER);
    line_chart(
        &out_dir.join("beta-sweep.svg"),
        &format!(
            "β from {} to {}: reconstruction against sparsity (ρ = {})",
            SWEEP[0],
            SWEEP[SWEEP.len() - 1],
            args.rho
        ),
        "mean activation ρ̂ on the test set",
        "test BCE per image",
        &[Series {
            name: "β sweep".into(),
            points,
        }],
    )?;
    let mut table = markdown_table(
        &[
            "β",
            "test BCE per image · 逐图像测试 BCE",
            "mean activation ρ̂ · 平均激活",
            "Σ KL(ρ‖ρ̂ⱼ)",
        ],
        &rows,
    );
    table.push_str(&format!(
        "\n{}; ρ = {}; `{}`\n",
        data.title(),
        args.rho,
        args.run
            .reproduce_command(PACKAGE, &["--experiment", "sweep"])
    ));
    ae_toolkit::atomic::write(&out_dir.join("beta-sweep.md"), table.as_bytes())?;
    results.write(&out_dir).map(drop)
}
