//! Course assignments that grade themselves (`cargo xtask assignment …`), in the manner of
//! nbgrader and Rustlings.
//!
//! A chapter crate marks its exercises in `src/lib.rs` with comment lines
//! `// BEGIN SOLUTION <id>` … `// END SOLUTION`, placed around whole items (outside the book's
//! `ANCHOR` lines, so the listings stay clean). `chapters/<chapter>/exercises.json` gives each
//! exercise its points and the tests that grade it: `lib:<path>` for the crate's own unit tests
//! (visible to students) and `<target>:<name>` for an integration test file, where the files
//! `tests/hidden*.rs` are the hidden tests.
//!
//! - [`student_copy`]: a standalone workspace in which every `fn` body inside a marked region is
//!   `todo!()`; the hidden tests and the manifest are left out.
//! - [`grade`]: for a student copy, the student's regions are put into the reference crate (so
//!   the reference tests, visible and hidden, judge them), built once in a grading workspace;
//!   if that fails to compile, each exercise is built on its own (the others keep the reference)
//!   so a compile error costs only its exercise. Each test runs alone under a time limit.
//! - [`check`]: for every chapter, the reference scores 100 %, the student copy compiles and its
//!   stubs score 0.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ae_toolkit::report::markdown_table;
use anyhow::{bail, Context};
use cargo_metadata::diagnostic::DiagnosticLevel;
use cargo_metadata::{Message, TargetKind};
use serde::{Deserialize, Serialize};

/// First line of a solution region; the exercise id follows.
pub const BEGIN: &str = "// BEGIN SOLUTION";
/// Last line of a solution region.
pub const END: &str = "// END SOLUTION";
/// The manifest's file name, in the chapter's directory.
pub const MANIFEST: &str = "exercises.json";

/// Default time limit for one test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A chapter's `exercises.json`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Manifest {
    /// The exercises, in the order they are reported.
    pub exercises: Vec<Exercise>,
}

/// One exercise: a marked region and the tests that grade it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Exercise {
    /// The id after `// BEGIN SOLUTION`.
    pub id: String,
    /// Points for passing every test; a share of them for passing some.
    pub points: f64,
    /// What the student writes, for the student README.
    pub task: String,
    /// Tests as `target:name`: `lib:tests::foo` or `hidden:foo` (`tests/hidden.rs`).
    pub tests: Vec<String>,
}

impl Exercise {
    fn tests(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.tests
            .iter()
            .map(|t| {
                t.split_once(':')
                    .filter(|(target, name)| !target.is_empty() && !name.is_empty())
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .with_context(|| format!("test `{t}` of `{}` is not `target:name`", self.id))
            })
            .collect()
    }
}

/// Whether an integration-test target is hidden from students.
pub fn is_hidden_target(target: &str) -> bool {
    target.starts_with("hidden")
}

/// The chapters that have a manifest, sorted.
pub fn chapters(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("chapters"))? {
        let entry = entry?;
        if entry.path().join(MANIFEST).is_file() {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// The earlier chapters `chapter` builds on (path dependencies `../<chapter>` in its Cargo.toml,
/// followed transitively), in dependency order. They travel with it, whole, into student copies
/// (grading uses the repository's own): a later chapter reuses an earlier chapter's reference
/// code, so chapters that build on each other are best assigned in order.
pub fn chapter_deps(root: &Path, chapter: &str) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let toml_path = root.join("chapters").join(chapter).join("Cargo.toml");
    let text =
        std::fs::read_to_string(&toml_path).with_context(|| format!("{}", toml_path.display()))?;
    for line in text.lines() {
        let Some(rest) = line.split("path = \"../").nth(1) else {
            continue;
        };
        let dep = rest.split('"').next().unwrap_or_default().to_string();
        if dep == "ae-toolkit" || !root.join("chapters").join(&dep).is_dir() {
            continue;
        }
        for d in chapter_deps(root, &dep)?.into_iter().chain([dep]) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Reads `chapters/<chapter>/exercises.json`, checking it against the markers in `src/lib.rs`.
pub fn manifest(root: &Path, chapter: &str) -> anyhow::Result<Manifest> {
    let path = root.join("chapters").join(chapter).join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{chapter} has no assignment ({} missing)", path.display()))?;
    let m: Manifest =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let src = std::fs::read_to_string(lib_rs(&root.join("chapters").join(chapter)))?;
    let ids: BTreeSet<String> = regions(&src)?.into_iter().map(|r| r.id).collect();
    let listed: BTreeSet<String> = m.exercises.iter().map(|e| e.id.clone()).collect();
    if ids != listed {
        bail!("{chapter}: marked regions {ids:?} but {MANIFEST} lists {listed:?}");
    }
    for e in &m.exercises {
        if e.tests()?.is_empty() {
            bail!("{chapter}: exercise `{}` has no tests", e.id);
        }
    }
    Ok(m)
}

fn lib_rs(crate_dir: &Path) -> PathBuf {
    crate_dir.join("src/lib.rs")
}

/// A marked region: lines `begin` (the BEGIN line) to `end` (the END line), 0-based, inclusive.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The exercise id.
    pub id: String,
    /// Line of `// BEGIN SOLUTION <id>`.
    pub begin: usize,
    /// Line of `// END SOLUTION`.
    pub end: usize,
}

/// The solution regions of a source file, in order; unbalanced or duplicate markers are errors.
pub fn regions(src: &str) -> anyhow::Result<Vec<Region>> {
    let mut out: Vec<Region> = Vec::new();
    let mut open: Option<(String, usize)> = None;
    for (i, line) in src.lines().enumerate() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix(BEGIN) {
            let id = rest.trim().to_string();
            if id.is_empty() {
                bail!("line {}: `{BEGIN}` without an exercise id", i + 1);
            }
            if let Some((prev, _)) = &open {
                bail!("line {}: `{BEGIN} {id}` inside `{prev}`", i + 1);
            }
            if out.iter().any(|r| r.id == id) {
                bail!("line {}: exercise `{id}` marked twice", i + 1);
            }
            open = Some((id, i));
        } else if t == END {
            let (id, begin) = open
                .take()
                .with_context(|| format!("line {}: `{END}` without a BEGIN", i + 1))?;
            out.push(Region { id, begin, end: i });
        }
    }
    if let Some((id, _)) = open {
        bail!("exercise `{id}`: `{BEGIN}` without `{END}`");
    }
    Ok(out)
}

/// The lines strictly inside the region `id` of `src` (what a student writes), or `None`.
pub fn region_body(src: &str, id: &str) -> anyhow::Result<Option<String>> {
    let lines: Vec<&str> = src.lines().collect();
    let region = regions(src)?.into_iter().find(|r| r.id == id);
    Ok(region.map(|r| lines[r.begin + 1..r.end].join("\n") + "\n"))
}

/// `src` with the inside of region `id` replaced by `body`.
pub fn replace_region(src: &str, id: &str, body: &str) -> anyhow::Result<String> {
    let r = regions(src)?
        .into_iter()
        .find(|r| r.id == id)
        .with_context(|| format!("no region `{id}`"))?;
    let lines: Vec<&str> = src.lines().collect();
    let body = body.strip_suffix('\n').unwrap_or(body);
    let (before, after) = (lines[..=r.begin].join("\n"), lines[r.end..].join("\n"));
    Ok(format!("{before}\n{body}\n{after}\n"))
}

/// `src` with every `fn` body inside every region replaced by `todo!()`.
pub fn stub_source(src: &str) -> anyhow::Result<String> {
    let mut out = src.to_string();
    for r in regions(src)? {
        let body = region_body(&out, &r.id)?.expect("region exists");
        out = replace_region(&out, &r.id, &stub_bodies(&body)?)?;
    }
    Ok(out)
}

/// Replaces the body of every outermost `fn` in `text` by `todo!()`, keeping its signature and
/// everything outside the bodies byte for byte.
pub fn stub_bodies(text: &str) -> anyhow::Result<String> {
    /// Byte offsets of each outermost function: its `fn` keyword, its body's `{` and `}`.
    #[derive(Default)]
    struct Bodies(Vec<[usize; 3]>);
    impl Bodies {
        fn push(&mut self, sig: &syn::Signature, block: &syn::Block) {
            let braces = block.brace_token.span;
            self.0.push([
                sig.fn_token.span.byte_range().start,
                braces.open().byte_range().start,
                braces.close().byte_range().start,
            ]);
        }
    }
    // Not visiting a body leaves the functions nested in it alone.
    impl<'ast> syn::visit::Visit<'ast> for Bodies {
        fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
            self.push(&f.sig, &f.block);
        }
        fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
            self.push(&f.sig, &f.block);
        }
        fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
            if let Some(block) = &f.default {
                self.push(&f.sig, block);
            }
        }
    }
    let file = syn::parse_file(text).map_err(|e| {
        let at = e.span().start();
        anyhow::anyhow!(
            "a solution region is not valid Rust on its own (line {} of the region, column {}): {e}",
            at.line,
            at.column + 1
        )
    })?;
    let mut bodies = Bodies::default();
    syn::visit::visit_file(&mut bodies, &file);
    bodies.0.sort_unstable();
    let (mut out, mut last) = (String::new(), 0);
    for [fn_at, open, close] in bodies.0 {
        let line_start = text[..fn_at].rfind('\n').map_or(0, |p| p + 1);
        let indent: String = text[line_start..]
            .chars()
            .take_while(|c| *c == ' ')
            .collect();
        out.push_str(&text[last..=open]);
        let _ = write!(out, "\n{indent}    todo!()\n{indent}}}");
        last = close + 1;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Workspaces

/// Copies a directory tree, leaving out `target/` and what `skip` says (given the path relative
/// to `from`).
fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> anyhow::Result<()> {
    let skip = |rel: &Path| rel == Path::new("target") || skip(rel);
    crate::copy_files(from, to, &skip, false).map(drop)
}

/// Whether a chapter file (relative to the chapter directory) stays out of the student copy.
fn teacher_only(rel: &Path) -> bool {
    rel == Path::new(MANIFEST)
        || (rel.starts_with("tests")
            && rel
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| is_hidden_target(n.trim_end_matches(".rs"))))
}

/// The crates under `chapters/` that every chapter shares (the toolkit and what it builds on):
/// the directory names that `[workspace.dependencies]` of the top-level Cargo.toml points into.
pub fn shared_crates(root: &Path) -> anyhow::Result<Vec<String>> {
    let doc = workspace_manifest(root)?;
    let mut dirs = Vec::new();
    if let Some(deps) = doc["workspace"]["dependencies"].as_table_like() {
        for (_, dep) in deps.iter() {
            let path = dep.get("path").and_then(|p| p.as_str()).unwrap_or_default();
            if let Some(dir) = path.strip_prefix("chapters/") {
                dirs.push(dir.to_string());
            }
        }
    }
    if !dirs.iter().any(|d| d == "ae-toolkit") {
        bail!("Cargo.toml: [workspace.dependencies] has no ae-toolkit under chapters/");
    }
    Ok(dirs)
}

fn workspace_manifest(root: &Path) -> anyhow::Result<toml_edit::DocumentMut> {
    let path = root.join("Cargo.toml");
    std::fs::read_to_string(&path)?
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

/// The repository's top-level Cargo.toml for a workspace of other `members`: each shared crate
/// (see [`shared_crates`]) found at `shared(dir)`, the patched crates of `vendor/` under `vendor`
/// (see vendor/README.md), and no `exclude` list (it names directories of the repository).
fn workspace_toml(
    root: &Path,
    members: &[String],
    shared: &dyn Fn(&str) -> String,
    vendor: &str,
) -> anyhow::Result<String> {
    let mut doc = workspace_manifest(root)?;
    let ws = doc["workspace"]
        .as_table_mut()
        .context("Cargo.toml has no [workspace] table")?;
    ws["members"] = toml_edit::value(members.iter().collect::<toml_edit::Array>());
    ws.remove("exclude");
    repoint(ws["dependencies"].as_table_like_mut(), "chapters/", shared);
    repoint(
        doc["patch"]["crates-io"].as_table_like_mut(),
        "vendor/",
        &|rest| format!("{vendor}/{rest}"),
    );
    Ok(doc.to_string())
}

/// Points every dependency of `table` whose `path` starts with `from` at `to(the rest)`.
fn repoint(table: Option<&mut dyn toml_edit::TableLike>, from: &str, to: &dyn Fn(&str) -> String) {
    for (_, dep) in table.into_iter().flat_map(|t| t.iter_mut()) {
        let Some(dep) = dep.as_table_like_mut() else {
            continue;
        };
        let old = dep.get("path").and_then(|p| p.as_str());
        let Some(rest) = old.and_then(|p| p.strip_prefix(from)) else {
            continue;
        };
        let path = to(rest);
        dep.insert("path", toml_edit::value(path));
    }
}

/// Writes a student copy of `chapters` (a standalone workspace) into `out`.
pub fn student_copy(root: &Path, chapters: &[String], out: &Path) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    std::fs::create_dir_all(out)?;
    let shared = shared_crates(root)?;
    for dir in &shared {
        // A fuzz target is a workspace of its own, for the maintainers (see its README).
        copy_tree(&root.join("chapters").join(dir), &out.join(dir), &|rel| {
            rel == Path::new("fuzz")
        })?;
    }
    let mut readme = String::from(
        "# Autoencoders in Rust: exercises\n\n\
         Each exercise is a function whose body is `todo!()`, between the lines\n\
         `// BEGIN SOLUTION <id>` and `// END SOLUTION` in the chapter's `src/lib.rs`.\n\
         Write your code there, and only there: anything outside the markers is ignored\n\
         when grading (put helper functions inside the region, e.g. inside the body).\n\
         Do not remove or rename the marker lines.\n\n\
         Check yourself with the chapter's tests, e.g. `cargo test -p ch02-sparse --lib`.\n\
         The grader runs these tests and more.\n",
    );
    let mut members = shared.clone();
    for chapter in chapters {
        for dep in chapter_deps(root, chapter)? {
            if !chapters.contains(&dep) && !members.contains(&dep) {
                copy_tree(
                    &root.join("chapters").join(&dep),
                    &out.join(&dep),
                    &teacher_only,
                )?;
                members.push(dep);
            }
        }
    }
    for chapter in chapters {
        let m = manifest(root, chapter)?;
        let from = root.join("chapters").join(chapter);
        let dest = out.join(chapter);
        copy_tree(&from, &dest, &teacher_only)?;
        let src = std::fs::read_to_string(lib_rs(&from))?;
        std::fs::write(lib_rs(&dest), stub_source(&src)?)?;
        members.push(chapter.clone());
        let rows: Vec<Vec<String>> = (m.exercises.iter())
            .map(|e| vec![format!("`{}`", e.id), e.points.to_string(), e.task.clone()])
            .collect();
        let table = markdown_table(&["Exercise", "Points", "Task"], &rows);
        let _ = write!(readme, "\n## {chapter}\n\n{table}");
    }
    copy_tree(&root.join("vendor"), &out.join("vendor"), &|_| false)?;
    std::fs::write(
        out.join("Cargo.toml"),
        workspace_toml(root, &members, &|dir| dir.to_string(), "vendor")?,
    )?;
    for f in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(root.join(f), out.join(f))?;
    }
    std::fs::write(out.join(".gitignore"), "/target\n")?;
    std::fs::write(out.join("README.md"), readme)?;
    verify_no_solutions(root, chapters, out)
}

/// Fails if a student copy holds a hidden test, a manifest, or a solution line.
pub fn verify_no_solutions(root: &Path, chapters: &[String], out: &Path) -> anyhow::Result<()> {
    for chapter in chapters {
        let dest = out.join(chapter);
        if dest.join(MANIFEST).exists() {
            bail!("{chapter}: {MANIFEST} in the student copy");
        }
        if let Ok(dir) = std::fs::read_dir(dest.join("tests")) {
            for f in dir {
                let name = f?.file_name().to_string_lossy().into_owned();
                if is_hidden_target(name.trim_end_matches(".rs")) {
                    bail!("{chapter}: hidden test file tests/{name} in the student copy");
                }
            }
        }
        // Every statement of a solution body must be gone (unless the same line also appears
        // outside the regions, e.g. a common `let dev = Cpu::default();`).
        let reference = std::fs::read_to_string(lib_rs(&root.join("chapters").join(chapter)))?;
        let student = std::fs::read_to_string(lib_rs(&dest))?;
        let stubbed = stub_source(&reference)?;
        for r in regions(&reference)? {
            let body = region_body(&reference, &r.id)?.unwrap_or_default();
            let kept = region_body(&stubbed, &r.id)?.unwrap_or_default();
            for line in body.lines().map(str::trim) {
                if line.len() >= 12
                    && !line.starts_with("//")
                    && !kept.lines().any(|k| k.trim() == line)
                    && !stubbed.lines().any(|k| k.trim() == line)
                    && student.lines().any(|s| s.trim() == line)
                {
                    bail!(
                        "{chapter}: solution line of `{}` in the student copy: {line}",
                        r.id
                    );
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Grading

/// The outcome of one test.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TestOutcome {
    /// `target:name` as in the manifest.
    pub test: String,
    /// Whether the students have it.
    pub hidden: bool,
    /// `passed`, `failed`, `timeout` or `not compiled`.
    pub outcome: String,
    /// Seconds it ran.
    pub seconds: f64,
    /// The end of its output, when it did not pass.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
}

/// One exercise's score.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExerciseScore {
    /// Exercise id.
    pub id: String,
    /// Points earned.
    pub score: f64,
    /// Points available.
    pub max: f64,
    /// The first compiler error, when the student's code for it does not compile.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compile_error: Option<String>,
    /// Each test's outcome.
    pub tests: Vec<TestOutcome>,
}

/// A graded submission.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The chapter.
    pub chapter: String,
    /// Points earned.
    pub score: f64,
    /// Points available.
    pub max: f64,
    /// `100 · score / max`.
    pub percent: f64,
    /// Per exercise.
    pub exercises: Vec<ExerciseScore>,
}

impl Report {
    /// The report of `chapter` with these exercise scores.
    fn new(chapter: &str, exercises: Vec<ExerciseScore>) -> Self {
        let score: f64 = exercises.iter().map(|s| s.score).sum();
        let max: f64 = exercises.iter().map(|s| s.max).sum();
        Report {
            chapter: chapter.to_string(),
            score,
            max,
            percent: if max > 0.0 { 100.0 * score / max } else { 0.0 },
            exercises,
        }
    }

    /// A readable table (Markdown).
    pub fn table(&self) -> String {
        let mut rows = Vec::new();
        for e in &self.exercises {
            let passed = e.tests.iter().filter(|t| t.outcome == "passed").count();
            let note = match &e.compile_error {
                Some(err) => format!(
                    "does not compile: {}",
                    err.lines().next().unwrap_or("").replace('|', "\\|")
                ),
                None => {
                    let mut counts: Vec<(String, usize)> = Vec::new();
                    for t in e.tests.iter().filter(|t| t.outcome != "passed") {
                        match counts.iter_mut().find(|(o, _)| *o == t.outcome) {
                            Some((_, n)) => *n += 1,
                            None => counts.push((t.outcome.clone(), 1)),
                        }
                    }
                    let mut note: Vec<String> =
                        counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
                    if let Some(t) = e.tests.iter().find(|t| t.outcome != "passed" && !t.hidden) {
                        note.push(format!(
                            "e.g. {}: {}",
                            t.test.trim_start_matches("lib:tests::"),
                            t.message.lines().next().unwrap_or("").replace('|', "\\|")
                        ));
                    }
                    note.join("; ")
                }
            };
            rows.push(vec![
                format!("`{}`", e.id),
                format!("{:.1} / {:.1}", e.score, e.max),
                format!("{passed} / {}", e.tests.len()),
                note,
            ]);
        }
        format!(
            "{}: {:.1} / {:.1} points ({:.0} %)\n\n{}",
            self.chapter,
            self.score,
            self.max,
            self.percent,
            ae_toolkit::report::markdown_table(
                &["Exercise", "Score", "Tests passed", "Note"],
                &rows
            )
        )
    }
}

/// Grading options.
#[derive(Clone, Debug)]
pub struct GradeOptions {
    /// Time limit per test.
    pub timeout: Duration,
    /// Cargo's target directory for grading builds (shared, so only the chapter recompiles).
    pub target_dir: PathBuf,
}

impl GradeOptions {
    /// Defaults: 120 s per test; `$AE_ASSIGNMENT_TARGET_DIR`, else `$CARGO_TARGET_DIR`, else the
    /// workspace's `target/` (sharing it reuses the compiled dependencies).
    pub fn new(root: &Path) -> Self {
        GradeOptions {
            timeout: DEFAULT_TIMEOUT,
            target_dir: std::env::var_os("AE_ASSIGNMENT_TARGET_DIR")
                .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target")),
        }
    }
}

/// Grades the chapter in `submission` (a student copy: `<submission>/<chapter>/src/lib.rs`).
pub fn grade(
    root: &Path,
    chapter: &str,
    submission: &Path,
    opts: &GradeOptions,
) -> anyhow::Result<Report> {
    let path = lib_rs(&submission.join(chapter));
    let src = std::fs::read_to_string(&path)
        .with_context(|| format!("no submission at {}", path.display()))?;
    grade_source(root, chapter, &src, opts)
}

/// Grades a submitted `src/lib.rs` of `chapter`.
pub fn grade_source(
    root: &Path,
    chapter: &str,
    submitted: &str,
    opts: &GradeOptions,
) -> anyhow::Result<Report> {
    let m = manifest(root, chapter)?;
    let reference_dir = root.join("chapters").join(chapter);
    let reference = std::fs::read_to_string(lib_rs(&reference_dir))?;
    // The student's version of each region; a region that cannot be found scores 0.
    let parsed = regions(submitted);
    let mut theirs = Vec::new();
    for e in &m.exercises {
        let body = match &parsed {
            Ok(_) => region_body(submitted, &e.id)?,
            Err(_) => None,
        };
        theirs.push(body);
    }
    let ws = opts.target_dir.join("assignments/grade").join(chapter);
    if ws.exists() {
        std::fs::remove_dir_all(&ws)?;
    }
    // Only the graded chapter is copied; the crates it builds on (the toolkit, earlier chapters)
    // are the repository's own, at their own paths, so the test build of the workspace has
    // compiled them already and the grading build reuses them.
    let chapters_dir = root.join("chapters");
    copy_tree(&chapters_dir.join(chapter), &ws.join(chapter), &|_| false)?;
    point_chapter_deps_at(&ws.join(chapter).join("Cargo.toml"), &chapters_dir)?;
    std::fs::write(
        ws.join("Cargo.toml"),
        workspace_toml(
            root,
            &[chapter.to_string()],
            &|dir| chapters_dir.join(dir).to_string_lossy().into_owned(),
            &root.join("vendor").to_string_lossy(),
        )?,
    )?;
    std::fs::copy(root.join("Cargo.lock"), ws.join("Cargo.lock"))?;
    let targets: BTreeSet<String> = m
        .exercises
        .iter()
        .map(|e| e.tests())
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .map(|(t, _)| t)
        .collect();
    let with = |only: Option<usize>| -> anyhow::Result<String> {
        let mut src = reference.clone();
        for (k, (e, body)) in m.exercises.iter().zip(&theirs).enumerate() {
            if only.is_none_or(|o| o == k) {
                if let Some(body) = body {
                    src = replace_region(&src, &e.id, body)?;
                }
            }
        }
        Ok(src)
    };
    let mut scores = Vec::new();
    // Fast path: all the student's regions at once.
    eprintln!("grading {chapter}: building the submission");
    std::fs::write(lib_rs(&ws.join(chapter)), with(None)?)?;
    let together = build(&ws, chapter, &targets, opts)?;
    for (k, e) in m.exercises.iter().enumerate() {
        let built = match (&together, &theirs[k]) {
            (_, None) => Err(format!(
                "the markers `{BEGIN} {}` … `{END}` are missing from the submission",
                e.id
            )),
            (Ok(exes), _) => Ok(exes.clone()),
            (Err(_), _) => {
                eprintln!(
                    "grading {chapter}: the submission does not compile; building `{}` alone",
                    e.id
                );
                std::fs::write(lib_rs(&ws.join(chapter)), with(Some(k))?)?;
                build(&ws, chapter, &targets, opts)?
            }
        };
        scores.push(score_exercise(e, built, &ws.join(chapter), opts)?);
    }
    Ok(Report::new(chapter, scores))
}

/// Grades the reference solution, from the workspace's own test build ([`build_reference`]).
pub fn grade_reference(root: &Path, chapter: &str, opts: &GradeOptions) -> anyhow::Result<Report> {
    let m = manifest(root, chapter)?;
    let built = build_reference(root, chapter, opts)?;
    let crate_dir = root.join("chapters").join(chapter);
    let scores = m
        .exercises
        .iter()
        .map(|e| score_exercise(e, built.clone(), &crate_dir, opts))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Report::new(chapter, scores))
}

/// Rewrites the earlier chapters a chapter's `Cargo.toml` depends on (`path = "../<chapter>"`)
/// to the same crates under `chapters_dir`.
fn point_chapter_deps_at(manifest: &Path, chapters_dir: &Path) -> anyhow::Result<()> {
    let mut doc: toml_edit::DocumentMut = std::fs::read_to_string(manifest)?
        .parse()
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    for table in ["dependencies", "dev-dependencies"] {
        repoint(
            doc.get_mut(table).and_then(|t| t.as_table_like_mut()),
            "../",
            &|dir| chapters_dir.join(dir).to_string_lossy().into_owned(),
        );
    }
    std::fs::write(manifest, doc.to_string())?;
    Ok(())
}

/// Test executables by target (`lib` or the integration test's name), or the first compiler
/// error.
type Built = Result<Vec<(String, PathBuf)>, String>;

/// Builds the tests of `targets` in the grading workspace.
fn build(
    ws: &Path,
    chapter: &str,
    targets: &BTreeSet<String>,
    opts: &GradeOptions,
) -> anyhow::Result<Built> {
    let mut cmd = cargo_no_run(opts);
    cmd.args(["--package", chapter, "--manifest-path"])
        .arg(ws.join("Cargo.toml"));
    for t in targets {
        if t == "lib" {
            cmd.arg("--lib");
        } else {
            cmd.args(["--test", t]);
        }
    }
    test_executables(cmd, |_| true)
}

/// Builds `chapter`'s tests in the workspace itself and returns their executables: after
/// `cargo xtask test`'s test build this is a no-op (a chapter alone resolves the workspace's
/// features, see `features.rs`). The reference is graded on these: copying it into a grading
/// workspace would compile the same code again at another path. Only the chapter is selected,
/// so that if anything is stale, the rest of the workspace (perf, xtask: minutes) is not rebuilt.
fn build_reference(root: &Path, chapter: &str, opts: &GradeOptions) -> anyhow::Result<Built> {
    let mut cmd = cargo_no_run(opts);
    cmd.args(["--package", chapter, "--lib", "--bins", "--tests"])
        .current_dir(root);
    let manifest = std::fs::canonicalize(root.join("chapters").join(chapter).join("Cargo.toml"))?;
    test_executables(cmd, |a| {
        a.manifest_path.canonicalize().ok().as_deref() == Some(manifest.as_path())
    })
}

/// `cargo test --no-run --message-format=json`, building into the grading target directory.
fn cargo_no_run(opts: &GradeOptions) -> Command {
    let mut cmd = crate::cargo_command();
    cmd.args(["test", "--no-run", "--message-format=json"])
        .env("CARGO_TARGET_DIR", &opts.target_dir);
    cmd
}

/// Runs a `cargo test --no-run --message-format=json` command and collects the test executables
/// of the artifacts `keep` accepts, or the first compiler error.
fn test_executables(
    mut cmd: Command,
    keep: impl Fn(&cargo_metadata::Artifact) -> bool,
) -> anyhow::Result<Built> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .context("cannot run cargo")?;
    let mut exes = Vec::new();
    let mut first_error = None;
    for message in Message::parse_stream(out.stdout.as_slice()) {
        match message? {
            Message::CompilerMessage(m)
                if m.message.level == DiagnosticLevel::Error && first_error.is_none() =>
            {
                first_error = m.message.rendered;
            }
            Message::CompilerArtifact(a) if a.profile.test && keep(&a) => {
                if let Some(exe) = a.executable {
                    let name = if a.target.is_kind(TargetKind::Test) {
                        a.target.name
                    } else {
                        "lib".to_string()
                    };
                    exes.push((name, exe.into_std_path_buf()));
                }
            }
            _ => {}
        }
    }
    if out.status.success() {
        Ok(Ok(exes))
    } else {
        Ok(Err(first_error.unwrap_or_else(|| {
            format!("cargo test --no-run failed ({})", out.status)
        })))
    }
}

fn score_exercise(
    e: &Exercise,
    built: Built,
    crate_dir: &Path,
    opts: &GradeOptions,
) -> anyhow::Result<ExerciseScore> {
    let tests = e.tests()?;
    let mut outcomes = Vec::new();
    let compile_error = built.as_ref().err().cloned();
    for (target, name) in &tests {
        let (outcome, seconds, message) = match &built {
            Err(_) => ("not compiled".into(), 0.0, String::new()),
            Ok(exes) => {
                let exe = (exes.iter().find(|(t, _)| t == target))
                    .with_context(|| format!("no test target `{target}` was built"))?;
                run_test(&exe.1, name, crate_dir, opts.timeout)?
            }
        };
        let outcome = TestOutcome {
            test: format!("{target}:{name}"),
            hidden: is_hidden_target(target),
            outcome,
            seconds,
            message,
        };
        eprintln!(
            "  {:<13} {:>6.2}s  {}",
            outcome.outcome, outcome.seconds, outcome.test
        );
        outcomes.push(outcome);
    }
    let passed = outcomes.iter().filter(|o| o.outcome == "passed").count();
    Ok(ExerciseScore {
        id: e.id.clone(),
        score: e.points * passed as f64 / tests.len() as f64,
        max: e.points,
        compile_error,
        tests: outcomes,
    })
}

/// Runs one test alone, in its own process group, killed after `timeout`.
fn run_test(
    exe: &Path,
    name: &str,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<(String, f64, String)> {
    use std::os::unix::process::CommandExt;
    use wait_timeout::ChildExt;
    let log = tempfile::NamedTempFile::new()?;
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args([name, "--exact", "--test-threads=1"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.reopen()?)
        .stderr(log.reopen()?)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let status = child.wait_timeout(timeout)?;
    if status.is_none() {
        // The whole group (the test and anything it started), then the test itself, reaped.
        // SAFETY: killpg takes plain integers and touches no memory of this process; the group
        // is the child's own (`process_group(0)`), still unreaped, so its id is not reused.
        unsafe { libc::killpg(child.id() as libc::pid_t, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }
    let seconds = start.elapsed().as_secs_f64();
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    };
    Ok(match status {
        None => (
            "timeout".into(),
            seconds,
            format!("killed after {} s", timeout.as_secs()),
        ),
        Some(s) if s.success() && output.contains("test result: ok. 1 passed") => {
            ("passed".into(), seconds, String::new())
        }
        Some(s) if s.success() => ("failed".into(), seconds, format!("test `{name}` not found")),
        Some(_) => {
            // The panic's message (the line after `panicked at …:`) first, then the output's end.
            let lines: Vec<&str> = output.lines().collect();
            let panic = lines
                .iter()
                .position(|l| l.contains("panicked at"))
                .and_then(|i| lines.get(i + 1))
                .map_or(String::new(), |l| format!("{l}\n"));
            ("failed".into(), seconds, panic + &tail(&output))
        }
    })
}

/// Writes `report` as JSON to `path` and as a Markdown table next to it (`.md`).
pub fn write_report(report: &Report, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")?;
    std::fs::write(path.with_extension("md"), report.table())?;
    Ok(())
}

/// For every chapter with exercises: the reference scores 100 %, a student copy of all chapters
/// compiles (`cargo check`, all targets), and its stubs score 0 in every exercise.
pub fn check(root: &Path, opts: &GradeOptions) -> anyhow::Result<()> {
    let chapters = chapters(root)?;
    let dir = opts.target_dir.join("assignments/check-student");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let started = Instant::now();
    student_copy(root, &chapters, &dir)?;
    crate::output(
        crate::cargo_command()
            .args(["check", "--workspace", "--all-targets", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &opts.target_dir),
    )
    .with_context(|| format!("the student copy does not compile ({})", dir.display()))?;
    eprintln!(
        "the student copy compiles ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    let mut problems = Vec::new();
    for chapter in &chapters {
        let started = Instant::now();
        let full = grade_reference(root, chapter, opts)?;
        if full.score != full.max {
            problems.push(format!(
                "{chapter}: the reference scores {:.1} %\n{}",
                full.percent,
                full.table()
            ));
        }
        let stubs = grade(root, chapter, &dir, opts)?;
        for e in &stubs.exercises {
            if e.score != 0.0 || e.compile_error.is_some() {
                problems.push(format!(
                    "{chapter}: the stub of `{}` scores {} (compile error: {:?})",
                    e.id, e.score, e.compile_error
                ));
            }
        }
        eprintln!(
            "{chapter}: reference {:.0} %, stubs {:.0} % ({:.0} s)",
            full.percent,
            stubs.percent,
            started.elapsed().as_secs_f64()
        );
    }
    if !problems.is_empty() {
        bail!("assignment check failed:\n{}", problems.join("\n"));
    }
    let started = Instant::now();
    check_copy_stands_alone(root, &chapters[0], opts)?;
    eprintln!(
        "a student copy stands alone ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A student copy is a workspace of its own: inside one (solved with the reference), the shared
/// crate's tests pass and the chapter's example runs, writing its figures, tables, metrics and
/// checkpoints inside the copy and nothing beside it. The copy sits alone in a fresh directory,
/// so anything written next to it is seen.
fn check_copy_stands_alone(root: &Path, chapter: &str, opts: &GradeOptions) -> anyhow::Result<()> {
    let outer = tempfile::tempdir()?;
    let copy = outer.path().join("copy");
    student_copy(root, &[chapter.to_string()], &copy)?;
    std::fs::copy(
        lib_rs(&root.join("chapters").join(chapter)),
        lib_rs(&copy.join(chapter)),
    )?;
    // The copy's own data directory, as a student's would be: no AE_DATA_DIR.
    let cargo_in_copy = |args: &[&str]| -> anyhow::Result<()> {
        crate::output(
            crate::cargo_command()
                .args(args)
                .current_dir(&copy)
                .env("CARGO_TARGET_DIR", &opts.target_dir)
                .env_remove("AE_DATA_DIR"),
        )
        .with_context(|| format!("in a student copy of {chapter}"))
        .map(drop)
    };
    // The shared crate's unit tests, the integration tests that read files shipped with the
    // crate, and its doctests about where outputs go. The other integration tests and doctests
    // compute and write to temporary directories; the main suite runs them, and compiling them
    // again at the copy's path would cost minutes of CI.
    cargo_in_copy(&[
        "test",
        "-p",
        "ae-toolkit",
        "--lib",
        "--test",
        "shipped_subset",
        "--test",
        "bad_data",
        "--quiet",
    ])?;
    cargo_in_copy(&["test", "-p", "ae-toolkit", "--doc", "--quiet", "paths::"])?;
    // One epoch of the chapter's example with its default outputs: they must land in the copy.
    let run = crate::reproduce::run_example(chapter, "test");
    let run: Vec<&str> = (run.iter().map(String::as_str))
        .chain(["--epochs", "1", "--quiet"])
        .collect();
    cargo_in_copy(&run)?;
    let beside: Vec<String> = std::fs::read_dir(outer.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "copy")
        .collect();
    if !beside.is_empty() {
        bail!(
            "a student copy of {chapter} wrote outside itself, into {}: {beside:?}",
            outer.path().display()
        );
    }
    let short = crate::reproduce::short(chapter);
    for inside in [
        copy.join("book/generated").join(short),
        copy.join("target/runs").join(short),
    ] {
        if std::fs::read_dir(&inside).map_or(true, |mut d| d.next().is_none()) {
            bail!(
                "the example in a student copy of {chapter} wrote nothing to {}",
                inside.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_executables_and_the_first_compile_error_are_read_from_cargo() {
        let ws = tempfile::tempdir().unwrap();
        let file = |path: &str, text: &str| {
            let path = ws.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        file(
            "Cargo.toml",
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        );
        file("src/lib.rs", "pub fn one() -> u8 { 1 }\n");
        file(
            "tests/t.rs",
            "#[test]\nfn one() { assert_eq!(tiny::one(), 1); }\n",
        );
        let opts = GradeOptions {
            target_dir: ws.path().join("target"),
            ..GradeOptions::new(ws.path())
        };
        let targets: BTreeSet<String> = ["lib".to_string(), "t".to_string()].into();
        let mut exes = build(ws.path(), "tiny", &targets, &opts).unwrap().unwrap();
        exes.sort();
        let names: Vec<&str> = exes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["lib", "t"]);
        assert!(exes.iter().all(|(_, exe)| exe.is_file()));
        file("src/lib.rs", "pub fn one() -> u8 { \"one\" }\n");
        let error = build(ws.path(), "tiny", &targets, &opts)
            .unwrap()
            .unwrap_err();
        assert!(error.contains("error[E0308]: mismatched types"), "{error}");
    }

    #[test]
    fn a_test_past_its_timeout_is_killed_with_everything_it_started() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("hangs");
        std::fs::write(
            &script,
            "#!/bin/sh\nsleep 60 &\necho $! > grandchild\nsleep 60\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let start = Instant::now();
        let (outcome, _, message) =
            run_test(&script, "t", dir.path(), Duration::from_millis(500)).unwrap();
        assert_eq!(outcome, "timeout");
        assert!(message.contains("killed after"), "{message}");
        assert!(start.elapsed() < Duration::from_secs(10));
        // The background `sleep` is gone too (or a zombie waiting for its new parent).
        let pid = std::fs::read_to_string(dir.path().join("grandchild")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            match stat {
                Err(_) => break,
                Ok(s) if s.rsplit(')').next().unwrap().trim_start().starts_with('Z') => break,
                Ok(_) if Instant::now() > deadline => panic!("the test's child survived"),
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    const SRC: &str = "use x;
// BEGIN SOLUTION a
/* outer /* nested fn x() { */ still a comment } */
/// Doc with fn in it {.
pub fn a<'a, T: Tr<f32>>(x: &'a T) -> Out<T>
where T: Copy {
    let s = \"}\"; // }
    let r = r#\"a } with \"} braces {\"#;
    if true { x } else { '}'; x }
}
// END SOLUTION
fn other() { 1 }
// BEGIN SOLUTION b
impl N {
    pub fn b(self) -> u8 {
        fn inner() {}
        /* } /* { */ } */ b'}'
    }
    fn c(&self);
}
// END SOLUTION
";

    /// [`SRC`] with its solutions' bodies stubbed.
    const STUBBED: &str = "use x;
// BEGIN SOLUTION a
/* outer /* nested fn x() { */ still a comment } */
/// Doc with fn in it {.
pub fn a<'a, T: Tr<f32>>(x: &'a T) -> Out<T>
where T: Copy {
    todo!()
}
// END SOLUTION
fn other() { 1 }
// BEGIN SOLUTION b
impl N {
    pub fn b(self) -> u8 {
        todo!()
    }
    fn c(&self);
}
// END SOLUTION
";

    #[test]
    fn chapter_dependencies_are_found_transitively_in_order() {
        let root = tempfile::tempdir().unwrap();
        let chapter = |name: &str, deps: &[&str]| {
            let dir = root.path().join("chapters").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let mut toml = format!(
                "[package]\nname = {name:?}\n[dependencies]\nae-toolkit.workspace = true\n"
            );
            for d in deps {
                toml += &format!("{d} = {{ path = \"../{d}\" }}\n");
            }
            std::fs::write(dir.join("Cargo.toml"), toml).unwrap();
        };
        chapter("ae-toolkit", &[]);
        chapter("ch01-a", &[]);
        chapter("ch02-b", &["ch01-a"]);
        chapter("ch03-c", &["ch02-b", "ch01-a"]);
        let deps = |c| chapter_deps(root.path(), c).unwrap();
        assert!(deps("ch01-a").is_empty());
        assert_eq!(deps("ch02-b"), ["ch01-a"]);
        assert_eq!(deps("ch03-c"), ["ch01-a", "ch02-b"]);
    }

    #[test]
    fn regions_are_found_and_bodies_stubbed_whatever_braces_strings_and_comments_hold() {
        let r = regions(SRC).unwrap();
        assert_eq!(
            r.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // Braces in strings, raw strings, (byte) characters and nested comments are not the body's;
        // a function nested in a body goes with it; a lifetime is not a character.
        let s = stub_source(SRC).unwrap();
        assert_eq!(s, STUBBED);
        // Putting the reference regions back restores the original.
        let mut back = s.clone();
        for id in ["a", "b"] {
            back = replace_region(&back, id, &region_body(SRC, id).unwrap().unwrap()).unwrap();
        }
        assert_eq!(back, SRC);
        let err = stub_bodies("fn broken( {\n").unwrap_err().to_string();
        assert!(err.contains("not valid Rust"), "{err}");
    }

    #[test]
    fn unbalanced_markers_are_errors() {
        assert!(regions("// BEGIN SOLUTION a\n").is_err());
        assert!(regions("// END SOLUTION\n").is_err());
        assert!(regions("// BEGIN SOLUTION a\n// BEGIN SOLUTION b\n").is_err());
        assert!(regions("// BEGIN SOLUTION\n// END SOLUTION\n").is_err());
    }
}
