//! Reproduces Chapter 4: the dropout autoencoder on Fashion-MNIST (scaled to [−1, 1]) next to the
//! same network without dropout, an overfitting experiment on 1,000 training images, and a sweep
//! over the dropout probability; writes every number and figure into `book/generated/ch04/`.
//!
//! Data: the full Fashion-MNIST set from the data directory if it is there (`cargo xtask
//! fetch-data`), otherwise the 2,000/500-image subset compiled into `ae-toolkit`.
//!
//! ```text
//! cargo run --release -p ch04-dropout --example reproduce -- --experiment all
//! cargo run --release -p ch04-dropout --example reproduce -- --help
//! ```

use ae_toolkit::cli::{RunArgs, Selection};
use ae_toolkit::data::{DataSplits, DatasetKind};
use ae_toolkit::device::OnDevice;
use ae_toolkit::dfdx::prelude::*;
use ae_toolkit::model::Autoencoder;
use ae_toolkit::plot::{line_chart, Series};
use ae_toolkit::report::markdown_table;
use ae_toolkit::results::Results;
use ae_toolkit::train::History;
use ch04_dropout::{config, generalisation_gap, train, DropoutAutoencoder, NoDropout};
use clap::Parser;

const CHAPTER: &str = "ch04";
const PACKAGE: &str = "ch04-dropout";
/// Training images in the overfitting experiment.
const SMALL_TRAIN: usize = 1_000;
/// Test images scored after every epoch of the overfitting experiment.
const SMALL_TEST: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Experiment {
    /// Full training set, 10 epochs, p = 0.2 against no dropout
    Main,
    /// 1,000 training images for many epochs, dropout probability p from 0 to 0.5
    Overfit,
    /// Both
    All,
}

/// Reproduce Chapter 4's results and figures.
#[derive(Parser, Debug, Clone)]
#[command(about, long_about = None)]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value_t = Experiment::Main)]
    experiment: Experiment,
    /// Epochs of the overfitting experiment (the shared `--epochs` overrides it)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    overfit_epochs: u32,
    #[command(flatten)]
    run: RunArgs,
}

/// The dropout probabilities the chapter trains with, each a type.
#[derive(Clone, Copy, Debug, PartialEq)]
enum P {
    Zero,
    Tenth,
    Fifth,
    Third,
    Half,
}

impl P {
    const ALL: [P; 5] = [P::Zero, P::Tenth, P::Fifth, P::Third, P::Half];
    fn value(self) -> f64 {
        match self {
            P::Zero => 0.0,
            P::Tenth => 0.1,
            P::Fifth => 0.2,
            P::Third => 1.0 / 3.0,
            P::Half => 0.5,
        }
    }
    fn label(self) -> String {
        match self {
            P::Third => "1/3".into(),
            p => format!("{}", p.value()),
        }
    }
}

fn main() {
    let args = Args::parse();
    ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::FashionMnist], |raw| {
        run(&args, &raw.to_symmetric_range())
    });
}

struct TrainingRun<'a> {
    args: &'a Args,
    data: &'a DataSplits,
    name: String,
    p: P,
    epochs: usize,
}

impl OnDevice for TrainingRun<'_> {
    type Output = History;
    fn run<D: Device<f32>>(self, dev: D) -> anyhow::Result<History> {
        match self.p {
            P::Zero => self.train::<DropoutAutoencoder<NoDropout>, D>(&dev),
            P::Tenth => self.train::<DropoutAutoencoder<DropoutOneIn<10>>, D>(&dev),
            P::Fifth => self.train::<DropoutAutoencoder<DropoutOneIn<5>>, D>(&dev),
            P::Third => self.train::<DropoutAutoencoder<DropoutOneIn<3>>, D>(&dev),
            P::Half => self.train::<DropoutAutoencoder<DropoutOneIn<2>>, D>(&dev),
        }
    }
}

impl TrainingRun<'_> {
    fn train<M, D>(&self, dev: &D) -> anyhow::Result<History>
    where
        D: Device<f32>,
        M: BuildOnDevice<D, f32>,
        M::Built: Autoencoder<D>,
    {
        let cfg = config(self.epochs, self.args.run.seed);
        let description = format!("p = {} on {}", self.p.label(), self.data.title());
        let run = self.args.run.run_options(CHAPTER, &self.name, &description);
        eprintln!("training {} (p = {})", self.name, self.p.label());
        let (_, history) = train::<M, D>(dev, self.data, &cfg, &run)?;
        Ok(history)
    }
}

fn train_one(
    args: &Args,
    data: &DataSplits,
    name: &str,
    p: P,
    epochs: usize,
) -> anyhow::Result<History> {
    let run = TrainingRun {
        args,
        data,
        name: name.into(),
        p,
        epochs,
    };
    let h = args.run.on_device(run)?;
    println!(
        "{name}: p = {}, test MSE {:.5}, training-set MSE {:.5}, gap {:.5}",
        p.label(),
        h.last().test.loss,
        train_set_loss(h.last()),
        generalisation_gap(&h)
    );
    Ok(h)
}

fn train_set_loss(e: &ae_toolkit::train::EpochRecord) -> f64 {
    e.train_eval.as_ref().map_or(f64::NAN, |t| t.loss)
}

/// How much the two losses jump from one epoch to the next: the mean of |Δ training-set loss|
/// and |Δ test loss| over the second half of the run, where the curves have settled into their
/// trend (for "the curves with dropout are the steadier ones").
fn mean_jump(h: &History) -> f64 {
    let half = &h.epochs[h.epochs.len() / 2..];
    let jumps: Vec<f64> = half
        .windows(2)
        .flat_map(|w| {
            [
                (train_set_loss(&w[1]) - train_set_loss(&w[0])).abs(),
                (w[1].test.loss - w[0].test.loss).abs(),
            ]
        })
        .collect();
    jumps.iter().sum::<f64>() / jumps.len().max(1) as f64
}

/// The gap (test − training-set loss) after `epoch`, if the run got that far.
fn gap_after(h: &History, epoch: usize) -> Option<f64> {
    let e = h.epochs.iter().find(|e| e.epoch == epoch)?;
    Some(e.test.loss - train_set_loss(e))
}

/// `p` as it names values: `0`, `0_1`, `1_3`, … (as in the tables).
fn value_suffix(p: P) -> String {
    p.label().replace(['.', '/'], "_")
}

/// Runs the chosen experiments on `data`, scaled to [−1, 1].
fn run(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    if args.experiment.includes(Experiment::Main) {
        main_experiment(args, data)?;
    }
    if args.experiment.includes(Experiment::Overfit) {
        overfit(args, data)?;
    }
    Ok(())
}

fn row(p: P, h: &History) -> Vec<String> {
    let last = h.last();
    vec![
        p.label(),
        format!("{:.5}", train_set_loss(last)),
        format!("{:.5}", last.test.loss),
        format!("**{:.5}**", generalisation_gap(h)),
    ]
}

const HEADERS: [&str; 4] = [
    "p",
    "training-set MSE · 训练集 MSE",
    "test MSE · 测试 MSE",
    "gap (test − train) · 泛化差距",
];

fn main_experiment(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let epochs = args.run.epochs_or(10);
    let mut rows = Vec::new();
    let mut last = None;
    let mut results = Results::new("main");
    for p in [P::Zero, P::Fifth] {
        let h = train_one(args, data, &format!("main-p{}", p.value()), p, epochs)?;
        rows.push(row(p, &h));
        let k = value_suffix(p);
        results
            .number(&format!("main_train_p{k}"), train_set_loss(h.last()), 5)
            .number(&format!("main_test_p{k}"), h.last().test.loss, 5)
            .number(&format!("main_gap_p{k}"), generalisation_gap(&h), 5);
        last = Some(h);
    }
    let mut table = markdown_table(&HEADERS, &rows);
    let h = last.expect("two runs");
    table.push_str(&format!(
        "\n{}; 784-512-256-128-256-512-784, MSE (linear output, pixels in [−1, 1]), Adam lr 0.001 \
         betas (0.5, 0.999), batch 128, {epochs} epochs, seed {}; both losses measured without \
         dropout; p = 0.2 run: {}; `{}`\n",
        data.title(),
        args.run.seed,
        args.run.timing(&h),
        args.run
            .reproduce_command(PACKAGE, &["--experiment", "main"])
    ));
    let out = args.run.out_dir(CHAPTER);
    ae_toolkit::atomic::write(&out.join("main-summary.md"), table.as_bytes())?;
    results.write(&out).map(drop)
}

fn overfit_flags(args: &Args) -> Vec<String> {
    let mut flags = vec!["--experiment".to_string(), "overfit".to_string()];
    if args.overfit_epochs != 100 {
        flags.extend([
            "--overfit-epochs".to_string(),
            args.overfit_epochs.to_string(),
        ]);
    }
    flags
}

fn overfit(args: &Args, data: &DataSplits) -> anyhow::Result<()> {
    let small = DataSplits {
        train: data.train.head(SMALL_TRAIN),
        test: data.test.head(SMALL_TEST),
        ..data.clone()
    };
    // The shared `--epochs` overrides this experiment's epochs too (as in every chapter's example).
    let epochs = args.run.epochs_or(args.overfit_epochs as usize);
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    let mut gaps = Vec::new();
    let mut results = Results::new("overfit");
    for p in P::ALL {
        let h = train_one(
            args,
            &small,
            &format!("overfit-p{:.3}", p.value()),
            p,
            epochs,
        )?;
        rows.push(row(p, &h));
        gaps.push((p.value(), generalisation_gap(&h)));
        // By name, for the prose: `overfit_gap_p0_5`, `overfit_test_p0_5`, … (p as in the table).
        let p_name = value_suffix(p);
        results
            .number(&format!("overfit_gap_p{p_name}"), generalisation_gap(&h), 4)
            .number(&format!("overfit_test_p{p_name}"), h.last().test.loss, 3)
            .number(
                &format!("overfit_train_p{p_name}"),
                train_set_loss(h.last()),
                4,
            );
        if matches!(p, P::Zero | P::Fifth) {
            // The figure's two models: how jumpy their curves are, and how far their gaps have
            // opened after a quarter and half of the run.
            results.number(&format!("overfit_jump_p{p_name}"), mean_jump(&h), 4);
            // The first epoch after which the training-set loss is below the test loss.
            if let Some(e) = (h.epochs.iter().skip(1)).find(|e| train_set_loss(e) < e.test.loss) {
                results.count(&format!("overfit_crossing_epoch_p{p_name}"), e.epoch);
            }
            for epoch in [epochs / 4, epochs / 2].into_iter().filter(|&e| e > 0) {
                if let Some(gap) = gap_after(&h, epoch) {
                    results.number(&format!("overfit_gap_epoch_{epoch}_p{p_name}"), gap, 4);
                }
            }
            let epochs = h.epochs.iter().skip(1);
            let train: Vec<(f64, f64)> = epochs
                .clone()
                .map(|e| (e.epoch as f64, train_set_loss(e)))
                .collect();
            let test: Vec<(f64, f64)> = epochs.map(|e| (e.epoch as f64, e.test.loss)).collect();
            curves.push(Series {
                name: format!("p = {}: training set", p.label()),
                points: train,
            });
            curves.push(Series {
                name: format!("p = {}: test set", p.label()),
                points: test,
            });
        }
    }
    let out = args.run.out_dir(CHAPTER);
    line_chart(
        &out.join("overfit.svg"),
        &format!("{SMALL_TRAIN} training images: loss without and with dropout"),
        "epoch",
        "MSE per pixel (measured without dropout)",
        &curves,
    )?;
    line_chart(
        &out.join("p-sweep.svg"),
        &format!("Generalisation gap after {epochs} epochs on {SMALL_TRAIN} images"),
        "dropout probability p",
        "test MSE − training-set MSE",
        &[Series {
            name: "gap".into(),
            points: gaps,
        }],
    )?;
    let mut table = markdown_table(&HEADERS, &rows);
    table.push_str(&format!(
        "\nFirst {} training and {} test images of {}; {epochs} epochs, otherwise as the main \
         experiment; `{}`\n",
        small.train.len(),
        small.test.len(),
        data.title(),
        args.run.reproduce_command(PACKAGE, &overfit_flags(args))
    ));
    ae_toolkit::atomic::write(&out.join("overfit-summary.md"), table.as_bytes())?;
    results.write(&out).map(drop)
}
