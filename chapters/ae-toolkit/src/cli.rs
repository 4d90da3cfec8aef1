//! The skeleton of every chapter's `reproduce` example ([`reproduce`], [`Selection`]): the flags
//! they share, where their outputs go, the value parsers for their numeric flags, and how they
//! exit on an error.

use std::path::PathBuf;

use crate::data::{DataDir, DataSplits, DatasetKind};
use crate::device::DeviceKind;
use crate::paths::workspace_root;
use crate::train::TrainConfig;

/// Flags shared by every chapter's `reproduce` example.
///
/// A chapter flattens them into its own parser:
///
/// ```
/// use ae_toolkit::{cli::RunArgs, device::DeviceKind};
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Reproduce {
///     #[command(flatten)]
///     run: RunArgs,
/// }
/// let defaults = Reproduce::try_parse_from(["reproduce"]).unwrap().run;
/// assert_eq!((defaults.device, defaults.seed, defaults.epochs), (DeviceKind::Cpu, 0, None));
/// assert!(!defaults.resume && !defaults.quiet);
/// let args = Reproduce::try_parse_from(["reproduce", "--seed", "3", "--epochs", "2", "--resume", "-q"])
///     .unwrap()
///     .run;
/// assert_eq!((args.seed, args.epochs, args.resume, args.quiet), (3, Some(2), true, true));
/// // Zero epochs is rejected when parsing, not discovered after loading the data.
/// assert!(Reproduce::try_parse_from(["reproduce", "--epochs", "0"]).is_err());
/// ```
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct RunArgs {
    /// Directory holding `mnist/` and `fashion-mnist/` [default: $AE_DATA_DIR, else `data/` at the
    /// top of the workspace; the embedded subset is used when it holds no data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Device to train on (`cuda` needs a build with `--features cuda`)
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Seed for initialisation, shuffling and noise
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train for this many epochs instead of the preset's
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: Option<u32>,
    /// Where figures and result tables go [default: the book's `book/generated/<chapter>/`]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where metrics (CSV, JSON) and checkpoints go [default: `target/runs/<chapter>/`]
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Continue from the last checkpoint in the runs directory
    #[arg(long)]
    pub resume: bool,
    /// No progress bar or per-epoch lines
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunArgs {
    /// Data set `kind` from the resolved data directory (or the embedded subset), announced on
    /// stderr: which set, how many images, from where.
    pub fn load(&self, kind: DatasetKind) -> Result<DataSplits, crate::error::DataError> {
        let data = crate::data::load(kind, &self.data_dir())?;
        eprintln!("{}", data.provenance());
        Ok(data)
    }

    /// Runs `work` on the chosen device, seeded with `--seed`.
    pub fn on_device<W: crate::device::OnDevice>(&self, work: W) -> anyhow::Result<W::Output> {
        crate::device::on_device(self.device, self.seed, work)
    }

    /// The resolved data directory.
    ///
    /// ```
    /// use ae_toolkit::{cli::RunArgs, data::DataDirOrigin};
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: RunArgs,
    /// }
    /// let a = A::try_parse_from(["a", "--data-dir", "/srv/datasets"]).unwrap();
    /// let dir = a.run.data_dir();
    /// assert_eq!((dir.path.to_str(), dir.origin), (Some("/srv/datasets"), DataDirOrigin::Flag));
    /// ```
    pub fn data_dir(&self) -> DataDir {
        DataDir::resolve(self.data_dir.clone())
    }

    /// Where figures and result tables for `chapter` go.
    ///
    /// ```
    /// use ae_toolkit::cli::RunArgs;
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: RunArgs,
    /// }
    /// let default = A::try_parse_from(["a"]).unwrap().run;
    /// assert!(default.out_dir("ch01").ends_with("book/generated/ch01"));
    /// let flag = A::try_parse_from(["a", "--out", "figures"]).unwrap().run;
    /// assert_eq!(flag.out_dir("ch01"), std::path::Path::new("figures"));
    /// ```
    pub fn out_dir(&self, chapter: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| workspace_root().join("book/generated").join(chapter))
    }

    /// Where metrics and checkpoints of run `name` of `chapter` go.
    ///
    /// ```
    /// use ae_toolkit::cli::RunArgs;
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: RunArgs,
    /// }
    /// let default = A::try_parse_from(["a"]).unwrap().run;
    /// assert!(default.run_dir("ch01", "basic").ends_with("target/runs/ch01/basic"));
    /// let flag = A::try_parse_from(["a", "--runs-dir", "runs"]).unwrap().run;
    /// assert_eq!(flag.run_dir("ch01", "basic"), std::path::Path::new("runs/basic"));
    /// ```
    pub fn run_dir(&self, chapter: &str, name: &str) -> PathBuf {
        self.runs_dir
            .clone()
            .unwrap_or_else(|| workspace_root().join("target/runs").join(chapter))
            .join(name)
    }

    /// Where and how run `name` of `chapter` keeps its metrics and checkpoints; `description`
    /// (what is trained, on which data) is stored in the checkpoint so that `--resume` never
    /// continues a different run.
    ///
    /// ```
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: ae_toolkit::cli::RunArgs,
    /// }
    /// let a = A::try_parse_from(["x", "--runs-dir", "/tmp/runs", "--resume"]).unwrap();
    /// let opts = a.run.run_options("ch01", "basic-default", "basic on MNIST");
    /// assert_eq!(opts.run_dir.unwrap(), std::path::Path::new("/tmp/runs/basic-default"));
    /// assert!(opts.resume && opts.verbose);
    /// assert_eq!(opts.run_name, "ch01/basic-default: basic on MNIST");
    /// ```
    pub fn run_options(
        &self,
        chapter: &str,
        name: &str,
        description: &str,
    ) -> crate::train::RunOptions {
        crate::train::RunOptions {
            run_dir: Some(self.run_dir(chapter, name)),
            resume: self.resume,
            verbose: !self.quiet,
            run_name: format!("{chapter}/{name}: {description}"),
        }
    }

    /// Adam (as [`TrainConfig::adam`]) for `epochs` (unless `--epochs` says otherwise) in
    /// batches of `batch_size`, shuffled with `--seed`: how the examples train when their
    /// chapter changes nothing else.
    ///
    /// ```
    /// use ae_toolkit::{cli::RunArgs, train::TrainConfig};
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: RunArgs,
    /// }
    /// let a = A::try_parse_from(["a", "--epochs", "3", "--seed", "7"]).unwrap();
    /// let cfg = a.run.train_config(10, 128);
    /// assert_eq!(cfg, TrainConfig { seed: 7, ..TrainConfig::adam(3, 128) });
    /// ```
    pub fn train_config(&self, epochs: usize, batch_size: usize) -> TrainConfig {
        TrainConfig {
            seed: self.seed,
            ..TrainConfig::adam(self.epochs_or(epochs), batch_size)
        }
    }

    /// The epochs to train: the flag if given, else the preset's.
    ///
    /// ```
    /// use ae_toolkit::cli::RunArgs;
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: RunArgs,
    /// }
    /// assert_eq!(A::try_parse_from(["a"]).unwrap().run.epochs_or(10), 10);
    /// assert_eq!(A::try_parse_from(["a", "--epochs", "3"]).unwrap().run.epochs_or(10), 3);
    /// ```
    pub fn epochs_or(&self, preset: usize) -> usize {
        self.epochs.map_or(preset, |e| e as usize)
    }
}

impl RunArgs {
    /// The command line that reproduces a result: `reproduce_command(package, "reproduce", …)`
    /// with the chapter's own `flags`, then `--epochs` and `--seed` when they differ from the
    /// defaults.
    ///
    /// ```
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: ae_toolkit::cli::RunArgs,
    /// }
    /// let a = A::try_parse_from(["x", "--seed", "3", "--quiet"]).unwrap();
    /// assert_eq!(
    ///     a.run.reproduce_command("ch02-sparse", &["--beta", "3"]),
    ///     "cargo run --release -p ch02-sparse --example reproduce -- --beta 3 --seed 3"
    /// );
    /// ```
    pub fn reproduce_command<S: AsRef<str>>(&self, package: &str, flags: &[S]) -> String {
        let mut args: Vec<String> = flags.iter().map(|f| f.as_ref().to_string()).collect();
        if let Some(e) = self.epochs {
            args.extend(["--epochs".into(), e.to_string()]);
        }
        if self.seed != 0 {
            args.extend(["--seed".into(), self.seed.to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::report::reproduce_command(package, "reproduce", &refs)
    }

    /// How long training took, for result tables: seconds, mean images per second, device and
    /// threads.
    ///
    /// ```
    /// use ae_toolkit::train::{EpochRecord, Metrics, History};
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct A {
    ///     #[command(flatten)]
    ///     run: ae_toolkit::cli::RunArgs,
    /// }
    /// let a = A::try_parse_from(["x"]).unwrap();
    /// let rec = |epoch, seconds, rate| EpochRecord {
    ///     epoch, train_loss: None, test: Metrics::loss_only(0.0), seconds, samples_per_sec: rate, train_eval: None,
    /// };
    /// let h = History { epochs: vec![rec(0, 0.0, 0.0), rec(1, 2.0, 100.0), rec(2, 3.0, 200.0)] };
    /// assert!(a.run.timing(&h).starts_with("5.0 s (150 images/s, cpu, "));
    /// ```
    pub fn timing(&self, history: &crate::train::History) -> String {
        let rates: Vec<f64> = history
            .epochs
            .iter()
            .filter(|e| e.epoch > 0)
            .map(|e| e.samples_per_sec)
            .collect();
        let mean_rate = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
        format!(
            "{:.1} s ({:.0} images/s, {:?}, {} threads)",
            history.training_seconds(),
            mean_rate,
            self.device,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        )
        .to_lowercase()
    }
}

/// The skeleton of every chapter's `reproduce` example, called from its `main` after parsing
/// the flags: loads each data set in turn (saying on stderr which set, how many images, from
/// where; `run_args` says where the data directory is), runs `experiments` on it, and ends the
/// process as [`exit_on_error`] does when loading or an experiment fails.
///
/// ```no_run
/// use ae_toolkit::{cli::RunArgs, data::DatasetKind};
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Args {
///     #[command(flatten)]
///     run: RunArgs,
/// }
/// let args = Args::parse();
/// ae_toolkit::cli::reproduce(&args.run, &[DatasetKind::Mnist], |data| {
///     println!("{} training images", data.train.len());
///     Ok(())
/// });
/// ```
pub fn reproduce(
    run_args: &RunArgs,
    datasets: &[DatasetKind],
    mut experiments: impl FnMut(DataSplits) -> anyhow::Result<()>,
) {
    crate::threads::make_this_thread_a_rayon_worker();
    exit_on_error(
        datasets
            .iter()
            .try_for_each(|&kind| experiments(run_args.load(kind)?)),
    );
}

/// The values of a flag that chooses what to run (`--experiment`): one per experiment, and
/// `all`, which runs every experiment.
///
/// ```
/// use ae_toolkit::cli::Selection;
/// #[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
/// enum Experiment {
///     Main,
///     Sweep,
///     All,
/// }
/// assert!(Experiment::Main.includes(Experiment::Main));
/// assert!(!Experiment::Main.includes(Experiment::Sweep));
/// assert!(Experiment::All.includes(Experiment::Sweep));
/// ```
pub trait Selection: clap::ValueEnum + PartialEq {
    /// Whether this value of the flag runs `experiment`.
    fn includes(&self, experiment: Self) -> bool {
        // `all` on the command line is what promises every experiment, so it is recognised by
        // that name rather than by a variant each chapter would have to point out.
        *self == experiment
            || self
                .to_possible_value()
                .is_some_and(|value| value.get_name() == "all")
    }
}

impl<E: clap::ValueEnum + PartialEq> Selection for E {}

/// Ends a chapter's `reproduce` example: on error, prints the whole chain of causes and exits
/// with status 1 (no panic, no backtrace for a user's mistake).
///
/// ```
/// ae_toolkit::cli::exit_on_error(Ok(())); // returns normally
/// ```
pub fn exit_on_error(result: anyhow::Result<()>) {
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Value parsers for the examples' numeric flags (`value_parser = ae_toolkit::cli::positive`):
/// a clear message instead of NaN or a negative rate reaching the model.
///
/// ```
/// use ae_toolkit::cli::{fraction, non_negative, positive};
/// assert_eq!(positive("0.5"), Ok(0.5));
/// assert!(positive("0").unwrap_err().contains("> 0"));
/// assert!(positive("NaN").is_err() && non_negative("inf").is_err());
/// assert_eq!(non_negative("0"), Ok(0.0));
/// assert!(fraction("1").unwrap_err().contains("[0, 1)"));
/// assert!(fraction("x").is_err());
/// ```
pub fn positive(s: &str) -> Result<f32, String> {
    parse_checked(
        s,
        |v| v > 0.0 && v.is_finite(),
        "must be a finite number > 0",
    )
}

/// A finite number ≥ 0 (see [`positive`]).
pub fn non_negative(s: &str) -> Result<f32, String> {
    parse_checked(
        s,
        |v| v >= 0.0 && v.is_finite(),
        "must be a finite number ≥ 0",
    )
}

/// A finite number ≥ 0 in double precision, as `TrainConfig`'s weight decay is kept (see
/// [`positive`]).
///
/// ```
/// use ae_toolkit::cli::non_negative_f64;
/// assert_eq!(non_negative_f64("1e-5"), Ok(1e-5));
/// assert!(non_negative_f64("-1").unwrap_err().contains("≥ 0"));
/// ```
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    parse_checked(
        s,
        |v| v >= 0.0 && v.is_finite(),
        "must be a finite number ≥ 0",
    )
}

/// A fraction in `[0, 1)` (see [`positive`]).
pub fn fraction(s: &str) -> Result<f32, String> {
    parse_checked(s, |v| (0.0..1.0).contains(&v), "is not in [0, 1)")
}

/// `s` as a number, if `valid` holds for it; else an error naming the value and what it fails.
fn parse_checked<T>(s: &str, valid: impl Fn(f64) -> bool, fails: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseFloatError> + Into<f64> + Copy + std::fmt::Display,
{
    match s.parse::<T>() {
        Ok(v) if valid(v.into()) => Ok(v),
        Ok(v) => Err(format!("{v} {fails}")),
        Err(e) => Err(e.to_string()),
    }
}
