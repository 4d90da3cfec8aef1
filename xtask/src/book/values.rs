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
//! - **Claims.** `book/claims.toml` declares the comparisons the text states (`left`, `relation`,
//!   `right`: names or numbers). A claim that the values no longer satisfy is a problem naming
//!   it; so is a claim no page of a language points at (`<!-- claim: ch06.deep_beats_pca -->`
//!   beside the sentence) and a pointer to a claim that does not exist.
//! - **Typed numbers.** A decimal with three or more significant digits in a page's prose
//!   (outside code, math, HTML and includes; not a version such as 0.5.4) is a problem unless
//!   `book/typed-numbers.toml` lists it as a formula's worked value with the test that checks it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

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
/// Significant digits from which a typed decimal counts as a measured number.
const MIN_SIGNIFICANT: usize = 3;

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

fn book_root(layout: &Layout) -> PathBuf {
    layout
        .book_dir
        .parent()
        .map_or_else(|| layout.root.clone(), Path::to_path_buf)
}

/// `None` if `constant` (`path/file.rs::NAME`, relative to the repository) is declared as
/// `const NAME: <type> = value;`, otherwise what is wrong.
fn check_constant(layout: &Layout, constant: &str, value: f64) -> Option<String> {
    let (file, name) = constant.rsplit_once("::")?;
    let Ok(src) = fs::read_to_string(book_root(layout).join(file)) else {
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
    book_root(layout).join(VALUES_DIR)
}

/// A parsed TOML file of the book directory (`None` when it does not exist), with its display
/// name and line index.
struct TomlFile {
    display: String,
    doc: Document<String>,
    lines: LineIndex,
}

impl TomlFile {
    fn read(layout: &Layout, name: &str, problems: &mut Vec<Problem>) -> Option<TomlFile> {
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
    fn line(&self, table: &Table, key: &str) -> usize {
        table
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .map_or(0, |s| self.lines.line(s.start))
    }

    fn problem(&self, line: usize, message: String) -> Problem {
        Problem::new(&self.display, line, message)
    }
}

fn str_field<'a>(t: &'a Table, key: &str) -> Option<&'a str> {
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
    let mut dirs: Vec<PathBuf> = fs::read_dir(&generated)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let ns = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let path = dir.join(ae_toolkit::results::FILE_NAME);
        if !path.exists() {
            continue;
        }
        match ae_toolkit::results::read(&dir) {
            Ok(file) => {
                for (name, v) in file {
                    values.insert(
                        format!("{ns}.{name}"),
                        Named {
                            value: v.value,
                            text: v.text,
                            origin: format!(
                                "{} (experiment {})",
                                layout.display(&path),
                                v.experiment
                            ),
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
        values.insert(
            format!("{LITERATURE}.{name}"),
            Named {
                value,
                text: text.to_string(),
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
            values.insert(
                full,
                Named {
                    value,
                    text: text.to_string(),
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
        if fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Err(e) = ae_toolkit::atomic::write(&path, text.as_bytes()) {
            problems.push(Problem::new(
                layout.display(&path),
                0,
                format!("cannot write: {e:#}"),
            ));
        }
    }
    (values, problems)
}

/// One side of a comparison: a number, a value's name, or `factor*name`; its number and how it
/// reads in a message.
fn operand(token: &str, values: &Values) -> Result<(f64, String, Option<String>), String> {
    if let Ok(n) = token.parse::<f64>() {
        return Ok((n, token.to_string(), None));
    }
    let (factor, name) = match token.split_once('*') {
        Some((f, n)) => (
            f.parse::<f64>()
                .map_err(|_| format!("`{token}`: `{f}` is not a number"))?,
            n,
        ),
        None => (1.0, token),
    };
    let v = values
        .get(name)
        .ok_or_else(|| format!("`{name}` is in no results file, literature or pending entry"))?;
    Ok((
        factor * v.value,
        format!("{token} (= {})", v.text),
        Some(v.text.clone()),
    ))
}

/// Whether `comparison` (`left op right`; op one of `<`, `<=`, `>`, `>=`, or `==`: the two show
/// the same text) holds; `Err` says what is wrong with it.
fn holds(comparison: &str, values: &Values) -> Result<Option<String>, String> {
    let parts: Vec<&str> = comparison.split_whitespace().collect();
    let [left, op, right] = parts[..] else {
        return Err(format!("`{comparison}` is not `left op right`"));
    };
    let (l, r) = (operand(left, values)?, operand(right, values)?);
    let ok = match op {
        "<" => l.0 < r.0,
        "<=" => l.0 <= r.0,
        ">" => l.0 > r.0,
        ">=" => l.0 >= r.0,
        "==" => l.2.is_some() && l.2 == r.2,
        _ => return Err(format!("`{op}` in `{comparison}`: use <, <=, >, >= or ==")),
    };
    Ok((!ok).then(|| format!("{} {op} {}", l.1, r.1)))
}

/// Checks every claim against `values`; returns the claims' names (`ch06.deep_beats_pca`).
fn check_claims(f: &TomlFile, values: &Values, problems: &mut Vec<Problem>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (ns, item) in f.doc.as_table() {
        let Some(group) = item.as_table() else {
            problems.push(f.problem(
                f.line(f.doc.as_table(), ns),
                format!("`{ns}` is not a table of claims"),
            ));
            continue;
        };
        for (name, item) in group {
            let full = format!("{ns}.{name}");
            let line = f.line(group, name);
            names.insert(full.clone());
            let comparisons = item
                .as_table()
                .and_then(|t| t.get("holds"))
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                })
                .filter(|c| !c.is_empty());
            let Some(comparisons) = comparisons else {
                problems.push(f.problem(
                    line,
                    format!("claim `{full}` needs `holds = [\"left op right\", …]`"),
                ));
                continue;
            };
            let says = item
                .as_table()
                .and_then(|t| str_field(t, "says"))
                .unwrap_or_default();
            for c in comparisons {
                match holds(&c, values) {
                    Ok(None) => {}
                    Ok(Some(false_one)) => problems.push(f.problem(
                        line,
                        format!(
                            "claim `{full}` (\"{says}\") no longer holds: {false_one} is false; \
                             rewrite the sentences that point at it"
                        ),
                    )),
                    Err(e) => problems.push(f.problem(line, format!("claim `{full}`: {e}"))),
                }
            }
        }
    }
    names
}

/// `<!-- claim: name -->` pointers in `text`: (line, name).
fn claim_pointers(text: &str) -> Vec<(usize, String)> {
    let lines = LineIndex::new(text);
    text.match_indices("<!-- claim:")
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let name = rest[..rest.find("-->").unwrap_or(rest.len())].trim();
            (lines.line(at), name.to_string())
        })
        .collect()
}

/// An allowed typed decimal: the number and the page (both languages).
struct Worked {
    number: String,
    page: String,
}

fn load_worked(layout: &Layout, f: &TomlFile, problems: &mut Vec<Problem>) -> Vec<Worked> {
    let mut out = Vec::new();
    for (kind, needs) in [("worked", "test"), ("label", "names")] {
        let Some(list) = f
            .doc
            .as_table()
            .get(kind)
            .and_then(Item::as_array_of_tables)
        else {
            continue;
        };
        for t in list {
            let line = t.span().map_or(0, |s| f.lines.line(s.start));
            let (Some(number), Some(page), Some(why)) = (
                str_field(t, "number"),
                str_field(t, "page"),
                str_field(t, needs),
            ) else {
                problems.push(f.problem(
                    line,
                    format!("a `[[{kind}]]` needs `number`, `page` and `{needs}`"),
                ));
                continue;
            };
            // A worked value's test must exist and hold the number: `path/file.rs` (a doctest or
            // a test file) or `path/file.rs::function`.
            if kind == "worked" {
                let (file, func) = why.split_once("::").unwrap_or((why, ""));
                let src = fs::read_to_string(book_root(layout).join(file)).unwrap_or_default();
                if !src.contains(number)
                    || (!func.is_empty() && !src.contains(&format!("fn {func}(")))
                {
                    problems.push(f.problem(
                        line,
                        format!("`{why}`: no such test holding {number} (expected file.rs or file.rs::function)"),
                    ));
                }
            }
            out.push(Worked {
                number: number.to_string(),
                page: page.to_string(),
            });
        }
    }
    out
}

/// The decimals in `prose` with at least [`MIN_SIGNIFICANT`] significant digits: (offset, text).
/// Versions (`0.5.4`) and parts of names (`arXiv:1708.07747`, `v1.25`) are not numbers.
pub fn typed_decimals(prose: &str) -> Vec<(usize, String)> {
    let b = prose.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let is_decimal = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
        if !is_decimal {
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let version = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
        let glued = start > 0
            && (b[start - 1].is_ascii_alphanumeric() || b"._:/-#".contains(&b[start - 1]))
            && !(b[start - 1] == b'-' && (start < 2 || !b[start - 2].is_ascii_alphanumeric()));
        if version || glued {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            continue;
        }
        let token = &prose[start..i];
        let significant = token.replace('.', "").trim_start_matches('0').len();
        if significant >= MIN_SIGNIFICANT {
            out.push((start, token.to_string()));
        }
    }
    out
}

/// Every check of this module on `layout` (writing the fragments first).
pub fn check(layout: &Layout) -> Vec<Problem> {
    let (values, mut problems) = write_fragments(layout);
    let claims = TomlFile::read(layout, CLAIMS_FILE, &mut problems)
        .map(|f| (check_claims(&f, &values, &mut problems), f));
    let worked = TomlFile::read(layout, TYPED_FILE, &mut problems)
        .map(|f| load_worked(layout, &f, &mut problems))
        .unwrap_or_default();
    for lang in LANGS {
        let src = layout.src_dir(lang.code);
        let mut pointed = BTreeSet::new();
        for file in super::sources::md_files(&src) {
            let Ok(text) = fs::read_to_string(&file) else {
                continue;
            };
            let display = layout.display(&file);
            let rel = file
                .strip_prefix(&src)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let lines = LineIndex::new(&text);
            for (offset, number) in typed_decimals(&prose_only(&text)) {
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
            for (line, name) in claim_pointers(&text) {
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
    fn measured_decimals_are_found_and_versions_and_names_are_not() {
        let prose = "loss 43.77 vs 0.0915 and 3.00; lr 0.001, p 0.5, 1.25x; mdBook 0.5.4, \
                     arXiv:1708.07747, ch06.md, v1.234, −12.9, -0.123";
        let got: Vec<String> = typed_decimals(prose).into_iter().map(|t| t.1).collect();
        assert_eq!(got, ["43.77", "0.0915", "3.00", "1.25", "12.9", "0.123"]);
    }

    #[test]
    fn display_texts_lead_with_their_number() {
        assert_eq!(leading_number("68.5 s"), Some(68.5));
        assert_eq!(leading_number("13.87"), Some(13.87));
        assert_eq!(leading_number("s"), None);
    }

    #[test]
    fn claim_pointers_are_read() {
        let text = "a\n<!-- claim: ch06.x --> b <!-- claim:ch01.y-->\n";
        assert_eq!(
            claim_pointers(text),
            [(2, "ch06.x".into()), (2, "ch01.y".into())]
        );
    }
}
