//! The bilingual book: build, serve and check.
//!
//! Layout: `book.toml` at the top of the repository (one configuration), English sources in
//! `book/en/`, Chinese sources in `book/zh/` (parallel trees: same file names, same structure),
//! outputs the chapters generate in `book/generated/`, theme files in `book/theme/`. Each language
//! is built as its own site by running mdBook with environment overrides of the configuration
//! (mdBook 0.5 maps `MDBOOK_BOOK__SRC` to `book.src`, and so on):
//!
//! | variable                | English                | Chinese              |
//! |-------------------------|------------------------|----------------------|
//! | `MDBOOK_BOOK__SRC`      | `book/en`              | `book/zh`            |
//! | `MDBOOK_BOOK__LANGUAGE` | `en`                   | `zh`                 |
//! | `MDBOOK_BOOK__TITLE`    | Autoencoders in Rust   | 自编码器：Rust 实战  |
//! | `--dest-dir`            | `target/book/en`       | `target/book/zh`     |
//!
//! After mdBook, each site gets its search index (Pagefind, in `<site>/pagefind/`; see
//! `book/search.rs`), `book/generated/` is copied into each site as `generated/` (pages refer to
//! figures as `generated/ch01/x.svg`), and `target/book/index.html` redirects to `en/`.

mod claims;
pub mod exercises;
mod html;
mod markdown;
pub mod search;
mod sources;
pub mod terms;
pub mod values;

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use html::check_html;
pub use sources::check_sources;

use crate::tools::{self, Tools};

/// One language edition.
#[derive(Clone, Copy, Debug)]
pub struct Lang {
    /// Directory name under `book/` and in the site, and the HTML `lang`.
    pub code: &'static str,
    /// The book's title in this language.
    pub title: &'static str,
    /// Name used in messages.
    pub english_name: &'static str,
}

/// Both editions, English first (the site root redirects to it).
pub const LANGS: [Lang; 2] = [
    Lang {
        code: "en",
        title: "Autoencoders in Rust",
        english_name: "English",
    },
    Lang {
        code: "zh",
        title: "自编码器：Rust 实战",
        english_name: "Chinese",
    },
];

/// A problem found by a check, shown as `file:line: message`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    /// Path relative to the layout's display base (`book/zh/ch01-autoencoder.md`).
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// Where a book's pieces are.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Directory holding `book.toml` and the theme (the repository root).
    pub root: PathBuf,
    /// Directory holding `en/`, `zh/` and `generated/`.
    pub book_dir: PathBuf,
    /// Output directory: sites go to `<out_dir>/en/` and `<out_dir>/zh/`.
    pub out_dir: PathBuf,
    /// Problems name files relative to this directory.
    pub display_base: PathBuf,
}

impl Layout {
    /// The repository's book: `book/` in, `target/book/` out.
    pub fn for_repo(root: &Path) -> Result<Layout> {
        let root = fs::canonicalize(root)
            .with_context(|| format!("cannot find the repository at {}", root.display()))?;
        Ok(Layout {
            book_dir: root.join("book"),
            out_dir: root.join("target").join("book"),
            display_base: root.clone(),
            root,
        })
    }

    /// Another book (a test fixture: `<book_root>/book/{en,zh,generated}`) built with the
    /// repository's configuration and theme, into `out_dir`.
    pub fn for_fixture(repo_root: &Path, book_root: &Path, out_dir: &Path) -> Result<Layout> {
        let book_root = fs::canonicalize(book_root)
            .with_context(|| format!("cannot find {}", book_root.display()))?;
        Ok(Layout {
            root: fs::canonicalize(repo_root)?,
            book_dir: book_root.join("book"),
            out_dir: out_dir.to_path_buf(),
            display_base: book_root,
        })
    }

    pub fn src_dir(&self, lang: &str) -> PathBuf {
        self.book_dir.join(lang)
    }

    pub fn generated_dir(&self) -> PathBuf {
        self.book_dir.join("generated")
    }

    /// The directory holding `book/`, `chapters/` and `target/` (the repository, or a fixture).
    pub fn book_root(&self) -> &Path {
        self.book_dir.parent().unwrap_or(&self.root)
    }

    /// `path` relative to the display base, with `/` separators.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.display_base) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => slash_path(rel),
            Err(_) => path.display().to_string(),
        }
    }
}

/// A relative path with `/` separators on every platform.
pub(crate) fn slash_path(rel: &Path) -> String {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

/// The files under `dir` (links followed) whose extension is `ext`, sorted; entries `skip`
/// accepts are left out, directories with everything in them.
pub(crate) fn files_with_ext(
    dir: &Path,
    ext: &str,
    skip: impl Fn(&walkdir::DirEntry) -> bool,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (walkdir::WalkDir::new(dir).follow_links(true).into_iter())
        .filter_entry(|e| e.depth() == 0 || !skip(e))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == ext))
        .map(walkdir::DirEntry::into_path)
        .collect();
    out.sort();
    out
}

/// Writes `text` to `path` atomically (ae_toolkit::atomic), unless it already holds it: a
/// rewrite with the same content would make `book serve` rebuild for nothing.
pub(crate) fn write_changed(path: &Path, text: &str) -> Result<()> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    ae_toolkit::atomic::write(path, text.as_bytes())
}

fn lang(code: &str) -> Result<Lang> {
    LANGS
        .into_iter()
        .find(|l| l.code == code)
        .with_context(|| format!("unknown language `{code}` (expected en or zh)"))
}

/// `cargo xtask book build`: installs the pinned tools if needed and builds both languages into
/// `target/book/`.
pub fn build(root: &Path) -> Result<()> {
    let layout = Layout::for_repo(root)?;
    let tools = tools::ensure(&layout.root)?;
    let started = Instant::now();
    let report = build_layout(&layout, &tools)?;
    if !report.failures.is_empty() {
        for p in &report.failures {
            eprintln!("{p}");
        }
        bail!("the book did not build");
    }
    eprintln!(
        "book: built {} in {:.1}s; open {}",
        LANGS.map(|l| l.code).join(" + "),
        started.elapsed().as_secs_f64(),
        layout.out_dir.join("index.html").display()
    );
    if !report.warnings.is_empty() {
        eprintln!(
            "book: {} warning(s) above; `cargo xtask book check` fails on them",
            report.warnings.len()
        );
    }
    Ok(())
}

/// What a build produced besides the sites.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Languages that did not build (mdBook failed).
    pub failures: Vec<Problem>,
    /// Warnings and errors mdBook or a preprocessor logged.
    pub warnings: Vec<Problem>,
}

/// Builds both languages of `layout` with `tools` into `layout.out_dir` (the two mdBook runs go
/// in parallel), copies the generated outputs into each site and writes the root redirect.
pub fn build_layout(layout: &Layout, tools: &Tools) -> Result<BuildReport> {
    fs::create_dir_all(&layout.out_dir)
        .with_context(|| format!("cannot create {}", layout.out_dir.display()))?;
    // The graded exercises' stubs the chapter pages include, derived from the chapters' source.
    let mut stub_problems = exercises::write_stubs(layout);
    // The named values the pages quote, from the runs' results files (see `book/values.rs`).
    stub_problems.extend(values::write_fragments(layout).1);
    let results: Vec<(Lang, Result<Vec<String>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = LANGS
            .into_iter()
            .map(|lang| {
                let dest = layout.out_dir.join(lang.code);
                (
                    lang,
                    s.spawn(move || build_lang(layout, tools, lang, &dest)),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(lang, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("build thread panicked")));
                (lang, r)
            })
            .collect()
    });
    let mut report = BuildReport {
        failures: stub_problems,
        ..BuildReport::default()
    };
    for (lang, result) in results {
        let dest = layout.out_dir.join(lang.code);
        match result {
            Ok(warnings) => {
                report.warnings.extend(
                    warnings
                        .into_iter()
                        .map(|w| Problem::new(layout.display(&layout.src_dir(lang.code)), 0, w)),
                );
                let generated = layout.generated_dir();
                if generated.is_dir() {
                    crate::copy_files(&generated, &dest.join("generated"), &|_| false, true)?;
                }
            }
            Err(e) => report.failures.push(Problem::new(
                layout.display(&layout.src_dir(lang.code)),
                0,
                format!("the {} book did not build: {e:#}", lang.english_name),
            )),
        }
    }
    fs::write(layout.out_dir.join("index.html"), redirect_page())?;
    Ok(report)
}

fn mdbook_command(layout: &Layout, tools: &Tools, lang: Lang) -> Result<Command> {
    let mut cmd = Command::new(&tools.mdbook);
    cmd.env("PATH", tools.path_env()?)
        .env("MDBOOK_BOOK__SRC", layout.src_dir(lang.code))
        .env("MDBOOK_BOOK__LANGUAGE", lang.code)
        .env("MDBOOK_BOOK__TITLE", lang.title)
        .current_dir(&layout.root);
    Ok(cmd)
}

/// Runs `mdbook build` for one language; returns the warnings it logged. Its output is passed
/// through, prefixed with the language.
fn build_lang(layout: &Layout, tools: &Tools, lang: Lang, dest: &Path) -> Result<Vec<String>> {
    let mut cmd = mdbook_command(layout, tools, lang)?;
    cmd.arg("build")
        .arg(&layout.root)
        .arg("--dest-dir")
        .arg(dest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", tools.mdbook.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let prefix = format!("[{}] ", lang.code);
    let mut warnings = std::thread::scope(|s| {
        let p = prefix.clone();
        s.spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("{p}{line}");
            }
        });
        let mut warnings: Vec<String> = Vec::new();
        let mut skipping = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let plain = strip_ansi_escapes::strip_str(&line);
            // Pass on what matters: not mdBook's progress (INFO) lines, not known-harmless ones.
            let info = plain.split_whitespace().take(2).any(|w| w == "INFO");
            let quiet = info || tools::is_known_harmless_warning(&plain);
            if !quiet {
                eprintln!("{prefix}{plain}");
            }
            let Some(w) = log_warning(&plain) else {
                continue;
            };
            // mdBook logs an error's causes as separate lines: keep them with the error.
            if let Some(cause) = w.split_once("Caused By:").map(|c| c.1.trim()) {
                if !skipping {
                    if let Some(last) = warnings.last_mut() {
                        last.push_str(&format!(" (caused by: {cause})"));
                    }
                }
                continue;
            }
            // A failed {{#include}}: the source checks report it with its file and line.
            skipping = w.contains("Error updating \"{{#");
            if !skipping {
                warnings.push(w);
            }
        }
        warnings
    });
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "mdbook build exited with {status}{}",
            warnings
                .last()
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        );
    }
    let (summary, search_warnings) = search::build_index(tools, dest, lang.code)?;
    eprintln!("{prefix}{summary}");
    for w in &search_warnings {
        eprintln!("{prefix}{w}");
    }
    warnings.extend(search_warnings);
    Ok(warnings)
}

/// `Some(message)` for a WARN or ERROR line of mdBook's (or a preprocessor's) log, except the
/// known harmless ones.
fn log_warning(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let level_pos = line
        .split_whitespace()
        .take(2)
        .position(|w| w == "WARN" || w == "ERROR")?;
    let level = words.nth(level_pos)?;
    let message = line[line.find(level)? + level.len()..].trim();
    if tools::is_known_harmless_warning(message) {
        return None;
    }
    Some(format!("mdbook {level}: {message}"))
}

fn redirect_page() -> String {
    let en = LANGS[0];
    let zh = LANGS[1];
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{en_title} · {zh_title}</title>
<meta http-equiv="refresh" content="0; url=en/index.html">
<link rel="canonical" href="en/">
<script>window.location.replace("en/index.html" + window.location.hash);</script>
</head>
<body>
<p><a href="en/index.html">{en_title}</a> · <a href="zh/index.html" lang="zh">{zh_title}</a></p>
</body>
</html>
"#,
        en_title = en.title,
        zh_title = zh.title
    )
}

/// `cargo xtask book serve`: `mdbook serve` for one language, rebuilding on change (also when
/// included code or generated outputs change), at http://localhost:PORT/. `book/generated/` is
/// kept copied into the served site and its search index rebuilt (mdBook clears its output on
/// every rebuild; the index follows a moment after the page reloads). Only the one language is
/// served, so the language switch leads to a page this server does not have.
pub fn serve(root: &Path, lang_code: &str, port: u16) -> Result<()> {
    let layout = Layout::for_repo(root)?;
    let lang = lang(lang_code)?;
    let tools = tools::ensure(&layout.root)?;
    let dest = layout
        .root
        .join("target")
        .join("book-serve")
        .join(lang.code);
    for p in exercises::write_stubs(&layout)
        .into_iter()
        .chain(values::write_fragments(&layout).1)
    {
        eprintln!("book: {p}");
    }
    let mut cmd = mdbook_command(&layout, &tools, lang)?;
    // Rebuild when included code or generated outputs change too (mdBook exits if a watched
    // directory does not exist, so only existing ones).
    let watch: Vec<String> = [
        layout.root.join("chapters"),
        layout.generated_dir(),
        exercises::stubs_dir(&layout),
    ]
    .iter()
    .filter(|d| d.is_dir())
    .map(|d| d.display().to_string())
    .collect();
    cmd.env(
        "MDBOOK_BUILD__EXTRA_WATCH_DIRS",
        serde_json::to_string(&watch)?,
    );
    cmd.arg("serve")
        .arg(&layout.root)
        .arg("--dest-dir")
        .arg(&dest)
        .arg("--port")
        .arg(port.to_string());
    eprintln!(
        "book: serving the {} edition from {} at http://localhost:{port}/ (Ctrl-C to stop)",
        lang.english_name,
        layout.display(&layout.src_dir(lang.code))
    );
    // What the loop below keeps in step: the chapters (the exercises' stubs), the generated
    // outputs, and the served site (which mdBook wipes on every rebuild).
    use notify::Watcher as _;
    fs::create_dir_all(&dest)?;
    let (tx, changes) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx).context("cannot watch for changes")?;
    for dir in [
        layout.root.join("chapters"),
        layout.generated_dir(),
        dest.parent().unwrap_or(&dest).to_path_buf(),
    ] {
        if dir.is_dir() {
            watcher
                .watch(&dir, notify::RecursiveMode::Recursive)
                .with_context(|| format!("cannot watch {}", dir.display()))?;
        }
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", tools.mdbook.display()))?;
    let done = AtomicBool::new(false);
    let status = std::thread::scope(|s| {
        s.spawn(|| {
            // Re-copy the generated outputs and rebuild the search index whenever a rebuild has
            // wiped them: once things have been quiet for half a second after a change.
            let changes = changes; // moved in: a Receiver is not shared between threads
            let generated = layout.generated_dir();
            let mut pending = true;
            while !done.load(Ordering::Relaxed) {
                match changes.recv_timeout(Duration::from_millis(500)) {
                    Ok(_) => {
                        pending = true;
                        continue;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) if pending => pending = false,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
                // Keep the exercises' stubs in step with the chapters' source (quiet: the
                // problems were shown at the start).
                let _ = exercises::write_stubs(&layout);
                let _ = values::write_fragments(&layout);
                if generated.is_dir() && dest.join("index.html").is_file() {
                    if let Err(e) =
                        crate::copy_files(&generated, &dest.join("generated"), &|_| false, true)
                    {
                        eprintln!("book: cannot copy generated outputs: {e:#}");
                    }
                }
                if !dest.join("pagefind").exists() && site_settled(&dest) {
                    match search::build_index(&tools, &dest, lang.code) {
                        Ok((summary, warnings)) => {
                            eprintln!("book: {summary}");
                            for w in warnings {
                                eprintln!("book: {w}");
                            }
                        }
                        Err(e) => eprintln!("book: cannot build the search index: {e:#}"),
                    }
                }
                // Not built yet (mdBook still writing, or not started): look again shortly.
                pending |= !dest.join("pagefind").exists();
            }
        });
        let status = child.wait();
        done.store(true, Ordering::Relaxed);
        status
    })?;
    if !status.success() {
        bail!("mdbook serve exited with {status}");
    }
    Ok(())
}

/// Whether mdBook has finished writing the site in `dest`: it writes `toc.html` after the pages
/// and assets, and nothing at the top of the site has changed for half a second.
fn site_settled(dest: &Path) -> bool {
    if !dest.join("index.html").is_file() || !dest.join("toc.html").is_file() {
        return false;
    }
    let Ok(entries) = fs::read_dir(dest) else {
        return false;
    };
    let newest = entries
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max();
    newest.is_some_and(|t| {
        t.elapsed()
            .is_ok_and(|age| age > Duration::from_millis(500))
    })
}

/// `cargo xtask book check`: source checks, a fresh build of both languages, and HTML checks.
/// Fails listing every problem as `file:line: message`.
pub fn check(root: &Path) -> Result<()> {
    let layout = Layout::for_repo(root)?;
    let problems = check_all(&layout, &tools::ensure(&layout.root)?)?;
    if problems.is_empty() {
        eprintln!("book check: no problems");
        return Ok(());
    }
    eprintln!("\nbook check: {} problem(s):", problems.len());
    for p in &problems {
        eprintln!("{p}");
    }
    bail!("the book has {} problem(s)", problems.len());
}

/// Every check on `layout`: sources, then a build into `layout.out_dir`, then the HTML. Problems
/// the HTML checks find at a source line the source checks already reported are dropped.
pub fn check_all(layout: &Layout, tools: &Tools) -> Result<Vec<Problem>> {
    let mut problems = check_sources(layout);
    let report = build_layout(layout, tools)?;
    let seen: std::collections::HashSet<(String, usize)> =
        problems.iter().map(|p| (p.file.clone(), p.line)).collect();
    problems.extend(report.failures);
    problems.extend(report.warnings);
    problems.extend(
        check_html(layout)
            .into_iter()
            .filter(|p| p.line == 0 || !seen.contains(&(p.file.clone(), p.line))),
    );
    problems.sort();
    problems.dedup();
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines() {
        assert_eq!(
            log_warning(
                "2026-11-22T06:37:41Z  WARN render{item=\"x\"}: mdbook_katex::render: Rendering failed"
            ),
            Some("mdbook WARN: render{item=\"x\"}: mdbook_katex::render: Rendering failed".into())
        );
        assert_eq!(
            log_warning(" ERROR Unable to read file"),
            Some("mdbook ERROR: Unable to read file".into())
        );
        assert_eq!(log_warning(" INFO Book building has started"), None);
        assert_eq!(
            log_warning(
                "2026Z  WARN mdbook_katex: This mdbook-katex was built against mdbook v0.5.3, but …"
            ),
            None
        );
    }
}
