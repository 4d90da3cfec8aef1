//! `cargo xtask <command>`: the project's tasks, so that a fresh machine needs nothing but cargo.

use std::path::{Path, PathBuf};

use ae_toolkit::data::{DataDir, DatasetKind, SUBSET_TEST, SUBSET_TRAIN};
use ae_toolkit::fetch::{fetch_files, Outcome, Source};
use ae_toolkit::idx::Idx;
use ae_toolkit::paths::workspace_root as root;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use xtask::reproduce::{chapter_examples, every_experiment_flag, run_example};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Tasks of the Autoencoders in Rust project"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Fetch the full MNIST and Fashion-MNIST sets into the data directory, verifying SHA-256
    FetchData {
        /// Data directory [default: $AE_DATA_DIR, else `data/` at the top of the workspace]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Only this data set [default: both]
        #[arg(long, value_enum)]
        dataset: Option<DatasetKind>,
    },
    /// Run every test the project has: fmt, clippy (warnings denied), all tests and doctests
    /// (including the book's build and checks) and the CUDA compile check
    Test,
    /// Check that the CUDA build compiles (dfdx's `ci-check` feature: no GPU or toolkit needed)
    CudaCheck,
    /// Build, serve or check the book (both languages)
    Book {
        #[command(subcommand)]
        action: BookAction,
    },
    /// Course assignments: student copies with stubs, grading, and the self-check
    Assignment {
        #[command(subcommand)]
        action: AssignmentAction,
    },
    /// Time the chapters' models against PyTorch: one training step (criterion, interleaved with
    /// PyTorch, median over rounds) or, with --epochs, one epoch on the full training set; writes
    /// book/generated/perf/{train-step,epoch}.{md,json}
    Perf(xtask::perf::Options),
    /// Run every chapter's `reproduce` example with all its experiments on the full data (release
    /// build), rewriting what the book includes in book/generated/; one progress line, and the
    /// time of each chapter at the end (recorded in book/generated/reproduce/). Fetches the data
    /// first if it is missing
    Reproduce(xtask::reproduce::Options),
    /// Re-cut the embedded subset (first 2,000 train / 500 test images) from full data
    MakeSubset {
        /// Data directory holding the full sets (fetch them first)
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AssignmentAction {
    /// Write a student copy (a standalone workspace, solutions replaced by `todo!()`)
    Student {
        /// The chapter, e.g. ch02-sparse
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        chapter: Option<String>,
        /// Every chapter that has exercises
        #[arg(long)]
        all: bool,
        /// Directory to create (must be empty or absent)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Grade a student copy: visible and hidden tests, per-exercise scores
    Grade {
        /// The chapter, e.g. ch02-sparse
        #[arg(long)]
        chapter: String,
        /// The student copy (the directory holding `<chapter>/src/lib.rs`)
        #[arg(long, value_name = "DIR")]
        submission: PathBuf,
        /// Where to write the JSON report (a Markdown table goes next to it, as `.md`)
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Time limit per test, in seconds
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Check every chapter: the reference scores 100 %, the student copy compiles, stubs score 0
    Check,
}

#[derive(Subcommand)]
enum BookAction {
    /// Build both languages into target/book/{en,zh}
    Build,
    /// Serve one language locally, rebuilding on change
    Serve {
        /// en or zh
        #[arg(long, default_value = "en", value_parser = ["en", "zh"])]
        lang: String,
        /// Port to listen on
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// Build both languages and run every check on sources and HTML
    Check,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Task::FetchData { data_dir, dataset } => fetch_data(DataDir::resolve(data_dir), dataset),
        Task::Test => test_everything(),
        Task::Reproduce(options) => reproduce(&options),
        Task::CudaCheck => cuda_check(),
        Task::Book { action } => match action {
            BookAction::Build => xtask::book::build(&root()),
            BookAction::Serve { lang, port } => xtask::book::serve(&root(), &lang, port),
            BookAction::Check => xtask::book::check(&root()),
        },
        Task::Assignment { action } => assignment(action),
        Task::MakeSubset { data_dir } => make_subset(&DataDir::resolve(data_dir)),
        Task::Perf(options) => xtask::perf::run(&root(), &options),
    }
}

fn assignment(action: AssignmentAction) -> anyhow::Result<()> {
    use xtask::assignment as a;
    let root = root();
    match action {
        AssignmentAction::Student { chapter, all, out } => {
            let chapters = if all {
                a::chapters(&root)?
            } else {
                chapter.into_iter().collect()
            };
            a::student_copy(&root, &chapters, &out)?;
            eprintln!(
                "wrote the student copy of {} to {}",
                chapters.join(", "),
                out.display()
            );
        }
        AssignmentAction::Grade {
            chapter,
            submission,
            report,
            timeout,
        } => {
            let mut opts = a::GradeOptions::new(&root);
            opts.timeout = std::time::Duration::from_secs(timeout);
            let r = a::grade(&root, &chapter, &submission, &opts)?;
            println!("{}", r.table());
            if let Some(path) = report {
                a::write_report(&r, &path)?;
                eprintln!("report: {} (and .md)", path.display());
            }
        }
        AssignmentAction::Check => {
            a::check(&root, &a::GradeOptions::new(&root))?;
            eprintln!("assignments: every reference scores 100 %, every stub 0");
        }
    }
    Ok(())
}

fn reproduce(opts: &xtask::reproduce::Options) -> anyhow::Result<()> {
    fetch_data(DataDir::resolve(opts.data_dir.clone()), None)?;
    let runs = xtask::reproduce::reproduce(&root(), opts)?;
    print!("{}", xtask::reproduce::summary(&runs));
    Ok(())
}

fn fetch_data(dir: DataDir, only: Option<DatasetKind>) -> anyhow::Result<()> {
    eprintln!("data directory: {dir}");
    for kind in DatasetKind::ALL
        .into_iter()
        .filter(|k| only.is_none_or(|o| o == *k))
    {
        let dest = dir.dataset_dir(kind);
        let sources = Source::defaults_for(kind);
        let tried: Vec<String> = sources.iter().map(ToString::to_string).collect();
        eprintln!("{kind}: sources in order: {}", tried.join(", "));
        for outcome in fetch_files(&kind.files(), &dest, &sources)? {
            match outcome {
                Outcome::AlreadyPresent(p) => eprintln!("  ok (already there) {}", p.display()),
                Outcome::Fetched(p, from) => eprintln!("  ok {} <- {from}", p.display()),
            }
        }
    }
    eprintln!("all files verified against their SHA-256 checksums");
    Ok(())
}

fn make_subset(dir: &DataDir) -> anyhow::Result<()> {
    let shipped = root().join("chapters/ae-toolkit/data");
    for kind in DatasetKind::ALL {
        let from = dir.dataset_dir(kind);
        for file in kind.files() {
            let path = file.find_in(&from).with_context(|| {
                format!(
                    "{} not in {}; run `cargo xtask fetch-data` first",
                    file.name,
                    from.display()
                )
            })?;
            let full = Idx::read(&path, file.kind)?;
            let n = match file.split {
                ae_toolkit::data::Split::Train => SUBSET_TRAIN,
                ae_toolkit::data::Split::Test => SUBSET_TEST,
            };
            let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut gz, &full.head(n).to_bytes())?;
            let out = shipped
                .join(kind.dir_name())
                .join(format!("{}.gz", file.name));
            ae_toolkit::atomic::write(&out, &gz.finish()?)?;
            eprintln!("wrote {} ({n} items)", out.display());
        }
    }
    Ok(())
}

/// Runs a cargo command from the workspace root, failing with the command line if it fails.
fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("\n==> cargo {}", args.join(" "));
    xtask::run(xtask::cargo_command().args(args).current_dir(root()))
}

fn cuda_check() -> anyhow::Result<()> {
    cargo(&[
        "check",
        "--workspace",
        "--exclude",
        "xtask",
        "--exclude",
        "book-tests",
        "--all-targets",
        "--features",
        "cuda,ae-toolkit/ci-check",
    ])?;
    eprintln!("CUDA build compiles (checked only: no GPU on this machine)");
    Ok(())
}

fn test_everything() -> anyhow::Result<()> {
    // Each phase's wall time, printed at the end: where CI's minutes go, run after run.
    let mut phases = Phases::default();
    phases.time("fmt", || cargo(&["fmt", "--all", "--check"]))?;
    // Clippy also type-checks the examples; `cargo test` below leaves them out, because every
    // chapter's example is called `reproduce` and building them all in one invocation makes their
    // uplifted binaries collide (a cargo warning).
    phases.time("clippy", || {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    let mut total = TestCount::default();
    total += phases.time("tests (build and run)", || {
        // `--timings`: what each crate and test binary cost to build, in
        // target/cargo-timings/cargo-timing.html (the build is most of CI's time).
        cargo_test(&[
            "test",
            "--workspace",
            "--no-fail-fast",
            "--timings",
            "--lib",
            "--bins",
            "--tests",
        ])
    })?;
    total += phases.time("doctests", || {
        cargo_test(&["test", "--workspace", "--no-fail-fast", "--doc"])
    })?;
    total += phases.time("examples (build and run)", run_examples)?;
    // Last of the builds in the workspace's target directory: a grading workspace compiles the
    // crates it shares with this workspace (the toolkit, the vendored dfdx) from another
    // workspace root, so cargo rebuilds them in place, and a build here after it would rebuild
    // them once more.
    total += phases.time("assignment check", || {
        let root = root();
        xtask::assignment::check(&root, &xtask::assignment::GradeOptions::new(&root))?;
        println!("assignments: every reference scores 100 %, every stub 0");
        Ok(TestCount {
            passed: 1,
            failed: 0,
        })
    })?;
    phases.time("CUDA compile check", cuda_check)?;
    phases.print();
    // One closing line for the whole suite, in the plain form CI reads.
    println!("tests: {} passed, {} failed", total.passed, total.failed);
    Ok(())
}

/// The wall time of each phase of the suite, in order.
#[derive(Default)]
struct Phases(Vec<(&'static str, std::time::Duration)>);

impl Phases {
    fn time<T>(
        &mut self,
        name: &'static str,
        phase: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let started = std::time::Instant::now();
        let result = phase();
        self.0.push((name, started.elapsed()));
        result
    }

    fn print(&self) {
        let list: Vec<String> = (self.0.iter())
            .map(|(name, d)| format!("{name} {:.0} s", d.as_secs_f64()))
            .collect();
        println!("phases: {}", list.join(", "));
    }
}

/// Every chapter's `reproduce` example with all its experiments, for one epoch on the embedded
/// subset, writing into a temporary directory: an example that breaks at run time fails the suite,
/// and the book's `book/generated/` is left untouched (checked). Built with the test profile, so
/// it reuses what `cargo test` compiled.
fn run_examples() -> anyhow::Result<TestCount> {
    let root = root();
    let generated = root.join("book/generated");
    let before = tree_snapshot(&generated)?;
    let mut count = TestCount::default();
    for xtask::reproduce::ChapterExample { chapter, main } in chapter_examples(&root)? {
        let everything = every_experiment_flag(&main, false)?;
        let tmp = tempfile::tempdir()?;
        let (data, out, runs) = (
            tmp.path().join("no-data"),
            tmp.path().join("out"),
            tmp.path().join("runs"),
        );
        std::fs::create_dir_all(&data)?;
        let mut args = run_example(&chapter, "test");
        args.extend(everything);
        for (flag, path) in [
            ("--data-dir", &data),
            ("--out", &out),
            ("--runs-dir", &runs),
        ] {
            args.extend([flag.to_string(), path.display().to_string()]);
        }
        args.extend(["--epochs", "1", "--quiet"].map(String::from));
        eprintln!("\n==> cargo {}", args.join(" "));
        let started = std::time::Instant::now();
        let status = xtask::cargo_command()
            .args(&args)
            .current_dir(&root)
            .status()?;
        let wrote = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
        let ok = status.success() && wrote > 0;
        println!(
            "example {chapter}: {} ({wrote} files written, {:.1} s)",
            if ok { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        if ok {
            count.passed += 1;
        } else {
            count.failed += 1;
        }
    }
    if tree_snapshot(&generated)? != before {
        println!(
            "examples: FAILED: a run with --out elsewhere changed {}",
            generated.display()
        );
        count.failed += 1;
    }
    if count.failed > 0 {
        bail!("{} of the chapters' examples failed", count.failed);
    }
    Ok(count)
}

/// Every file under `dir` with its size and modification time.
fn tree_snapshot(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64, std::time::SystemTime)>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !meta.is_dir() {
            files.push((entry.into_path(), meta.len(), meta.modified()?));
        }
    }
    Ok(files)
}

#[derive(Default)]
struct TestCount {
    passed: usize,
    failed: usize,
}

impl std::ops::AddAssign for TestCount {
    fn add_assign(&mut self, other: TestCount) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

/// Runs `cargo test …`, passing its output through while adding up its `test result:` lines.
fn cargo_test(args: &[&str]) -> anyhow::Result<TestCount> {
    use std::io::BufRead;
    let cargo = xtask::cargo_program();
    eprintln!("\n==> cargo {}", args.join(" "));
    let mut child = xtask::cargo_command()
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cargo}"))?;
    let mut count = TestCount::default();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            count += parse_test_result(rest);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "`cargo {}` failed ({status}): {} passed, {} failed",
            args.join(" "),
            count.passed,
            count.failed
        );
    }
    Ok(count)
}

/// The counts in what follows `test result: `, e.g. `ok. 17 passed; 0 failed; 0 ignored; …`.
/// (libtest's JSON events, `--format json`, need `-Z unstable-options`: not on stable Rust.)
fn parse_test_result(rest: &str) -> TestCount {
    let number = |word: &str| {
        rest.split(';')
            .find_map(|part| part.trim().strip_suffix(word))
            .and_then(|n| n.rsplit(' ').next()?.parse::<usize>().ok())
            .unwrap_or(0)
    };
    TestCount {
        passed: number(" passed"),
        failed: number(" failed"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_result_lines_are_counted() {
        let c = super::parse_test_result(
            "ok. 17 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.05s",
        );
        assert_eq!((c.passed, c.failed), (17, 2));
        let c = super::parse_test_result(
            "FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 7.38s",
        );
        assert_eq!((c.passed, c.failed), (0, 1));
    }
}
