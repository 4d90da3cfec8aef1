//! Numbers reach the prose from the runs: named values, the claims made from them, and no
//! measured decimal typed into a page.
//!
//! - **Values.** Each chapter's `reproduce` example (and `cargo xtask perf`) writes
//!   `book/generated/<ns>/results.json` (`ae_toolkit::results`: name → value, display text,
//!   experiment); the numbers the text compares against from papers and tutorials are in
//!   `book/literature.toml` (namespace `lit`), each with its entry on the references page.
//!   [`write_fragments`] turns them, before every build and every source check, into
//!   `target/book-values/<ns>.md`, one anchor per value, which a page quotes with mdBook's own
//!   include: `{{#include ../../target/book-values/ch06.md:deep_mse}}`. An unknown name is an
//!   anchor that does not exist, which the source check reports (and mdBook would show nothing).
//! - **Pending values.** `book/pending-values.toml` lists, run by run, values whose example
//!   writes them but whose run has not been redone yet, with the text the page showed before.
//!   They are quoted by name like the others; once the run has written the value, its pending
//!   entry is a problem (delete it).
//! - **Claims** (`claims.rs`). `book/claims.toml` declares the comparisons the text states,
//!   each a list of `left op right` (names, numbers, `factor*name` or a difference `a-b` of these). A claim the values no
//!   longer satisfy is a problem naming it; so is a claim no page of a language points at
//!   (`<!-- claim: ch06.deep_beats_pca_threefold -->` beside the sentence) and a pointer to a
//!   claim that does not exist.
//! - **Typed numbers.** A decimal with three or more significant digits in a page's prose
//!   (outside code, math, HTML and includes; not a version such as 0.5.4) is a problem unless
//!   `book/typed-numbers.toml` lists it as a formula's worked value with the test that checks it
//!   (or as a number that names something, a version). Also in `claims.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use toml_edit::{Document, Item, Table};

use super::markdown::LineIndex;
use super::terms::prose_only;
use super::{Layout, Problem, LANGS};

/// Where the fragments go, relative to the directory holding `book/` (the repository root).
pub const VALUES_DIR: &str = "target/book-values";
/// Literature values, relative to the book directory.
pub const LITERATURE_FILE: &str = "literature.toml";
/// Values awaiting their run, relative to the book directory.
pub const PENDING_FILE: &str = "pending-values.toml";
/// Claims, relative to the book directory.
pub const CLAIMS_FILE: &str = "claims.toml";
/// Formulas' worked values allowed in prose, relative to the book directory.
pub const TYPED_FILE: &str = "typed-numbers.toml";
/// The namespace of literature values.
pub const LITERATURE: &str = "lit";

/// One value a page can quote.
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    pub value: f64,
    pub text: String,
    /// Where it comes from, as `file:line` or `file`.
    pub origin: String,
}

/// Every value by `ns.name`.
pub type Values = BTreeMap<String, Named>;

/// `None` if `constant` (`path/file.rs::NAME`, relative to the repository) is declared as
/// `const NAME: <type> = value;`, otherwise what is wrong.
fn check_constant(layout: &Layout, constant: &str, value: f64) -> Option<String> {
    let (file, name) = constant.rsplit_once("::")?;
    let Ok(src) = fs::read_to_string(layout.book_root().join(file)) else {
        return Some(format!("`{file}` does not exist"));
    };
    let Some(decl) = src.find(&format!("const {name}:")) else {
        return Some(format!("`{file}` declares no `const {name}`"));
    };
    let rest = &src[decl..];
    let init = rest[rest.find('=')? + 1..rest.find(';')?]
        .trim()
        .replace('_', "");
    match init.parse::<f64>() {
        Ok(v) if v == value => None,
        Ok(v) => Some(format!(
            "`{constant}` is {v}, not {value}: change one of the two"
        )),
        Err(_) => Some(format!("`{constant}` is not a number literal")),
    }
}

/// `target/book-values/` of `layout`.
pub fn values_dir(layout: &Layout) -> PathBuf {
    layout.book_root().join(VALUES_DIR)
}

/// A parsed TOML file of the book directory (`None` when it does not exist), with its display
/// name and line index.
/// (Walked as toml_edit tables, not deserialized by serde derive, #17: a derived struct stops at
/// the first bad entry, where the checks report every one with its line and go on.)
pub(super) struct TomlFile {
    pub(super) display: String,
    pub(super) doc: Document<String>,
    pub(super) lines: LineIndex,
}

impl TomlFile {
    pub(super) fn read(
        layout: &Layout,
        name: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<TomlFile> {
        let path = layout.book_dir.join(name);
        let text = fs::read_to_string(&path).ok()?;
        let display = layout.display(&path);
        match Document::parse(text.clone()) {
            Ok(doc) => Some(TomlFile {
                display,
                doc,
                lines: LineIndex::new(&text),
            }),
            Err(e) => {
                let line = e.span().map_or(0, |s| LineIndex::new(&text).line(s.start));
                problems.push(Problem::new(
                    display,
                    line,
                    format!("not TOML: {}", e.message()),
                ));
                None
            }
        }
    }

    /// The line of key `key` in `table`.
    pub(super) fn line(&self, table: &Table, key: &str) -> usize {
        table
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .map_or(0, |s| self.lines.line(s.start))
    }

    pub(super) fn problem(&self, line: usize, message: String) -> Problem {
        Problem::new(&self.display, line, message)
    }
}

pub(super) fn str_field<'a>(t: &'a Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(Item::as_str)
}

fn num_field(t: &Table, key: &str) -> Option<f64> {
    let v = t.get(key)?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// The leading number of a display text (`68.5 s` → 68.5).
fn leading_number(text: &str) -> Option<f64> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// Reads every value of `layout`: the results files, the literature and the pending values.
pub fn load_values(layout: &Layout) -> (Values, Vec<Problem>) {
    let mut values = Values::new();
    let mut problems = Vec::new();
    let generated = layout.generated_dir();
    let namespaces = (walkdir::WalkDir::new(&generated).follow_links(true))
        .min_depth(1)
        .max_depth(1);
    for entry in namespaces.sort_by_file_name().into_iter().flatten() {
        let dir = entry.path();
        if !entry.file_type().is_dir() {
            continue;
        }
        let ns = entry.file_name().to_string_lossy();
        let path = dir.join(ae_toolkit::results::FILE_NAME);
        if !path.exists() {
            continue;
        }
        match ae_toolkit::results::read(dir) {
            Ok(file) => {
                for (name, v) in file {
                    let origin = format!("{} (experiment {})", layout.display(&path), v.experiment);
                    let (value, text) = (v.value, v.text);
                    values.insert(
                        format!("{ns}.{name}"),
                        Named {
                            value,
                            text,
                            origin,
                        },
                    );
                }
            }
            Err(e) => problems.push(Problem::new(layout.display(&path), 0, format!("{e:#}"))),
        }
    }
    if let Some(lit) = TomlFile::read(layout, LITERATURE_FILE, &mut problems) {
        load_literature(layout, &lit, &mut values, &mut problems);
    }
    if let Some(pending) = TomlFile::read(layout, PENDING_FILE, &mut problems) {
        load_pending(&pending, &mut values, &mut problems);
    }
    (values, problems)
}

fn load_literature(
    layout: &Layout,
    f: &TomlFile,
    values: &mut Values,
    problems: &mut Vec<Problem>,
) {
    let references: Vec<(String, String)> = LANGS
        .iter()
        .filter_map(|l| {
            let p = layout.src_dir(l.code).join("references.md");
            Some((layout.display(&p), fs::read_to_string(p).ok()?))
        })
        .collect();
    for (name, item) in f.doc.as_table() {
        let line = f.line(f.doc.as_table(), name);
        let Some(t) = item.as_table() else {
            problems.push(f.problem(line, format!("`{name}` is not a table")));
            continue;
        };
        let (Some(value), Some(text), Some(source)) = (
            num_field(t, "value"),
            str_field(t, "text"),
            str_field(t, "source"),
        ) else {
            problems.push(f.problem(
                line,
                format!(
                    "`{name}` needs `value` (a number), `text` and `source` (a references-page id)"
                ),
            ));
            continue;
        };
        if leading_number(text) != Some(value) {
            problems.push(f.problem(
                line,
                format!("`{name}`: text `{text}` does not show value {value}"),
            ));
        }
        if source == "unlisted" {
            if str_field(t, "note").is_none_or(str::is_empty) {
                problems.push(f.problem(
                    line,
                    format!("`{name}`: an unlisted source needs a `note` saying why"),
                ));
            }
        } else {
            for (page, refs) in &references {
                if !refs.contains(&format!("id=\"{source}\"")) {
                    problems.push(f.problem(
                        line,
                        format!("`{name}`: source `{source}` is not an entry of {page} (`<span id=\"{source}\">`)"),
                    ));
                }
            }
        }
        if let Some(constant) = str_field(t, "constant") {
            if let Some(msg) = check_constant(layout, constant, value) {
                problems.push(f.problem(line, format!("`{name}`: {msg}")));
            }
        }
        let origin = format!("{}:{line}", f.display);
        let text = text.to_string();
        values.insert(
            format!("{LITERATURE}.{name}"),
            Named {
                value,
                text,
                origin,
            },
        );
    }
}

fn load_pending(f: &TomlFile, values: &mut Values, problems: &mut Vec<Problem>) {
    let Some(runs) = f
        .doc
        .as_table()
        .get("run")
        .and_then(Item::as_array_of_tables)
    else {
        if !f.doc.as_table().is_empty() {
            problems.push(f.problem(
                0,
                "expected `[[run]]` tables (command, chapter, values)".into(),
            ));
        }
        return;
    };
    for run in runs {
        let line = run.span().map_or(0, |s| f.lines.line(s.start));
        let (Some(command), Some(ns), Some(list)) = (
            str_field(run, "command"),
            str_field(run, "chapter"),
            run.get("values").and_then(Item::as_table_like),
        ) else {
            problems.push(f.problem(
                line,
                "a `[[run]]` needs `command`, `chapter` and `values`".into(),
            ));
            continue;
        };
        for (name, text) in list.iter() {
            let full = format!("{ns}.{name}");
            let text = text.as_str().unwrap_or_default();
            if let Some(v) = values.get(&full) {
                problems.push(f.problem(
                    line,
                    format!(
                        "`{full}` is written by its run now ({}: {}): delete its pending entry",
                        v.origin, v.text
                    ),
                ));
                continue;
            }
            let Some(value) = leading_number(text) else {
                problems.push(f.problem(line, format!("`{full}`: `{text}` is not a number")));
                continue;
            };
            let origin = format!("{}:{line} (pending: {command})", f.display);
            let text = text.to_string();
            values.insert(
                full,
                Named {
                    value,
                    text,
                    origin,
                },
            );
        }
    }
}

/// Writes `target/book-values/<ns>.md` for every namespace (only files whose content changed,
/// so `book serve` does not rebuild for nothing). Returns the problems reading the values.
pub fn write_fragments(layout: &Layout) -> (Values, Vec<Problem>) {
    let (values, mut problems) = load_values(layout);
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    for (full, v) in &values {
        let (ns, name) = full.split_once('.').expect("names are ns.name");
        let f = files.entry(ns).or_default();
        f.push_str(&format!("ANCHOR: {name}\n{}\nANCHOR_END: {name}\n", v.text));
    }
    let dir = values_dir(layout);
    for (ns, text) in files {
        let path = dir.join(format!("{ns}.md"));
        if let Err(e) = super::write_changed(&path, &text) {
            problems.push(Problem::new(
                layout.display(&path),
                0,
                format!("cannot write: {e:#}"),
            ));
        }
    }
    (values, problems)
}

/// Every check of this module on `layout` (writing the fragments first).
pub fn check(layout: &Layout) -> Vec<Problem> {
    let (values, mut problems) = write_fragments(layout);
    let claims = TomlFile::read(layout, CLAIMS_FILE, &mut problems)
        .map(|f| (super::claims::check_claims(&f, &values, &mut problems), f));
    let worked = TomlFile::read(layout, TYPED_FILE, &mut problems)
        .map(|f| super::claims::load_worked(layout, &f, &mut problems))
        .unwrap_or_default();
    for lang in LANGS {
        let src = layout.src_dir(lang.code);
        let mut pointed = BTreeSet::new();
        for file in super::sources::md_files(&src) {
            let Ok(text) = fs::read_to_string(&file) else {
                continue;
            };
            let display = layout.display(&file);
            let rel = super::slash_path(file.strip_prefix(&src).unwrap_or(&file));
            let lines = LineIndex::new(&text);
            for (offset, number) in super::claims::typed_decimals(&prose_only(&text)) {
                if worked.iter().any(|w| w.number == number && w.page == rel) {
                    continue;
                }
                problems.push(Problem::new(
                    &display,
                    lines.line(offset),
                    format!(
                        "`{number}` is typed into the prose: quote the run's value by name \
                         (`{{{{#include ../../{VALUES_DIR}/<chapter>.md:<name>}}}}`, see \
                         xtask/src/book/values.rs), or list a formula's worked value with its test \
                         in book/{TYPED_FILE}"
                    ),
                ));
            }
            for (line, name) in super::claims::claim_pointers(&text) {
                match &claims {
                    Some((names, _)) if names.contains(&name) => {
                        pointed.insert(name);
                    }
                    _ => problems.push(Problem::new(
                        &display,
                        line,
                        format!(
                            "`<!-- claim: {name} -->` points at no claim of book/{CLAIMS_FILE}"
                        ),
                    )),
                }
            }
        }
        if let Some((names, f)) = &claims {
            for name in names.difference(&pointed) {
                let (ns, n) = name.split_once('.').unwrap_or_default();
                let line = f
                    .doc
                    .as_table()
                    .get(ns)
                    .and_then(Item::as_table)
                    .map_or(0, |g| f.line(g, n));
                problems.push(f.problem(
                    line,
                    format!(
                        "claim `{name}`: no {} page points at it (`<!-- claim: {name} -->` beside \
                         the sentence that states it)",
                        lang.english_name
                    ),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts_lead_with_their_number() {
        assert_eq!(leading_number("68.5 s"), Some(68.5));
        assert_eq!(leading_number("13.87"), Some(13.87));
        assert_eq!(leading_number("s"), None);
    }
}
