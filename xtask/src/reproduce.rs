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

/// What `cargo xtask reproduce` runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only the chapters whose crate name starts with this, e.g. `ch03`.
    pub only: Option<String>,
    /// The data directory (the examples' own default when `None`).
    pub data_dir: Option<PathBuf>,
    /// Leave out the runs that take hours (`all-quick` where an example offers it).
    pub quick: bool,
    /// Pass `--resume`: finished runs are read back from their checkpoints, interrupted ones
    /// continue. Such a run's times are not recorded (they are not the time to reproduce).
    pub resume: bool,
}

/// How one chapter's run went.
pub struct ChapterRun {
    pub chapter: String,
    /// The chapter ran its `all-quick` choice (long runs left out).
    pub quick: bool,
    pub seconds: f64,
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
    let status = build.current_dir(root).status()?;
    if !status.success() {
        bail!("building the examples failed ({status})");
    }

    let logs = root.join("target/reproduce");
    std::fs::create_dir_all(&logs)?;
    let started = Instant::now();
    let mut done: Vec<ChapterRun> = Vec::new();
    let build = dfdx_build(root)?;
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
            log,
        };
        if !opts.resume {
            record(&root.join(TIMES_DIR), build, &run)?;
        }
        done.push(run);
    }
    Ok(done)
}

/// Where the recorded times go: the performance appendix quotes them.
pub const TIMES_DIR: &str = "book/generated/reproduce";

/// Which dfdx the examples are built with, as the lock file says: `published` (0.13.0 from
/// crates.io) or `patched` (the project's copy in `vendor/dfdx`, a path dependency, which the
/// lock file lists without a source).
pub fn dfdx_build(root: &Path) -> anyhow::Result<&'static str> {
    let path = root.join("Cargo.lock");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (run `cargo build` first)", path.display()))?;
    let lock: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not TOML", path.display()))?;
    let dfdx = lock
        .get("package")
        .and_then(|p| p.as_array_of_tables())
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("name").and_then(|n| n.as_str()) == Some("dfdx"))
        })
        .with_context(|| format!("{} lists no dfdx", path.display()))?;
    Ok(if dfdx.contains_key("source") {
        "published"
    } else {
        "patched"
    })
}

/// Records one chapter's time as `<build>_<chNN>[_quick]_seconds` (shown as `m:ss`), then the
/// totals over what is recorded: per build, `<build>_total_seconds` over its chapters
/// (`<build>_chapters`: how many); over the chapters recorded with both builds,
/// `published_both_seconds`, `patched_both_seconds`, `both_chapters` and `both_speedup`
/// (published ÷ patched).
pub fn record(dir: &Path, build: &str, run: &ChapterRun) -> anyhow::Result<()> {
    let key = format!(
        "{}{}",
        short(&run.chapter),
        if run.quick { "_quick" } else { "" }
    );
    let experiment = format!("{build}_{key}");
    Results::new(&experiment)
        .text(
            &format!("{experiment}_seconds"),
            run.seconds,
            minutes(run.seconds),
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
fn short(chapter: &str) -> &str {
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
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let found = chapter_examples(root).unwrap();
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
        // A chapter run again replaces its time.
        record(
            dir.path(),
            "patched",
            &run("ch01-autoencoder", false, 100.0),
        )
        .unwrap();
        let v = ae_toolkit::results::read(dir.path()).unwrap();
        assert_eq!(v["patched_ch01_seconds"].text, "1:40");
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
    fn the_lock_file_tells_which_dfdx_is_built() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(dfdx_build(root).unwrap(), "patched");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.lock"),
            "[[package]]\nname = \"dfdx\"\nversion = \"0.13.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        )
        .unwrap();
        assert_eq!(dfdx_build(dir.path()).unwrap(), "published");
    }

    #[test]
    fn times_read_as_minutes_and_seconds() {
        assert_eq!(minutes(0.4), "0:00");
        assert_eq!(minutes(61.0), "1:01");
        assert_eq!(minutes(3599.6), "60:00");
        assert_eq!(short("ch03-denoising"), "ch03");
    }
}
