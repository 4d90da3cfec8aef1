//! `cargo xtask reproduce`: every chapter's `reproduce` example with every experiment on the full
//! data, writing what the book includes into `book/generated/`, with one progress line and the
//! time of each chapter. `cargo xtask test` runs the same examples for one epoch into temporary
//! directories ([`chapter_examples`] and [`every_experiment_flag`] serve both).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use ae_toolkit::results::Results;
use anyhow::{bail, Context};

/// A chapter crate and its `reproduce` example's main file.
pub struct ChapterExample {
    /// The crate, e.g. `ch03-denoising`.
    pub chapter: String,
    /// `examples/reproduce.rs` or `examples/reproduce/main.rs`.
    pub main: PathBuf,
}

/// Every chapter crate under `chapters/` that has a `reproduce` example, in name order.
pub fn chapter_examples(root: &Path) -> anyhow::Result<Vec<ChapterExample>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root.join("chapters"))? {
        let dir = entry?.path();
        // A one-file example, or one split into modules (`examples/reproduce/main.rs`).
        let main = ["examples/reproduce.rs", "examples/reproduce/main.rs"]
            .map(|f| dir.join(f))
            .into_iter()
            .find(|f| f.is_file());
        if let (Some(main), Some(name)) = (main, dir.file_name()) {
            found.push(ChapterExample {
                chapter: name.to_string_lossy().into_owned(),
                main,
            });
        }
    }
    found.sort_by(|a, b| a.chapter.cmp(&b.chapter));
    Ok(found)
}

/// The flag that makes an example run all of its experiments (`--preset all`, `--experiment all`
/// or `--dataset all`), read from the example's argument struct. With `quick`, an example that
/// has long runs and offers `all-quick` (everything else; Chapter 6) gets that instead.
pub fn every_experiment_flag(example: &Path, quick: bool) -> anyhow::Result<Vec<String>> {
    let src = std::fs::read_to_string(example)?;
    for flag in ["preset", "experiment", "dataset"] {
        if src.contains(&format!("    {flag}: ")) {
            let all = if quick && offers_quick(&src) {
                "all-quick"
            } else {
                "all"
            };
            return Ok(vec![format!("--{flag}"), all.into()]);
        }
    }
    bail!(
        "{}: no --preset, --experiment or --dataset flag to run everything with",
        example.display()
    )
}

/// Whether an example's source declares the `all-quick` choice (a variant `AllQuick`).
fn offers_quick(src: &str) -> bool {
    src.contains("    AllQuick,")
}

/// `cargo run` of `chapter`'s `reproduce` example built with `profile` (`release`, or `test` to
/// reuse what `cargo test` compiled), quiet, up to the `--` before the example's own flags.
pub fn run_example(chapter: &str, profile: &str) -> Vec<String> {
    let line = format!("run --quiet --profile {profile} -p {chapter} --example reproduce --");
    line.split(' ').map(String::from).collect()
}

/// What `cargo xtask reproduce` runs: its command-line flags (`main.rs` flattens them into the
/// `reproduce` subcommand). The field docs are the flags' help.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Only this chapter: its number or crate name, e.g. 3, ch03 or ch03-denoising
    #[arg(long = "chapter", value_name = "N", value_parser = chapter_prefix)]
    pub only: Option<String>,
    /// Data directory [default: $AE_DATA_DIR, else `data/` at the top of the workspace]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Leave out the runs that take hours (Chapter 6's deep autoencoder: its pages then show
    /// the numbers of the last full run)
    #[arg(long)]
    pub quick: bool,
    /// Read finished runs back from their checkpoints and continue interrupted ones (times
    /// are then not recorded)
    #[arg(long)]
    pub resume: bool,
    /// Record the chapters' times as this build's: `patched` (the project's dfdx), or
    /// `published` when vendor/dfdx holds dfdx 0.13.0 without the speed patches (the
    /// performance appendix compares the two)
    #[arg(long, value_name = "BUILD", default_value = "patched", value_parser = BUILDS)]
    pub times_as: String,
}

/// `--chapter`: a number names its chapter's crates by prefix (`3` → `ch03`); anything else is
/// taken as the prefix itself. The chapters whose crate name starts with it run.
fn chapter_prefix(arg: &str) -> Result<String, std::convert::Infallible> {
    Ok(match arg.parse::<u32>() {
        Ok(n) => format!("ch{n:02}"),
        Err(_) => arg.to_string(),
    })
}

/// The builds whose times the appendix compares.
pub const BUILDS: [&str; 2] = ["published", "patched"];

/// How one chapter's run went.
pub struct ChapterRun {
    pub chapter: String,
    /// The chapter ran its `all-quick` choice (long runs left out).
    pub quick: bool,
    pub seconds: f64,
    /// The 1-minute load average when the chapter started and when it ended (where the system
    /// reports one): what else the machine was doing, for the page that quotes the time.
    pub load: Option<(f64, f64)>,
    pub log: PathBuf,
}

/// Runs the chapters' examples (release build, full data), each example's output into
/// `target/reproduce/<chapter>.log`, the terminal showing one progress line; unless resuming,
/// each chapter's time is recorded in `book/generated/reproduce/` ([`record`]) as it finishes.
pub fn reproduce(root: &Path, opts: &Options) -> anyhow::Result<Vec<ChapterRun>> {
    let only = opts.only.as_deref();
    let examples: Vec<_> = chapter_examples(root)?
        .into_iter()
        .filter(|e| only.is_none_or(|o| e.chapter.starts_with(o)))
        .collect();
    if examples.is_empty() {
        bail!(
            "no chapter matches {:?}; the chapters are: {}",
            only.unwrap_or(""),
            chapter_examples(root)?
                .iter()
                .map(|e| e.chapter.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut build = crate::cargo_command();
    build.args(["build", "--release", "--example", "reproduce"]);
    for e in &examples {
        build.args(["-p", &e.chapter]);
    }
    eprintln!("building the examples (release) …");
    crate::run(build.current_dir(root)).context("building the examples failed")?;

    let logs = root.join("target/reproduce");
    std::fs::create_dir_all(&logs)?;
    let started = Instant::now();
    let mut done: Vec<ChapterRun> = Vec::new();
    for (i, e) in examples.iter().enumerate() {
        let mut args = run_example(&e.chapter, "release");
        let every = every_experiment_flag(&e.main, opts.quick)?;
        let quick = every[1] == "all-quick";
        args.extend(every);
        if let Some(dir) = &opts.data_dir {
            args.extend(["--data-dir".to_string(), dir.display().to_string()]);
        }
        if opts.resume {
            args.push("--resume".into());
        }
        args.push("--quiet".into());
        let log = logs.join(format!("{}.log", e.chapter));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = crate::cargo_command()
            .args(&args)
            .current_dir(root)
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        let chapter_start = Instant::now();
        let load_before = crate::perf::load_average();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            progress(i, examples.len(), &e.chapter, &done, chapter_start, started);
            std::thread::sleep(Duration::from_millis(500));
        };
        eprintln!();
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<_> = text.lines().rev().take(20).collect();
            bail!(
                "{} failed ({status}); `cargo {}` — the end of {}:\n{}",
                e.chapter,
                args.join(" "),
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let run = ChapterRun {
            chapter: e.chapter.clone(),
            quick,
            seconds: chapter_start.elapsed().as_secs_f64(),
            load: load_before.zip(crate::perf::load_average()),
            log,
        };
        if !opts.resume {
            record(&root.join(TIMES_DIR), &opts.times_as, &run)?;
        }
        done.push(run);
    }
    Ok(done)
}

/// Where the recorded times go: the performance appendix quotes them.
pub const TIMES_DIR: &str = "book/generated/reproduce";

/// Records one chapter's time as `<build>_<chNN>[_quick]_seconds` (shown as `m:ss`), the load
/// average before and after it as `…_load_before` and `…_load_after`, and the machine as
/// `<build>_machine` (its CPU), then the
/// totals over what is recorded: per build, `<build>_total_seconds` over its chapters
/// (`<build>_chapters`: how many); over the chapters recorded with both builds,
/// `published_both_seconds`, `patched_both_seconds`, `both_chapters` and `both_speedup`
/// (published ÷ patched).
pub fn record(dir: &Path, build: &str, run: &ChapterRun) -> anyhow::Result<()> {
    if !BUILDS.contains(&build) {
        bail!("times are recorded as one of {BUILDS:?}, not `{build}`");
    }
    let key = format!(
        "{}{}",
        short(&run.chapter),
        if run.quick { "_quick" } else { "" }
    );
    let experiment = format!("{build}_{key}");
    let mut chapter = Results::new(&experiment);
    chapter.text(
        &format!("{experiment}_seconds"),
        run.seconds,
        minutes(run.seconds),
    );
    if let Some((before, after)) = run.load {
        chapter
            .number(&format!("{experiment}_load_before"), before, 2)
            .number(&format!("{experiment}_load_after"), after, 2);
    }
    chapter.write(dir)?;
    // The machine the times were taken on (the build's latest run), so a page can name it.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Results::new(&format!("{build}_machine"))
        .text(
            &format!("{build}_machine"),
            cpus as f64,
            format!("{}, {cpus} logical CPUs", crate::perf::cpu_name()),
        )
        .write(dir)?;
    let all = ae_toolkit::results::read(dir)?;
    let times = |build: &str| -> BTreeMap<String, f64> {
        all.iter()
            .filter_map(|(name, v)| {
                let key = name.strip_prefix(build)?.strip_prefix('_')?;
                let key = key.strip_suffix("_seconds")?;
                key.starts_with("ch").then(|| (key.to_string(), v.value))
            })
            .collect()
    };
    let (published, patched) = (times("published"), times("patched"));
    let mut totals = Results::new("totals");
    for (build, times) in [("published", &published), ("patched", &patched)] {
        if !times.is_empty() {
            let total: f64 = times.values().sum();
            totals
                .text(&format!("{build}_total_seconds"), total, minutes(total))
                .count(&format!("{build}_chapters"), times.len());
        }
    }
    let both: Vec<_> = published
        .iter()
        .filter_map(|(k, before)| Some((*before, *patched.get(k)?)))
        .collect();
    if !both.is_empty() {
        let before: f64 = both.iter().map(|b| b.0).sum();
        let after: f64 = both.iter().map(|b| b.1).sum();
        totals
            .text("published_both_seconds", before, minutes(before))
            .text("patched_both_seconds", after, minutes(after))
            .count("both_chapters", both.len())
            .number("both_speedup", before / after, 2);
    }
    totals.write(dir)?;
    Ok(())
}

/// The one progress line: chapters done with their times, the running one, the total so far.
/// (Not indicatif's bar, #17: its `{elapsed}` is one clock per bar; this line shows two.)
fn progress(
    i: usize,
    n: usize,
    running: &str,
    done: &[ChapterRun],
    chapter_start: Instant,
    started: Instant,
) {
    let finished: Vec<String> = done
        .iter()
        .map(|d| format!("{} {}", short(&d.chapter), minutes(d.seconds)))
        .collect();
    let line = format!(
        "[{}/{n}] {running} {} · done: {} · total {}",
        i + 1,
        minutes(chapter_start.elapsed().as_secs_f64()),
        if finished.is_empty() {
            "—".to_string()
        } else {
            finished.join(", ")
        },
        minutes(started.elapsed().as_secs_f64()),
    );
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}

/// `ch03-denoising` → `ch03`.
pub(crate) fn short(chapter: &str) -> &str {
    chapter.split('-').next().unwrap_or(chapter)
}

/// Seconds as `m:ss`.
pub fn minutes(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The closing summary: each chapter's time and the total.
pub fn summary(runs: &[ChapterRun]) -> String {
    let mut out = String::new();
    for r in runs {
        out.push_str(&format!(
            "{:<26} {:>8}   log: {}\n",
            format!("{}{}", r.chapter, if r.quick { " (quick)" } else { "" }),
            minutes(r.seconds),
            r.log.display()
        ));
    }
    let total: f64 = runs.iter().map(|r| r.seconds).sum();
    out.push_str(&format!("{:<26} {:>8}\n", "total", minutes(total)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chapter_with_an_example_is_found_and_says_how_to_run_everything() {
        let found = chapter_examples(&ae_toolkit::paths::workspace_root()).unwrap();
        assert!(found.iter().any(|e| e.chapter == "ch01-autoencoder"));
        assert!(found.iter().any(|e| e.chapter == "ch06-beyond"));
        for e in &found {
            let flag = every_experiment_flag(&e.main, false).unwrap();
            assert_eq!(flag[1], "all", "{}", e.chapter);
        }
        let quick: Vec<_> = found
            .iter()
            .filter(|e| every_experiment_flag(&e.main, true).unwrap()[1] == "all-quick")
            .map(|e| e.chapter.as_str())
            .collect();
        assert_eq!(quick, ["ch06-beyond"]);
    }

    #[test]
    fn times_are_recorded_per_build_and_compared_over_the_chapters_both_ran() {
        let dir = tempfile::tempdir().unwrap();
        let run = |chapter: &str, quick, seconds| ChapterRun {
            chapter: chapter.into(),
            quick,
            seconds,
            load: Some((0.25, 1.9)),
            log: PathBuf::new(),
        };
        record(dir.path(), "patched", &run("ch01-autoencoder", false, 90.0)).unwrap();
        record(dir.path(), "patched", &run("ch06-beyond", true, 300.0)).unwrap();
        record(
            dir.path(),
            "patched",
            &run("ch07-convolutional", false, 3000.0),
        )
        .unwrap();
        record(
            dir.path(),
            "published",
            &run("ch01-autoencoder", false, 180.0),
        )
        .unwrap();
        record(dir.path(), "published", &run("ch06-beyond", true, 420.0)).unwrap();
        let odd = record(dir.path(), "nightly", &run("ch02-sparse", false, 1.0));
        assert!(odd.unwrap_err().to_string().contains("not `nightly`"));
        // A chapter run again replaces its time.
        record(
            dir.path(),
            "patched",
            &run("ch01-autoencoder", false, 100.0),
        )
        .unwrap();
        let v = ae_toolkit::results::read(dir.path()).unwrap();
        assert_eq!(v["patched_ch01_seconds"].text, "1:40");
        assert!(v["patched_machine"].text.ends_with("logical CPUs"));
        assert_eq!(v["patched_ch01_load_before"].text, "0.25");
        assert_eq!(v["patched_ch01_load_after"].text, "1.90");
        assert_eq!(v["patched_ch06_quick_seconds"].value, 300.0);
        assert_eq!(v["patched_total_seconds"].value, 3400.0);
        assert_eq!(v["patched_chapters"].value, 3.0);
        assert_eq!(v["published_total_seconds"].value, 600.0);
        // Chapter 7 has no published time, so the comparison covers ch01 and ch06 (quick).
        assert_eq!(v["both_chapters"].value, 2.0);
        assert_eq!(v["patched_both_seconds"].value, 400.0);
        assert_eq!(v["both_speedup"].text, "1.50");
    }

    #[test]
    fn the_flags_parse_as_their_help_says() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            options: Options,
        }
        let parse = |args: &[&str]| {
            let args = std::iter::once("reproduce").chain(args.iter().copied());
            <Cli as clap::Parser>::try_parse_from(args).map(|c| c.options)
        };
        let o = parse(&["--chapter", "3"]).unwrap();
        assert_eq!(o.only.as_deref(), Some("ch03"));
        assert_eq!(o.times_as, "patched");
        let o = parse(&["--chapter", "ch03-denoising", "--times-as", "published"]).unwrap();
        assert_eq!(o.only.as_deref(), Some("ch03-denoising"));
        assert_eq!(o.times_as, "published");
        assert!(parse(&["--times-as", "nightly"]).is_err());
    }

    #[test]
    fn times_read_as_minutes_and_seconds() {
        assert_eq!(minutes(0.4), "0:00");
        assert_eq!(minutes(61.0), "1:01");
        assert_eq!(minutes(3599.6), "60:00");
        assert_eq!(short("ch03-denoising"), "ch03");
    }
}
