//! `cargo xtask reproduce`: every chapter's `reproduce` example with every experiment on the full
//! data, writing what the book includes into `book/generated/`, with one progress line and the
//! time of each chapter. `cargo xtask test` runs the same examples for one epoch into temporary
//! directories ([`chapter_examples`] and [`every_experiment_flag`] serve both).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
/// or `--dataset all`), read from the example's argument struct.
pub fn every_experiment_flag(example: &Path) -> anyhow::Result<Vec<String>> {
    let src = std::fs::read_to_string(example)?;
    for flag in ["preset", "experiment", "dataset"] {
        if src.contains(&format!("    {flag}: ")) {
            return Ok(vec![format!("--{flag}"), "all".into()]);
        }
    }
    bail!(
        "{}: no --preset, --experiment or --dataset flag to run everything with",
        example.display()
    )
}

/// `cargo run` of `chapter`'s `reproduce` example built with `profile` (`release`, or `test` to
/// reuse what `cargo test` compiled), quiet, up to the `--` before the example's own flags.
pub fn run_example(chapter: &str, profile: &str) -> Vec<String> {
    let line = format!("run --quiet --profile {profile} -p {chapter} --example reproduce --");
    line.split(' ').map(String::from).collect()
}

/// How one chapter's run went.
pub struct ChapterRun {
    pub chapter: String,
    pub seconds: f64,
    pub log: PathBuf,
}

/// Runs the chapters' examples (all, or those whose crate name starts with `only`, e.g. `ch03`),
/// release build, full data in `data_dir` (the examples' own default when `None`). Each example's
/// output goes to `target/reproduce/<chapter>.log`; the terminal shows one progress line.
pub fn reproduce(
    root: &Path,
    only: Option<&str>,
    data_dir: Option<&Path>,
) -> anyhow::Result<Vec<ChapterRun>> {
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
    for (i, e) in examples.iter().enumerate() {
        let mut args = run_example(&e.chapter, "release");
        args.extend(every_experiment_flag(&e.main)?);
        if let Some(dir) = data_dir {
            args.extend(["--data-dir".to_string(), dir.display().to_string()]);
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
        done.push(ChapterRun {
            chapter: e.chapter.clone(),
            seconds: chapter_start.elapsed().as_secs_f64(),
            log,
        });
    }
    Ok(done)
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
            "{:<20} {:>8}   log: {}\n",
            r.chapter,
            minutes(r.seconds),
            r.log.display()
        ));
    }
    let total: f64 = runs.iter().map(|r| r.seconds).sum();
    out.push_str(&format!("{:<20} {:>8}\n", "total", minutes(total)));
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
            let flag = every_experiment_flag(&e.main).unwrap();
            assert_eq!(flag[1], "all", "{}", e.chapter);
        }
    }

    #[test]
    fn times_read_as_minutes_and_seconds() {
        assert_eq!(minutes(0.4), "0:00");
        assert_eq!(minutes(61.0), "1:01");
        assert_eq!(minutes(3599.6), "60:00");
        assert_eq!(short("ch03-denoising"), "ch03");
    }
}
