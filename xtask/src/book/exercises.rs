//! Graded exercises in the book: their answers stay off the pages that set them.
//!
//! A chapter's graded exercises are the regions `// BEGIN SOLUTION <id>` … `// END SOLUTION` of
//! `chapters/<chapter>/src/lib.rs` (see [`crate::assignment`]). Two things here:
//!
//! - [`write_stubs`] derives, for every region, what a student sees: the region with each `fn`
//!   body replaced by `todo!()` ([`assignment::stub_bodies`], the code that makes student copies),
//!   without the `ANCHOR` lines. It writes them to `target/book-stubs/<chapter>/<id>.rs` beside
//!   the book (`STUBS_DIR`), where a chapter page includes them:
//!   `{{#include ../../target/book-stubs/ch02-sparse/kl_sparsity.rs}}`. They are derived before
//!   every build and every source check, so they cannot drift from the source. Beside each stub,
//!   `<id>.answer.rs` holds the whole region (markers and anchors left out), which the solutions
//!   page (`solutions.md`) includes.
//! - [`check_answers`] reads the built HTML of both languages and fails if a distinctive line of
//!   any answer (a line inside a `fn` body of a region, not trivial, and not also found outside
//!   the regions of its file) appears in the text of any page but the solutions page and the
//!   print version, whether shown or hidden (`<span class="boring">` lines count too), and if a
//!   chapter page that sets graded exercises (`<chapter>.html`) does not link to the solutions.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use html5gum::Token;

use super::markdown::{attr, needle_line};
use super::{Layout, Problem, LANGS};
use crate::assignment;

/// Where the stubs go, relative to the directory holding `book/` (the repository root).
pub const STUBS_DIR: &str = "target/book-stubs";

/// The page that may show the answers (relative to a language's source directory).
pub const SOLUTIONS_PAGE: &str = "solutions.md";

/// Pages mdBook writes that repeat others (the print version holds the solutions page too).
const SKIPPED: &[&str] = &["print.html", "toc.html", "404.html"];

/// A body line shorter than this (without whitespace) is too common to prove anything.
const MIN_DISTINCTIVE_CHARS: usize = 12;

/// `target/book-stubs/` of `layout`.
pub fn stubs_dir(layout: &Layout) -> PathBuf {
    layout.book_root().join(STUBS_DIR)
}

/// One graded exercise: its chapter, id, the stub a student sees, and the distinctive lines of
/// its answer.
#[derive(Clone, Debug)]
pub struct GradedExercise {
    pub chapter: String,
    pub id: String,
    /// The source file holding the region.
    pub source: PathBuf,
    pub stub: String,
    /// The whole region, the answer (what the solutions page shows).
    pub answer: String,
    pub answer_lines: Vec<String>,
    /// The book's anchors inside the region (`// ANCHOR: name`).
    pub anchors: Vec<String>,
}

/// Every graded exercise of the chapters beside `layout`'s book (chapters with an
/// `exercises.json`), in chapter and manifest order. A chapter whose manifest or markers are
/// broken is a problem.
pub fn graded_exercises(layout: &Layout) -> (Vec<GradedExercise>, Vec<Problem>) {
    let root = layout.book_root();
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    if !root.join("chapters").is_dir() {
        return (out, problems);
    }
    let chapters = match assignment::chapters(root) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem::new("chapters", 0, format!("{e:#}")));
            return (out, problems);
        }
    };
    for chapter in chapters {
        let source = root.join("chapters").join(&chapter).join("src/lib.rs");
        let display = layout.display(&source);
        let result = (|| -> anyhow::Result<Vec<GradedExercise>> {
            let manifest = assignment::manifest(root, &chapter)?;
            let src = fs::read_to_string(&source)?;
            let regions = assignment::regions(&src)?;
            let lines: Vec<&str> = src.lines().collect();
            // Lines found outside every region may be shown by other listings.
            let outside: BTreeSet<String> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| !regions.iter().any(|r| (r.begin..=r.end).contains(i)))
                .map(|(_, l)| squash(l))
                .collect();
            let mut found = Vec::new();
            for e in &manifest.exercises {
                let body = assignment::region_body(&src, &e.id)?.unwrap_or_default();
                let anchors = body
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("// ANCHOR:"))
                    .map(|a| a.trim().to_string())
                    .collect();
                let body: String = body
                    .lines()
                    .filter(|l| !is_anchor(l))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let stub = assignment::stub_bodies(&body)?;
                let kept: BTreeSet<String> = stub.lines().map(squash).collect();
                let mut answer_lines: Vec<String> = Vec::new();
                for l in body.lines() {
                    let s = squash(l);
                    let distinctive = s.chars().filter(|c| !c.is_whitespace()).count()
                        >= MIN_DISTINCTIVE_CHARS
                        && s.chars().any(char::is_alphanumeric);
                    if distinctive
                        && !kept.contains(&s)
                        && !outside.contains(&s)
                        && !answer_lines.contains(&s)
                    {
                        answer_lines.push(s);
                    }
                }
                found.push(GradedExercise {
                    chapter: chapter.clone(),
                    id: e.id.clone(),
                    source: source.clone(),
                    stub,
                    answer: body.clone(),
                    answer_lines,
                    anchors,
                });
            }
            Ok(found)
        })();
        match result {
            Ok(found) => out.extend(found),
            Err(e) => problems.push(Problem::new(&display, 0, format!("{e:#}"))),
        }
    }
    (out, problems)
}

fn is_anchor(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("// ANCHOR:") || t.starts_with("// ANCHOR_END:")
}

/// `s` trimmed, with every run of whitespace made one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Writes the stub of every graded exercise to `target/book-stubs/<chapter>/<id>.rs`, for the
/// chapter page, and its answer (the region without its markers) to `<id>.answer.rs`, for the
/// solutions page; only when they changed, and through a temporary file, so parallel builds
/// never read half a file. Returns the problems with the chapters' markers.
pub fn write_stubs(layout: &Layout) -> Vec<Problem> {
    let (exercises, mut problems) = graded_exercises(layout);
    for e in exercises {
        let dir = stubs_dir(layout).join(&e.chapter);
        for (name, text) in [
            (format!("{}.rs", e.id), &e.stub),
            (format!("{}.answer.rs", e.id), &e.answer),
        ] {
            let path = dir.join(name);
            if let Err(err) = super::write_changed(&path, text) {
                problems.push(Problem::new(
                    layout.display(&path),
                    0,
                    format!("cannot write the stub of `{}`: {err:#}", e.id),
                ));
            }
        }
    }
    problems
}

/// The text content of `html`'s `<main>`: tags dropped, character references decoded, every run
/// of whitespace one space.
fn page_text(html: &str) -> String {
    let text: Vec<u8> = super::html::main_tokens(html)
        .into_iter()
        .filter_map(|t| match t {
            Token::String(s) => Some(s.value.0),
            _ => None,
        })
        .flatten()
        .collect();
    squash(&String::from_utf8_lossy(&text))
}

/// Fails for every page of the built sites (but the solutions page and the print version) whose
/// text holds a distinctive line of a graded exercise's answer.
pub fn check_answers(layout: &Layout) -> Vec<Problem> {
    let (exercises, mut problems) = graded_exercises(layout);
    if exercises.is_empty() {
        return problems;
    }
    let solutions = Path::new(SOLUTIONS_PAGE).with_extension("html");
    for lang in LANGS {
        let site = layout.out_dir.join(lang.code);
        // A chapter that sets graded exercises (its page named like its crate) links to the
        // solutions page, where the answers are.
        let chapters: BTreeSet<&str> = exercises.iter().map(|e| e.chapter.as_str()).collect();
        for chapter in chapters {
            let page = site.join(format!("{chapter}.html"));
            let Ok(html) = fs::read_to_string(&page) else {
                continue;
            };
            // In the content: the navigation links every page to its neighbours.
            let href = solutions.display().to_string();
            let links = super::html::main_tokens(&html).into_iter().any(|t| {
                matches!(t, Token::StartTag(tag)
                    if attr(&tag, "href").is_some_and(|h| h.starts_with(&href)))
            });
            if !links {
                let source = layout.src_dir(lang.code).join(format!("{chapter}.md"));
                let (file, at) = locate(layout, &source, &page, &["## Exercises", "## 练习"]);
                problems.push(Problem::new(
                    file,
                    at,
                    format!(
                        "the chapter sets graded exercises but does not link to {SOLUTIONS_PAGE}, \
                         where their answers are"
                    ),
                ));
            }
        }
        for file in super::search::site_pages(&site) {
            let rel = file.strip_prefix(&site).unwrap_or(&file).to_path_buf();
            if rel == solutions || SKIPPED.iter().any(|s| rel == Path::new(s)) {
                continue;
            }
            let Ok(html) = fs::read_to_string(&file) else {
                continue;
            };
            let text = page_text(&html);
            let source = layout.src_dir(lang.code).join(rel.with_extension("md"));
            for e in &exercises {
                let Some(line) = e.answer_lines.iter().find(|l| text.contains(l.as_str())) else {
                    continue;
                };
                // Where the page pulls it in: the line itself, an include of one of the region's
                // anchors, of the whole file, or of anything from the file.
                let lib = format!("{}/src/lib.rs", e.chapter);
                let mut needles = vec![line.clone()];
                needles.extend(e.anchors.iter().map(|a| format!("{lib}:{a}}}}}")));
                needles.push(format!("{lib}}}}}"));
                needles.push(lib);
                let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
                let (file_shown, at) = locate(layout, &source, &file, &needles);
                problems.push(Problem::new(
                    file_shown,
                    at,
                    format!(
                        "the answer to graded exercise `{}` ({}) is on this page: `{line}`; \
                         show its stub ({STUBS_DIR}/{}/{}.rs) and put the answer on \
                         {SOLUTIONS_PAGE}",
                        e.id,
                        layout.display(&e.source),
                        e.chapter,
                        e.id
                    ),
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// The Markdown source and line where one of `needles` occurs (the first that does, see
/// [`needle_line`]), else the source's first line, else the HTML file.
fn locate(layout: &Layout, source: &Path, html: &Path, needles: &[&str]) -> (String, usize) {
    let Ok(text) = fs::read_to_string(source) else {
        return (layout.display(html), 0);
    };
    (
        layout.display(source),
        needle_line(&text, needles).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_keeps_hidden_lines_and_decodes() {
        let html = "<nav>x</nav><main><pre><code><span class=\"boring\">let a = b &amp;&amp; c;\n\
                    </span>fn f() -&gt; u8 {\n    1\n}</code></pre></main>";
        assert_eq!(page_text(html), "let a = b && c; fn f() -> u8 { 1 }");
    }
}
