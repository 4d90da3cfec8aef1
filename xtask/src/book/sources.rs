//! Checks on the Markdown sources of both languages (no build needed).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::markdown::{
    self, align, blank_math, find_directives, outline, parse_summary, scan_math, Directive,
    DirectiveKind, LineIndex, TocEntry, TocKind,
};
use super::{Layout, Problem, LANGS};

/// mdBook's limit on nested includes.
const MAX_INCLUDE_DEPTH: usize = 10;

/// What the twin comparison needs from one page.
struct Page {
    file: PathBuf,
    headings: Vec<(usize, u8)>,
    /// (line, resolved target relative to the source root, as written)
    images: Vec<(usize, String, String)>,
    directives: Vec<Directive>,
    display_math: Vec<usize>,
}

/// Runs every source check on both languages: includes, links and images, math delimiters,
/// SUMMARY.md entries, pages without a twin, twin pages whose structure differs, and the Chinese
/// pages' terminology (one term per concept, see [`super::terms`]).
pub fn check_sources(layout: &Layout) -> Vec<Problem> {
    // The chapter pages include the graded exercises' stubs, derived from the chapters' source:
    // derive them first (see [`super::exercises`]).
    let mut problems = super::exercises::write_stubs(layout);
    // Likewise the named values the pages quote, and their checks (see [`super::values`]).
    problems.extend(super::values::check(layout));
    let mut pages: BTreeMap<&str, BTreeMap<String, Page>> = BTreeMap::new();
    let mut summaries: BTreeMap<&str, Vec<TocEntry>> = BTreeMap::new();

    for lang in LANGS {
        let src = layout.src_dir(lang.code);
        if !src.is_dir() {
            problems.push(Problem::new(
                layout.display(&src),
                0,
                format!("the {} source directory does not exist", lang.english_name),
            ));
            continue;
        }
        let summary_path = src.join("SUMMARY.md");
        let summary = match fs::read_to_string(&summary_path) {
            Ok(text) => parse_summary(&text),
            Err(e) => {
                problems.push(Problem::new(
                    layout.display(&summary_path),
                    0,
                    format!("cannot read SUMMARY.md: {e}"),
                ));
                Vec::new()
            }
        };
        let listed = listed_pages(&summary);
        let ctx = Ctx {
            layout,
            lang: lang.code,
            src: &src,
            listed: &listed,
        };
        for entry in &summary {
            if let Some(target) = &entry.target {
                let (path, _) = strip_fragment(target);
                if !src.join(markdown::percent_decode(path)).is_file() {
                    problems.push(Problem::new(
                        layout.display(&summary_path),
                        entry.line,
                        format!("SUMMARY.md lists `{target}`, which does not exist"),
                    ));
                }
            }
        }
        let mut lang_pages = BTreeMap::new();
        for file in md_files(&src) {
            let rel = super::slash_path(file.strip_prefix(&src).unwrap_or(&file));
            match fs::read_to_string(&file) {
                Ok(text) => {
                    let page = check_page(&ctx, &file, &rel, &text, &mut problems);
                    lang_pages.insert(rel, page);
                }
                Err(e) => problems.push(Problem::new(
                    layout.display(&file),
                    0,
                    format!("cannot read: {e}"),
                )),
            }
        }
        pages.insert(lang.code, lang_pages);
        summaries.insert(lang.code, summary);
    }

    if let (Some(en), Some(zh)) = (pages.get("en"), pages.get("zh")) {
        check_twins(layout, en, zh, &mut problems);
    }
    if let (Some(en), Some(zh)) = (summaries.get("en"), summaries.get("zh")) {
        if !en.is_empty() || !zh.is_empty() {
            check_toc(layout, en, zh, &mut problems);
        }
    }
    problems.extend(super::terms::check_terms(layout));
    problems.sort();
    problems.dedup();
    problems
}

struct Ctx<'a> {
    layout: &'a Layout,
    lang: &'a str,
    src: &'a Path,
    /// Pages listed in SUMMARY.md (normalised paths relative to `src`).
    listed: &'a BTreeSet<String>,
}

fn check_page(ctx: &Ctx, file: &Path, rel: &str, text: &str, problems: &mut Vec<Problem>) -> Page {
    let display = ctx.layout.display(file);
    let lines = LineIndex::new(text);
    let page_dir = Path::new(rel)
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();

    // Math, as mdbook-katex scans it.
    let scan = scan_math(text);
    if let Some((offset, display_math)) = scan.unclosed_math {
        let delim = if display_math { "$$" } else { "$" };
        problems.push(Problem::new(
            &display,
            lines.line(offset),
            format!(
                "`{delim}` is never closed, so mdbook-katex renders no math from here to the end \
                 of the page (write `\\$` for a literal dollar sign)"
            ),
        ));
    }
    if let Some(offset) = scan.unclosed_backticks {
        if text[offset..].contains('$') {
            problems.push(Problem::new(
                &display,
                lines.line(offset),
                "unmatched backtick: mdbook-katex renders no math after it",
            ));
        }
    }
    let display_math = scan
        .spans
        .iter()
        .filter(|s| s.display)
        .map(|s| lines.line(s.start))
        .collect();

    // Includes (recursively into included Markdown).
    let directives = find_directives(text);
    let mut stack = vec![file.to_path_buf()];
    check_directives(ctx, file, &directives, &page_dir, &mut stack, problems);

    // Links and images.
    let outline = outline(&blank_math(text, &scan.spans));
    let mut images = Vec::new();
    for link in &outline.links {
        if let Some(msg) = check_link(ctx, &page_dir, &link.dest, link.image) {
            problems.push(Problem::new(&display, link.line, msg));
        }
        if link.image {
            let (path, _) = strip_fragment(&link.dest);
            let (_, resolved) = normalize_rel(&page_dir, &markdown::percent_decode(path));
            images.push((link.line, resolved, link.dest.clone()));
        }
    }

    Page {
        file: file.to_path_buf(),
        headings: outline.headings,
        images,
        directives,
        display_math,
    }
}

/// Checks the directives of `file`; `page_dir` is the directory (relative to the source root) of
/// the page the text ends up in, against which links in included Markdown resolve.
fn check_directives(
    ctx: &Ctx,
    file: &Path,
    directives: &[Directive],
    page_dir: &Path,
    stack: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let display = ctx.layout.display(file);
    let base = file.parent().unwrap_or(Path::new("."));
    for d in directives.iter().filter(|d| d.kind != DirectiveKind::Title) {
        let what = format!("{{{{#{} {}}}}}", d.type_name, directive_target(d));
        let problem = |message: String| Problem::new(&display, d.line, message);
        let target = base.join(&d.path);
        let included = match d.kind {
            DirectiveKind::Unknown => Err(format!(
                "unknown directive `{{{{#{}}}}}`: mdBook leaves it as text",
                d.type_name
            )),
            _ if d.path.is_empty() => Err(format!("{what}: no file")),
            _ => fs::read_to_string(&target).map_err(|e| match target.exists() {
                false => format!(
                    "{what}: file `{}` does not exist (looked for {})",
                    d.path,
                    ctx.layout.display(&normalize_abs(&target))
                ),
                true => format!("{what}: cannot read `{}`: {e}", d.path),
            }),
        };
        let included = match included {
            Ok(text) => text,
            Err(message) => {
                problems.push(problem(message));
                continue;
            }
        };
        if let Some(msg) = (d.selector.as_deref()).and_then(|s| check_selector(s, &included)) {
            problems.push(problem(format!("{what}: {msg} in `{}`", d.path)));
        }
        // mdBook expands directives inside included text too; follow included Markdown.
        let norm = normalize_abs(&target);
        if norm.extension().is_some_and(|e| e == "md") {
            if stack.contains(&norm) || stack.len() >= MAX_INCLUDE_DEPTH {
                problems.push(problem(format!(
                    "{what}: includes nest too deep or in a cycle"
                )));
                continue;
            }
            stack.push(norm.clone());
            let nested = find_directives(&included);
            check_directives(ctx, &norm, &nested, page_dir, stack, problems);
            // Its links land in the including page, so they resolve against that page.
            let scan = scan_math(&included);
            let inc_display = ctx.layout.display(&norm);
            for link in outline(&blank_math(&included, &scan.spans)).links {
                if let Some(msg) = check_link(ctx, page_dir, &link.dest, link.image) {
                    problems.push(Problem::new(
                        &inc_display,
                        link.line,
                        format!("{msg} (included from {display}:{})", d.line),
                    ));
                }
            }
            stack.pop();
        }
    }
}

fn directive_target(d: &Directive) -> String {
    match &d.selector {
        Some(s) => format!("{}:{s}", d.path),
        None => d.path.clone(),
    }
}

/// Checks an include selector (`anchor`, `N`, `N:M`, `N:`, `:M`) against the included text,
/// following mdBook's `parse_range_or_anchor`.
fn check_selector(selector: &str, text: &str) -> Option<String> {
    let mut parts = selector.splitn(2, ':');
    let first = parts.next().unwrap_or("");
    let second = parts.next();
    let n_lines = text.lines().count();
    let start = match first.parse::<usize>() {
        Ok(v) => Some(v),
        Err(_) if first.is_empty() => None,
        Err(_) => return check_anchor(first, text),
    };
    let end = second.and_then(|s| s.parse::<usize>().ok());
    if let Some(s) = start {
        if s == 0 || s > n_lines {
            return Some(format!(
                "start line {s} is outside the file ({n_lines} lines)"
            ));
        }
    }
    if let Some(e) = end {
        if e > n_lines {
            return Some(format!(
                "end line {e} is past the end of the file ({n_lines} lines)"
            ));
        }
        if let Some(s) = start {
            if e < s {
                return Some(format!("line range {s}:{e} is empty"));
            }
        }
    }
    None
}

/// mdBook's anchors: `ANCHOR:\s*name` … `ANCHOR_END:\s*name`, names `[\w_-]+`.
fn check_anchor(name: &str, text: &str) -> Option<String> {
    let mut start = None;
    let mut end = None;
    let mut names = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        for n in anchor_names(line, "ANCHOR:") {
            if n == name && start.is_none() {
                start = Some(i);
            }
            names.insert(n);
        }
        for n in anchor_names(line, "ANCHOR_END:") {
            if n == name && start.is_some() && end.is_none() {
                end = Some(i);
            }
        }
    }
    match (start, end) {
        (Some(_), Some(_)) => None,
        (Some(_), None) => Some(format!(
            "anchor `{name}` has `ANCHOR: {name}` but no `ANCHOR_END: {name}` after it"
        )),
        (None, _) => {
            let known: Vec<_> = names.into_iter().collect();
            Some(if known.is_empty() {
                format!("anchor `{name}` not found (the file has no anchors)")
            } else {
                format!(
                    "anchor `{name}` not found (anchors there: {})",
                    known.join(", ")
                )
            })
        }
    }
}

fn anchor_names(line: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(p) = rest.find(marker) {
        rest = &rest[p + marker.len()..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

/// Splits `path#fragment` / `path?query#fragment` into path and fragment.
fn strip_fragment(dest: &str) -> (&str, &str) {
    let (before_hash, frag) = dest.split_once('#').unwrap_or((dest, ""));
    let path = before_hash.split('?').next().unwrap_or("");
    (path, frag)
}

/// Joins `rel` onto `dir` (both relative, `/`-separated) and resolves `.`/`..`. Returns how many
/// levels the result climbs above the root, and the remaining path.
fn normalize_rel(dir: &Path, rel: &str) -> (usize, String) {
    let mut parts: Vec<String> = dir
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut ups = 0;
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    ups += 1;
                }
            }
            s => parts.push(s.to_string()),
        }
    }
    let mut joined = parts.join("/");
    if rel.ends_with('/') && !joined.is_empty() {
        joined.push('/');
    }
    (ups, joined)
}

pub(super) fn normalize_abs(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

pub(super) fn has_scheme(dest: &str) -> bool {
    let mut chars = dest.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    for c in chars {
        if c == ':' {
            return true;
        }
        if !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.') {
            return false;
        }
    }
    false
}

/// Checks one link or image destination of a page in directory `page_dir` (relative to the
/// language's source root). Fragments are checked on the built HTML instead.
fn check_link(ctx: &Ctx, page_dir: &Path, dest: &str, image: bool) -> Option<String> {
    let what = if image { "image" } else { "link" };
    let dest = dest.trim();
    if dest.is_empty() {
        return Some(format!("{what} with an empty target"));
    }
    if dest.starts_with('#') || has_scheme(dest) || dest.starts_with("//") {
        return None;
    }
    if dest.starts_with('/') {
        return Some(format!(
            "{what} `{dest}` is absolute: it breaks when the site is served from a sub-path \
             (GitHub Pages) or from file://; use a path relative to the page"
        ));
    }
    let (path, _) = strip_fragment(dest);
    if path.is_empty() {
        return None;
    }
    let (ups, rel) = normalize_rel(page_dir, &markdown::percent_decode(path));
    if ups == 0 {
        return check_in_lang(ctx, ctx.lang, ctx.src, ctx.listed, &rel, what, dest);
    }
    // `../zh/page.html` from a page at the root of book/en/: the other language's site.
    if ups == 1 {
        if let Some((lang, rest)) = rel.split_once('/') {
            if lang != ctx.lang && LANGS.iter().any(|l| l.code == lang) {
                let src = ctx.layout.src_dir(lang);
                let summary = fs::read_to_string(src.join("SUMMARY.md")).unwrap_or_default();
                let listed = listed_pages(&parse_summary(&summary));
                return check_in_lang(ctx, lang, &src, &listed, rest, what, dest);
            }
        }
    }
    Some(format!(
        "{what} `{dest}` leaves the book's source directory, so it will not exist in the built \
         site"
    ))
}

/// The pages a SUMMARY.md lists (normalised paths relative to the language's source).
fn listed_pages(summary: &[TocEntry]) -> BTreeSet<String> {
    (summary.iter())
        .filter_map(|e| e.target.as_deref())
        .map(|t| normalize_rel(Path::new(""), strip_fragment(t).0).1)
        .collect()
}

fn check_in_lang(
    ctx: &Ctx,
    lang: &str,
    src: &Path,
    listed: &BTreeSet<String>,
    rel: &str,
    what: &str,
    dest: &str,
) -> Option<String> {
    if let Some(rest) = rel.strip_prefix("generated/") {
        let file = ctx.layout.generated_dir().join(rest);
        return (!file.is_file()).then(|| {
            format!(
                "{what} `{dest}`: {} does not exist (generated outputs come from the chapters' \
                 reproduce examples)",
                ctx.layout.display(&file)
            )
        });
    }
    let page_md = if rel.is_empty() || rel.ends_with('/') {
        Some(format!("{rel}index.md"))
    } else if let Some(stem) = rel.strip_suffix(".html") {
        if ["index", "print", "toc", "404"].contains(&stem) && src.join(rel).parent() == Some(src) {
            return None;
        }
        Some(format!("{stem}.md"))
    } else if rel.ends_with(".md") {
        Some(rel.to_string())
    } else {
        None
    };
    match page_md {
        Some(md) => {
            if !src.join(&md).is_file() && !src.join(rel).is_file() {
                return Some(format!(
                    "{what} `{dest}`: page {} does not exist",
                    ctx.layout.display(&src.join(&md))
                ));
            }
            if src.join(&md).is_file() && !listed.contains(&md) {
                return Some(format!(
                    "{what} `{dest}`: {} is not listed in {lang}'s SUMMARY.md, so mdBook does not \
                     render it",
                    ctx.layout.display(&src.join(&md))
                ));
            }
            None
        }
        None => (!src.join(rel).is_file()).then(|| {
            format!(
                "{what} `{dest}`: {} does not exist",
                ctx.layout.display(&src.join(rel))
            )
        }),
    }
}

/// Every `.md` file under `dir`, sorted (hidden files and directories skipped).
pub(crate) fn md_files(dir: &Path) -> Vec<PathBuf> {
    super::files_with_ext(dir, "md", |e| {
        e.file_name().to_string_lossy().starts_with('.')
    })
}

fn check_twins(
    layout: &Layout,
    en: &BTreeMap<String, Page>,
    zh: &BTreeMap<String, Page>,
    problems: &mut Vec<Problem>,
) {
    for (mine, other, other_lang) in [(en, zh, "zh"), (zh, en, "en")] {
        for (rel, page) in mine {
            if !other.contains_key(rel) {
                let twin = layout.src_dir(other_lang).join(rel);
                problems.push(Problem::new(
                    layout.display(&page.file),
                    1,
                    format!("no twin: {} does not exist", layout.display(&twin)),
                ));
            }
        }
    }
    for (rel, e) in en {
        let Some(z) = zh.get(rel) else { continue };
        if rel == "SUMMARY.md" {
            continue;
        }
        compare_twin(layout, e, z, problems);
    }
}

fn compare_twin<'p>(layout: &Layout, en: &'p Page, zh: &'p Page, problems: &mut Vec<Problem>) {
    let (de, dz) = (layout.display(&en.file), layout.display(&zh.file));

    // Section headings: same number, same levels, same order.
    let le: Vec<u8> = en.headings.iter().map(|h| h.1).collect();
    let lz: Vec<u8> = zh.headings.iter().map(|h| h.1).collect();
    if le != lz {
        let i = le.iter().zip(&lz).take_while(|(a, b)| a == b).count();
        let show = |h: Option<&(usize, u8)>, file: &str| match h {
            Some((line, level)) => format!("{} at {file}:{line}", "#".repeat(*level as usize)),
            None => format!("no heading at {file}"),
        };
        problems.push(Problem::new(
            &dz,
            zh.headings.get(i).or(zh.headings.last()).map_or(1, |h| h.0),
            format!(
                "headings differ from the English twin from heading #{} on: {} vs {} \
                 (levels zh [{}] vs en [{}])",
                i + 1,
                show(zh.headings.get(i), &dz),
                show(en.headings.get(i), &de),
                levels(&lz),
                levels(&le),
            ),
        ));
    }

    // Figures: same image targets in the same order.
    let ie: Vec<&str> = en.images.iter().map(|i| i.1.as_str()).collect();
    let iz: Vec<&str> = zh.images.iter().map(|i| i.1.as_str()).collect();
    let lines: Vec<usize> = zh.images.iter().map(|i| i.0).collect();
    unaligned(&ie, &iz, &lines, &dz, problems, |a, b| match (a, b) {
        (Some(a), _) => format!(
            "figure `{}` ({de}:{}) is missing from the Chinese twin",
            en.images[a].2, en.images[a].0
        ),
        (_, b) => format!(
            "figure `{}` is not in the English twin {de}",
            zh.images[b.unwrap()].2
        ),
    });

    // Quoted values: the same names in both, in any order (a Chinese sentence may put them in
    // another order than its English twin).
    let quoted = |p: &Page| -> BTreeMap<String, Vec<usize>> {
        let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for d in p.directives.iter().filter(|d| is_value(d)) {
            m.entry(directive_target(d)).or_default().push(d.line);
        }
        m
    };
    let (qe, qz) = (quoted(en), quoted(zh));
    for (name, lines) in &qe {
        if !qz.contains_key(name) {
            problems.push(Problem::new(
                &dz,
                1,
                format!(
                    "the value `{name}` ({de}:{}) is not quoted in the Chinese twin",
                    lines[0]
                ),
            ));
        }
    }
    for (name, lines) in &qz {
        if !qe.contains_key(name) {
            problems.push(Problem::new(
                &dz,
                lines[0],
                format!("the value `{name}` is not quoted in the English twin {de}"),
            ));
        }
    }

    // Included code: same directives (kind, file, anchor/range) in the same order.
    let code = |p: &'p Page| -> Vec<&'p Directive> {
        (p.directives.iter())
            .filter(|d| d.kind != DirectiveKind::Title && !is_value(d))
            .collect()
    };
    let (ce, cz) = (code(en), code(zh));
    let key = |d: &&Directive| (d.kind, d.path.clone(), d.selector.clone());
    let lines: Vec<usize> = cz.iter().map(|d| d.line).collect();
    let (ke, kz): (Vec<_>, Vec<_>) = (ce.iter().map(key).collect(), cz.iter().map(key).collect());
    unaligned(&ke, &kz, &lines, &dz, problems, |a, b| match (a, b) {
        (Some(a), _) => format!(
            "`{{{{#{} {}}}}}` ({de}:{}) is missing from the Chinese twin",
            ce[a].type_name,
            directive_target(ce[a]),
            ce[a].line
        ),
        (_, b) => {
            let d = cz[b.unwrap()];
            format!(
                "`{{{{#{} {}}}}}` is not in the English twin {de}",
                d.type_name,
                directive_target(d)
            )
        }
    });

    // Display equations: same number.
    if en.display_math.len() != zh.display_math.len() {
        let i = en.display_math.len().min(zh.display_math.len());
        problems.push(Problem::new(
            &dz,
            zh.display_math
                .get(i)
                .or(zh.display_math.last())
                .copied()
                .unwrap_or(1),
            format!(
                "{} display equations ($$…$$) but the English twin {de} has {} (zh at lines {:?}, \
                 en at lines {:?})",
                zh.display_math.len(),
                en.display_math.len(),
                zh.display_math,
                en.display_math
            ),
        ));
    }
}

/// Reports, in the Chinese twin `dz` (its elements at `zh_lines`), each element of `en` or `zh`
/// that the alignment leaves without a counterpart; `message` gets its index on its side. A
/// missing English element is reported at the twin's last element.
fn unaligned<K: PartialEq>(
    en: &[K],
    zh: &[K],
    zh_lines: &[usize],
    dz: &str,
    problems: &mut Vec<Problem>,
    message: impl Fn(Option<usize>, Option<usize>) -> String,
) {
    for (a, b) in align(en, zh) {
        let line = match (a, b) {
            (Some(_), None) => zh_lines.last().copied().unwrap_or(1),
            (None, Some(b)) => zh_lines[b],
            _ => continue,
        };
        problems.push(Problem::new(dz, line, message(a, b)));
    }
}

/// Whether `d` quotes a named value (see [`super::values`]).
fn is_value(d: &Directive) -> bool {
    d.kind == DirectiveKind::Include && d.path.contains(super::values::VALUES_DIR)
}

fn levels(l: &[u8]) -> String {
    l.iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn toc_key(e: &TocEntry) -> (TocKind, Option<String>) {
    (e.kind, e.target.clone())
}

fn describe(e: &TocEntry) -> String {
    match e.kind {
        TocKind::Chapter => format!("{} at depth {}", describe_entry(e), e.depth),
        _ => describe_entry(e),
    }
}

fn describe_entry(e: &TocEntry) -> String {
    match e.kind {
        TocKind::Separator => "separator `---`".to_string(),
        TocKind::PartTitle => format!("part title `{}`", e.title),
        TocKind::Chapter => match &e.target {
            Some(t) => format!("`[{}]({t})`", e.title),
            None => format!("draft `[{}]()`", e.title),
        },
    }
}

fn check_toc(layout: &Layout, en: &[TocEntry], zh: &[TocEntry], problems: &mut Vec<Problem>) {
    let fe = layout.display(&layout.src_dir("en").join("SUMMARY.md"));
    let fz = layout.display(&layout.src_dir("zh").join("SUMMARY.md"));
    let ke: Vec<_> = en.iter().map(toc_key).collect();
    let kz: Vec<_> = zh.iter().map(toc_key).collect();
    let pairs = align(&ke, &kz);
    // Where a missing entry would go in zh: the line of the next matched zh entry.
    for (k, &(a, b)) in pairs.iter().enumerate() {
        match (a, b) {
            (Some(a), Some(b)) => {
                if en[a].depth != zh[b].depth {
                    problems.push(Problem::new(
                        &fz,
                        zh[b].line,
                        format!(
                            "table of contents: {} is nested at depth {} but at depth {} in {fe}:{}",
                            describe_entry(&zh[b]),
                            zh[b].depth,
                            en[a].depth,
                            en[a].line
                        ),
                    ));
                }
            }
            (Some(a), None) => {
                let line = pairs[k..]
                    .iter()
                    .find_map(|p| p.1)
                    .map(|j| zh[j].line)
                    .or(zh.last().map(|e| e.line))
                    .unwrap_or(1);
                problems.push(Problem::new(
                    &fz,
                    line,
                    format!(
                        "table of contents: {} ({fe}:{}) has no counterpart here",
                        describe(&en[a]),
                        en[a].line
                    ),
                ));
            }
            (None, Some(b)) => problems.push(Problem::new(
                &fz,
                zh[b].line,
                format!(
                    "table of contents: {} has no counterpart in {fe}",
                    describe(&zh[b])
                ),
            )),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let text = "a\n// ANCHOR: one\nb\n// ANCHOR_END: one\n// ANCHOR: two\n";
        assert_eq!(check_selector("one", text), None);
        assert!(check_selector("two", text)
            .unwrap()
            .contains("no `ANCHOR_END: two`"));
        assert!(check_selector("three", text)
            .unwrap()
            .contains("anchors there: one, two"));
        assert_eq!(check_selector("2:4", text), None);
        assert_eq!(check_selector("3", text), None);
        assert_eq!(check_selector("2:", text), None);
        assert_eq!(check_selector(":5", text), None);
        assert!(check_selector("9", text).is_some());
        assert!(check_selector("1:9", text).is_some());
        assert!(check_selector("4:2", text).is_some());
    }

    #[test]
    fn normalizing() {
        assert_eq!(
            normalize_rel(Path::new(""), "a/../b.md"),
            (0, "b.md".into())
        );
        assert_eq!(
            normalize_rel(Path::new("sub"), "../../zh/x.html"),
            (1, "zh/x.html".into())
        );
        assert!(has_scheme("https://x") && has_scheme("mailto:a@b") && !has_scheme("a/b:c"));
        assert_eq!(strip_fragment("a.md?x=1#f"), ("a.md", "f"));
    }
}
