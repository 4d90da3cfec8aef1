//! Checks on the built HTML of both languages.
//!
//! What mdbook-katex 0.10.0 emits for a formula KaTeX cannot handle depends on `throw-on-error`:
//! with KaTeX's default (`true`) the formula is kept as raw text (`$$\frac{1}{$$` shows up
//! verbatim in the page) and only a `WARN … Rendering failed` line is logged. `book.toml` sets
//! `throw-on-error = false`, so instead a parse error becomes
//! `<span class="katex-error" title="ParseError: KaTeX parse error: …">\frac{1}{</span>`, and an
//! unknown command (`\foo`) is typeset in `error-color` (`style="color:#cc0000"`). All three are
//! detected here: katex-error spans, error-coloured KaTeX text, and `$$` left in the page text.
//!
//! The pages are scanned for `<` rather than parsed by an HTML parser (#17, measured against the
//! lockfile): `scraper` would add 30 crates (html5ever, selectors, cssparser, phf, string_cache,
//! …) and `lol_html` 26, to replace string scanning spread over about 100 lines, on HTML that
//! mdBook and KaTeX generate; and every problem is reported at its line in the built page, which
//! scraper's tree does not keep (it has no source positions).

use std::fs;
use std::path::{Path, PathBuf};

use super::markdown::{attr_value, percent_decode, unescape_html, LineIndex};
use super::sources::{has_scheme, normalize_abs};
use super::{Layout, Problem, LANGS};

/// KaTeX's error colour as configured in book.toml.
const ERROR_COLOR_STYLE: &str = "color:#cc0000";

/// Runs the HTML checks on `layout.out_dir/<lang>/` for both languages.
pub fn check_html(layout: &Layout) -> Vec<Problem> {
    let mut problems = Vec::new();
    for lang in LANGS {
        let dir = layout.out_dir.join(lang.code);
        if !dir.join("index.html").is_file() {
            problems.push(Problem::new(
                layout.display(&dir),
                0,
                format!("the {} site has not been built", lang.english_name),
            ));
            continue;
        }
        for file in super::search::site_pages(&dir) {
            let rel = file.strip_prefix(&dir).unwrap_or(&file);
            if rel.parent() == Some(Path::new(""))
                && super::search::NOT_INDEXED
                    .iter()
                    .any(|s| rel == Path::new(s))
            {
                continue;
            }
            let Ok(html) = fs::read_to_string(&file) else {
                continue;
            };
            let source = layout.src_dir(lang.code).join(rel.with_extension("md"));
            let page = HtmlPage {
                layout,
                site: &layout.out_dir,
                file: &file,
                html: &html,
                source: source.is_file().then_some(source),
            };
            page.check(&mut problems);
        }
    }
    // 5. No graded exercise's answer on a page but the solutions page.
    problems.extend(super::exercises::check_answers(layout));
    problems.sort();
    problems.dedup();
    problems
}

struct HtmlPage<'a> {
    layout: &'a Layout,
    site: &'a Path,
    file: &'a Path,
    html: &'a str,
    source: Option<PathBuf>,
}

impl HtmlPage<'_> {
    fn check(&self, problems: &mut Vec<Problem>) {
        let (main_start, main_end) = main_range(self.html);
        let main = &self.html[main_start..main_end];

        // 1. KaTeX parse errors.
        let mut from = 0;
        while let Some(p) = main[from..].find("class=\"katex-error\"").map(|p| p + from) {
            from = p + 1;
            let tag_start = main[..p].rfind('<').unwrap_or(p);
            let tag_end = main[p..].find('>').map_or(main.len(), |e| e + p);
            let title = attr_value(&main[tag_start + 1..tag_end], "title")
                .map(|t| unescape_html(&t))
                .unwrap_or_default();
            let content_end = main[tag_end..]
                .find("</span>")
                .map_or(main.len(), |e| e + tag_end);
            let formula = unescape_html(main.get(tag_end + 1..content_end).unwrap_or(""));
            let formula = formula.trim();
            problems.push(self.problem(
                main_start + p,
                &[formula],
                format!("KaTeX error in `{formula}`: {}", title.trim()),
            ));
        }

        // 2. Text KaTeX typeset in the error colour (unknown commands and the like).
        let mut from = 0;
        while let Some(p) = main[from..].find(ERROR_COLOR_STYLE).map(|p| p + from) {
            from = p + 1;
            let Some(gt) = main[p..].find('>').map(|e| e + p) else {
                break;
            };
            let text_end = main[gt..].find('<').map_or(main.len(), |e| e + gt);
            let text = unescape_html(&main[gt + 1..text_end]);
            let tag_start = main[..p].rfind('<').unwrap_or(p);
            if text.trim().is_empty() || main[tag_start..p].contains("katex-error") {
                continue;
            }
            problems.push(self.problem(
                main_start + p,
                &[text.trim()],
                format!(
                    "KaTeX could not typeset `{}` (shown in the error colour: unknown command?)",
                    text.trim()
                ),
            ));
        }

        // 3. Display math left as raw text.
        let text_only = blank_code(main);
        let mut from = 0;
        while let Some(p) = text_only[from..].find("$$").map(|p| p + from) {
            from = p + 2;
            let snippet: String = text_only[p..]
                .chars()
                .enumerate()
                .take_while(|&(i, c)| i < 2 || !(c == '<' || c == '$' || c.is_whitespace()))
                .take(24)
                .map(|(_, c)| c)
                .collect();
            problems.push(self.problem(
                main_start + p,
                &[snippet.as_str()],
                format!("unrendered math `{snippet}…` (mdbook-katex left it as text)"),
            ));
        }

        // 4. Links and images inside the page content.
        self.check_links(main, main_start, problems);
    }

    fn check_links(&self, main: &str, main_start: usize, problems: &mut Vec<Problem>) {
        let code_blanked = blank_code(main);
        let mut i = 0;
        while let Some(p) = code_blanked[i..].find('<').map(|p| p + i) {
            let Some(end) = code_blanked[p..].find('>').map(|e| e + p) else {
                break;
            };
            i = end;
            let tag = &main[p + 1..end];
            for attr in ["href", "src"] {
                let Some(raw) = attr_value(tag, attr) else {
                    continue;
                };
                let url = unescape_html(&raw);
                if let Some(msg) = self.check_url(&url) {
                    let (path, frag) = url.split_once('#').unwrap_or((url.as_str(), ""));
                    let needle = if frag.is_empty() {
                        Path::new(path)
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    } else {
                        format!("#{frag}")
                    };
                    problems.push(self.problem(main_start + p, &[needle.as_str()], msg));
                }
            }
        }
    }

    /// Whether a relative URL of this page resolves to an existing file (and element id).
    fn check_url(&self, url: &str) -> Option<String> {
        let url = url.trim();
        if url.is_empty() || url.starts_with('/') || url.contains("://") || has_scheme(url) {
            return None;
        }
        let (path, frag) = url.split_once('#').unwrap_or((url, ""));
        let path = path.split('?').next().unwrap_or("");
        let target = if path.is_empty() {
            self.file.to_path_buf()
        } else {
            let dir = self.file.parent().unwrap_or(self.site);
            let mut t = normalize_abs(&dir.join(percent_decode(path)));
            if t.is_dir() {
                t = t.join("index.html");
            }
            t
        };
        if !target.starts_with(self.site) {
            return Some(format!("link `{url}` points outside the site"));
        }
        if !target.is_file() {
            return Some(format!(
                "link `{url}`: {} does not exist in the built site",
                self.layout.display(&target)
            ));
        }
        if !frag.is_empty() && target.extension().is_some_and(|e| e == "html") {
            let frag = percent_decode(frag);
            let html = fs::read_to_string(&target).unwrap_or_default();
            let found = [format!("id=\"{frag}\""), format!("name=\"{frag}\"")]
                .iter()
                .any(|n| html.contains(n.as_str()));
            if !found {
                return Some(format!(
                    "link `{url}`: no element with id `{frag}` in {}",
                    self.layout.display(&target)
                ));
            }
        }
        None
    }

    /// A problem located in the Markdown source if one of `needles` is found there (a line that
    /// is exactly the needle, else `$needle`, else the needle anywhere), else in the HTML file
    /// at `offset`.
    fn problem(&self, offset: usize, needles: &[&str], message: String) -> Problem {
        if let Some(source) = &self.source {
            if let Ok(text) = fs::read_to_string(source) {
                for needle in needles {
                    let needle = needle.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    let needle = needle.trim();
                    if needle.is_empty() {
                        continue;
                    }
                    let whole_line = text.lines().position(|l| l.trim() == needle);
                    let found = whole_line.map(|i| i + 1).or_else(|| {
                        let lines = LineIndex::new(&text);
                        text.find(&format!("${needle}"))
                            .or_else(|| text.find(needle))
                            .map(|p| lines.line(p))
                    });
                    if let Some(line) = found {
                        return Problem::new(self.layout.display(source), line, message);
                    }
                }
            }
        }
        Problem::new(
            self.layout.display(self.file),
            LineIndex::new(self.html).line(offset),
            message,
        )
    }
}

/// Byte range of the page's `<main>` content (the whole page if there is none). The element may
/// carry attributes (`<main data-pagefind-body>`, see `search.rs`).
fn main_range(html: &str) -> (usize, usize) {
    let start = ["<main>", "<main "]
        .iter()
        .filter_map(|open| html.find(open))
        .min()
        .and_then(|p| html[p..].find('>').map(|e| p + e + 1))
        .unwrap_or(0);
    let end = html[start..]
        .find("</main>")
        .map_or(html.len(), |e| e + start);
    (start, end)
}

/// `html` with `<pre>`, `<code>`, `<script>` and `<style>` elements blanked (same length).
fn blank_code(html: &str) -> String {
    let mut bytes = html.as_bytes().to_vec();
    for (open, close) in [
        ("<pre", "</pre>"),
        ("<code", "</code>"),
        ("<script", "</script>"),
        ("<style", "</style>"),
    ] {
        let mut i = 0;
        while let Some(p) = html[i..].find(open).map(|p| p + i) {
            let end = html[p..]
                .find(close)
                .map_or(html.len(), |e| e + p + close.len());
            for b in &mut bytes[p..end] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
            i = end;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
