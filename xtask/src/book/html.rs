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
//! The pages are read by html5gum (a WHATWG tokenizer without dependencies, #17), whose tokens
//! carry byte spans, so every problem not found in the Markdown source is reported at its line in
//! the built page. Not `scraper` (+30 crates, no source positions in its tree) or `lol_html`
//! (+26 crates), measured against the lockfile.

use std::fs;
use std::path::{Path, PathBuf};

use html5gum::{StartTag, Token};

use super::markdown::{attr, html_tokens, needle_line, percent_decode, LineIndex};
use super::sources::{has_scheme, normalize_abs};
use super::{Layout, Problem, LANGS};

/// Elements whose content is code, not prose.
const CODE: &[&[u8]] = &[b"pre", b"code", b"script", b"style"];

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
        for file in super::search::content_pages(&dir) {
            let rel = file.strip_prefix(&dir).unwrap_or(&file);
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
        let tokens = main_tokens(self.html);
        // Inside `<pre>`, `<code>`, `<script>` or `<style>`: no links or math to check.
        let mut in_code = 0usize;
        for (i, token) in tokens.iter().enumerate() {
            match token {
                Token::StartTag(tag) => {
                    if CODE.contains(&tag.name.as_slice()) && !tag.self_closing {
                        in_code += 1;
                    }
                    let class = attr(tag, "class").unwrap_or_default();
                    let katex_error = class.split_whitespace().any(|c| c == "katex-error");
                    let next_text = match tokens.get(i + 1) {
                        Some(Token::String(s)) => String::from_utf8_lossy(s).trim().to_string(),
                        _ => String::new(),
                    };
                    // 1. KaTeX parse errors.
                    if katex_error {
                        let title = attr(tag, "title").unwrap_or_default();
                        problems.push(self.problem(
                            tag.span.start,
                            &[next_text.as_str()],
                            format!("KaTeX error in `{next_text}`: {}", title.trim()),
                        ));
                    }
                    // 2. Text KaTeX typeset in the error colour (unknown commands and the like).
                    let style = attr(tag, "style").unwrap_or_default();
                    if style.contains(ERROR_COLOR_STYLE) && !katex_error && !next_text.is_empty() {
                        problems.push(self.problem(
                            tag.span.start,
                            &[next_text.as_str()],
                            format!(
                                "KaTeX could not typeset `{next_text}` (shown in the error colour: \
                                 unknown command?)"
                            ),
                        ));
                    }
                    // 4. Links and images inside the page content.
                    if in_code == 0 {
                        self.check_links(tag, problems);
                    }
                }
                Token::EndTag(tag) if CODE.contains(&tag.name.as_slice()) => {
                    in_code = in_code.saturating_sub(1);
                }
                // 3. Display math left as raw text.
                // Searched in the page's own bytes (the token's span), so that the offset is the
                // page's and the snippet shows what the page shows.
                Token::String(s) if in_code == 0 => {
                    let text = &self.html[s.span.start..s.span.end];
                    for (p, _) in text.match_indices("$$") {
                        let snippet: String = text[p..]
                            .chars()
                            .enumerate()
                            .take_while(|&(i, c)| i < 2 || !(c == '$' || c.is_whitespace()))
                            .take(24)
                            .map(|(_, c)| c)
                            .collect();
                        problems.push(self.problem(
                            s.span.start + p,
                            &[snippet.as_str()],
                            format!("unrendered math `{snippet}…` (mdbook-katex left it as text)"),
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    fn check_links(&self, tag: &StartTag<usize>, problems: &mut Vec<Problem>) {
        for name in ["href", "src"] {
            let Some(url) = attr(tag, name) else {
                continue;
            };
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
                problems.push(self.problem(tag.span.start, &[needle.as_str()], msg));
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
            let text = fs::read_to_string(source).unwrap_or_default();
            if let Some(line) = needle_line(&text, needles) {
                return Problem::new(self.layout.display(source), line, message);
            }
        }
        Problem::new(
            self.layout.display(self.file),
            LineIndex::new(self.html).line(offset),
            message,
        )
    }
}

/// The tokens of the page's `<main>` content (the whole page if there is none). The element may
/// carry attributes (`<main data-pagefind-body>`, see `search.rs`).
pub(super) fn main_tokens(html: &str) -> Vec<Token<usize>> {
    let tokens: Vec<_> = html_tokens(html).collect();
    let is_main = |t: &Token<usize>| matches!(t, Token::StartTag(tag) if tag.name == b"main");
    let Some(start) = tokens.iter().position(is_main) else {
        return tokens;
    };
    tokens
        .into_iter()
        .skip(start + 1)
        .take_while(|t| !matches!(t, Token::EndTag(tag) if tag.name == b"main"))
        .collect()
}
