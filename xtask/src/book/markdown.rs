//! Reading book sources the way mdBook 0.5.4 and mdbook-katex 0.10.0 read them: include
//! directives (mdBook's `links` preprocessor), math spans (mdbook-katex's scanner, ported), and
//! headings, links and images (pulldown-cmark, mdBook's own Markdown parser).

use html5gum::{DefaultEmitter, StartTag, Token, Tokenizer};
use pulldown_cmark::{Event, Options, Parser, Tag};

/// Byte offset → 1-based line number.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// The 1-based line of Markdown `text` where the first of `needles` that occurs is (a needle is
/// its first non-empty line, trimmed): a line that is exactly the needle, else `$needle` (a
/// formula), else the needle anywhere. `None` if none occurs; each caller has its fallback.
pub fn needle_line(text: &str, needles: &[&str]) -> Option<usize> {
    let lines = LineIndex::new(text);
    needles.iter().find_map(|needle| {
        let needle = needle.lines().find(|l| !l.trim().is_empty())?.trim();
        let whole_line = text.lines().position(|l| l.trim() == needle);
        whole_line.map(|i| i + 1).or_else(|| {
            (text.find(&format!("${needle}")))
                .or_else(|| text.find(needle))
                .map(|p| lines.line(p))
        })
    })
}

/// The kind of a `{{#...}}` directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectiveKind {
    Include,
    RustdocInclude,
    Playground,
    /// `{{#title ...}}`: no file.
    Title,
    /// A type mdBook does not know: it leaves the text as it is.
    Unknown,
}

/// One `{{#include path:selector}}`-style directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub line: usize,
    pub kind: DirectiveKind,
    /// The type as written (`include`, `rustdoc_include`, ...).
    pub type_name: String,
    /// File path as written (relative to the file containing the directive).
    pub path: String,
    /// What follows the first `:` (anchor name or line range), if anything.
    pub selector: Option<String>,
}

/// Finds the directives mdBook's `links` preprocessor would expand, with the same syntax:
/// `{{ #type target props }}` with optional whitespace after `{{`, and `\{{#...}}` escaped.
/// (mdBook's own scanner, `find_links` in mdbook-driver 0.5.4, is private to that crate.)
pub fn find_directives(text: &str) -> Vec<Directive> {
    let bytes = text.as_bytes();
    let lines = LineIndex::new(text);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find("{{").map(|p| p + i) {
        // Escaped: `\{{#...}}` up to the last `}}` on the line (mdBook's regex is greedy).
        if pos > 0 && bytes[pos - 1] == b'\\' && bytes.get(pos + 2) == Some(&b'#') {
            let line_end = text[pos..].find('\n').map_or(text.len(), |e| e + pos);
            i = match text[pos..line_end].rfind("}}") {
                Some(e) => pos + e + 2,
                None => pos + 2,
            };
            continue;
        }
        match parse_directive(text, pos) {
            Some((end, type_name, rest)) => {
                let kind = match type_name {
                    "include" => DirectiveKind::Include,
                    "rustdoc_include" => DirectiveKind::RustdocInclude,
                    "playground" | "playpen" => DirectiveKind::Playground,
                    "title" => DirectiveKind::Title,
                    _ => DirectiveKind::Unknown,
                };
                let target = rest.split_whitespace().next().unwrap_or("");
                let (path, selector) = match kind {
                    DirectiveKind::Include | DirectiveKind::RustdocInclude => {
                        match target.split_once(':') {
                            Some((p, s)) => (p.to_string(), Some(s.to_string())),
                            None => (target.to_string(), None),
                        }
                    }
                    DirectiveKind::Playground => (target.to_string(), None),
                    _ => (String::new(), None),
                };
                out.push(Directive {
                    line: lines.line(pos),
                    kind,
                    type_name: type_name.to_string(),
                    path,
                    selector,
                });
                i = end;
            }
            None => i = pos + 2,
        }
    }
    out
}

/// `{{\s*#(\w+)\s+([^}]+)}}` at `pos`: returns (end offset, type, rest).
fn parse_directive(text: &str, pos: usize) -> Option<(usize, &str, &str)> {
    let b = text.as_bytes();
    let mut j = pos + 2;
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    if b.get(j) != Some(&b'#') {
        return None;
    }
    j += 1;
    let type_start = j;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    if j == type_start || j >= b.len() || !b[j].is_ascii_whitespace() {
        return None;
    }
    let type_name = &text[type_start..j];
    let rest_start = j;
    while j < b.len() && b[j] != b'}' {
        j += 1;
    }
    if !text[j..].starts_with("}}") || text[rest_start..j].trim().is_empty() {
        return None;
    }
    Some((j + 2, type_name, &text[rest_start..j]))
}

/// A math span as mdbook-katex sees it, delimiters included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MathSpan {
    pub start: usize,
    pub end: usize,
    pub display: bool,
}

/// Result of scanning a page for math.
#[derive(Clone, Debug, Default)]
pub struct MathScan {
    pub spans: Vec<MathSpan>,
    /// Offset of a `$`/`$$` that never closes: mdbook-katex renders no math from there on.
    pub unclosed_math: Option<(usize, bool)>,
    /// Offset of a backtick run that never closes: same effect.
    pub unclosed_backticks: Option<usize>,
}

/// mdbook-katex 0.10.0's scanner (`scan.rs`), ported: `$$` before `$`, `\` escapes the next
/// byte, backtick runs (code spans and fences) are skipped up to the next run of the same
/// length, and the scan stops at the first delimiter or backtick run that is never closed.
///
/// Ported rather than called (#17, measured with `cargo tree`): `mdbook_katex::scan::Scan` is
/// public, but the crate, even without its `katex` feature, would add 27 crates to xtask's build
/// (mdbook-preprocessor, toml 0.9, tracing-subscriber, regex, …), and its scan stops silently
/// where a `$` or a backtick run is never closed, so the check could no longer say where.
pub fn scan_math(text: &str) -> MathScan {
    let b = text.as_bytes();
    let mut scan = MathScan::default();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' => {
                let display = b.get(i + 1) == Some(&b'$');
                let delim: &[u8] = if display { b"$$" } else { b"$" };
                match find_closing(b, i + delim.len(), delim) {
                    Some(close) => {
                        let end = close + delim.len();
                        scan.spans.push(MathSpan {
                            start: i,
                            end,
                            display,
                        });
                        i = end;
                    }
                    None => {
                        scan.unclosed_math = Some((i, display));
                        break;
                    }
                }
            }
            b'\\' => i += 2,
            b'`' => {
                let start = i;
                let mut n = 0;
                while i < b.len() && b[i] == b'`' {
                    n += 1;
                    i += 1;
                }
                let run = vec![b'`'; n];
                let mut closed = false;
                while let Some(p) = find_bytes(b, i, &run) {
                    i = p + n;
                    if b.get(i) == Some(&b'`') {
                        while b.get(i) == Some(&b'`') {
                            i += 1;
                        }
                    } else {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    scan.unclosed_backticks = Some(start);
                    break;
                }
            }
            _ => i += 1,
        }
    }
    scan
}

/// The first `needle` in `hay` at or after `from`.
fn find_bytes(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|p| p + from)
}

/// Next unescaped `delim` at or after `from` (an odd number of backslashes before it escapes it).
fn find_closing(b: &[u8], from: usize, delim: &[u8]) -> Option<usize> {
    let mut i = from;
    loop {
        let p = find_bytes(b, i, delim)?;
        let mut k = p;
        let mut escaped = false;
        while k > 0 && b[k - 1] == b'\\' {
            escaped = !escaped;
            k -= 1;
        }
        if !escaped {
            return Some(p);
        }
        i = p + delim.len();
    }
}

/// `text` with every math span replaced by spaces (newlines kept), so byte offsets and line
/// numbers stay the same and Markdown parsing sees no TeX (mdbook-katex runs before Markdown).
pub fn blank_math(text: &str, spans: &[MathSpan]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for s in spans {
        for b in &mut bytes[s.start..s.end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    String::from_utf8(bytes).expect("only whole UTF-8 sequences were replaced by ASCII")
}

/// A link or image in a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRef {
    pub line: usize,
    pub dest: String,
    pub image: bool,
}

/// Headings (line, level 1–6) and links/images of a page, parsed like mdBook does.
#[derive(Clone, Debug, Default)]
pub struct PageOutline {
    pub headings: Vec<(usize, u8)>,
    pub links: Vec<LinkRef>,
}

/// The Markdown extensions mdBook 0.5 turns on.
pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_DEFINITION_LIST
}

/// Parses a page (math must already be blanked, see [`blank_math`]).
pub fn outline(text: &str) -> PageOutline {
    let lines = LineIndex::new(text);
    let mut out = PageOutline::default();
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        let line = lines.line(range.start);
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                out.headings.push((line, level as u8));
            }
            Event::Start(Tag::Link { dest_url, .. }) => out.links.push(LinkRef {
                line,
                dest: dest_url.to_string(),
                image: false,
            }),
            Event::Start(Tag::Image { dest_url, .. }) => out.links.push(LinkRef {
                line,
                dest: dest_url.to_string(),
                image: true,
            }),
            Event::Html(html) | Event::InlineHtml(html) => {
                for token in html_tokens(&html) {
                    let Token::StartTag(tag) = token else {
                        continue;
                    };
                    let line = lines.line(range.start + tag.span.start);
                    let image = tag.name == b"img";
                    let src = image.then(|| attr(&tag, "src")).flatten();
                    for (dest, image) in [(src, true), (attr(&tag, "href"), false)] {
                        if let Some(dest) = dest {
                            out.links.push(LinkRef { line, dest, image });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The tokens of an HTML text with their byte spans, read by html5gum (a WHATWG tokenizer):
/// character references decoded, `<script>` and `<style>` contents as raw text.
pub fn html_tokens(html: &str) -> impl Iterator<Item = Token<usize>> + '_ {
    let mut emitter = DefaultEmitter::new_with_span();
    emitter.naively_switch_states(true);
    Tokenizer::new_with_emitter(html, emitter).flatten()
}

/// The (decoded) value of attribute `name` of a start tag.
pub fn attr(tag: &StartTag<usize>, name: &str) -> Option<String> {
    let value = tag.attributes.get(name.as_bytes())?;
    Some(String::from_utf8_lossy(value).into_owned())
}

/// Decodes `%XX` escapes in a URL path.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// One entry of SUMMARY.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TocEntry {
    pub line: usize,
    pub kind: TocKind,
    /// List nesting depth (0 for prefix/suffix chapters, part titles and separators).
    pub depth: usize,
    /// Link target as written; `None` for drafts (`[Title]()`), part titles and separators.
    pub target: Option<String>,
    pub title: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TocKind {
    Chapter,
    PartTitle,
    Separator,
}

/// Parses SUMMARY.md into its entries in order (the leading `# Summary` title is skipped).
///
/// Not mdBook's own parser, `mdbook_summary::parse_summary` 0.5.4 (#17), though it would add only
/// 8 crates to the lockfile (mdbook-core, toml, tracing, …): its `Summary` keeps no source
/// positions, and every table-of-contents problem is reported as `SUMMARY.md:line`; and it stops
/// at the first item it rejects, where this check lists every difference between the two
/// languages. A SUMMARY.md mdBook rejects still fails: the book build runs mdBook 0.5.4 itself.
pub fn parse_summary(text: &str) -> Vec<TocEntry> {
    let lines = LineIndex::new(text);
    let mut entries: Vec<TocEntry> = Vec::new();
    let mut depth = 0usize;
    let mut seen_title = false;
    let mut current: Option<TocEntry> = None;
    let mut heading: Option<TocEntry> = None;
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        let line = lines.line(range.start);
        match event {
            Event::Start(Tag::List(_)) => depth += 1,
            Event::End(pulldown_cmark::TagEnd::List(_)) => depth = depth.saturating_sub(1),
            Event::Start(Tag::Heading { .. }) => {
                heading = Some(TocEntry {
                    line,
                    kind: TocKind::PartTitle,
                    depth: 0,
                    target: None,
                    title: String::new(),
                });
            }
            Event::End(pulldown_cmark::TagEnd::Heading(_)) => {
                if let Some(h) = heading.take() {
                    if !seen_title && entries.is_empty() {
                        seen_title = true;
                    } else {
                        entries.push(h);
                    }
                }
            }
            Event::Rule => entries.push(TocEntry {
                line,
                kind: TocKind::Separator,
                depth: 0,
                target: None,
                title: String::new(),
            }),
            Event::Start(Tag::Link { dest_url, .. }) if heading.is_none() => {
                let target = (!dest_url.is_empty()).then(|| dest_url.to_string());
                current = Some(TocEntry {
                    line,
                    kind: TocKind::Chapter,
                    depth,
                    target,
                    title: String::new(),
                });
            }
            Event::End(pulldown_cmark::TagEnd::Link) => {
                if let Some(e) = current.take() {
                    entries.push(e);
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(e) = current.as_mut().or(heading.as_mut()) {
                    e.title.push_str(&t);
                }
            }
            _ => {}
        }
    }
    entries
}

/// Aligns two sequences by a longest common subsequence: pairs of indices, `None` on the side
/// where an element has no counterpart.
pub fn align<T: PartialEq>(a: &[T], b: &[T]) -> Vec<(Option<usize>, Option<usize>)> {
    // Not similar::capture_diff_slices: its Compact hook may shift which equal elements pair up.
    let mut capture = similar::algorithms::Capture::new();
    let Ok(()) = similar::algorithms::lcs::diff(&mut capture, a, 0..a.len(), b, 0..b.len());
    let mut out = Vec::new();
    for (tag, old, new) in capture.ops().iter().map(similar::DiffOp::as_tag_tuple) {
        match tag {
            similar::DiffTag::Equal => out.extend(old.zip(new).map(|(i, j)| (Some(i), Some(j)))),
            _ => {
                out.extend(old.map(|i| (Some(i), None)));
                out.extend(new.map(|j| (None, Some(j))));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        let t = "a\n{{#include ../x.rs:anchor}}\n\\{{#include nope.rs}}\n{{ #rustdoc_include y.rs:2:5 }}\n{{#inclde z}}";
        let d = find_directives(t);
        assert_eq!(d.len(), 3);
        assert_eq!((d[0].line, d[0].path.as_str()), (2, "../x.rs"));
        assert_eq!(d[0].selector.as_deref(), Some("anchor"));
        assert_eq!(d[1].kind, DirectiveKind::RustdocInclude);
        assert_eq!(d[1].selector.as_deref(), Some("2:5"));
        assert_eq!(d[2].kind, DirectiveKind::Unknown);
    }

    #[test]
    fn math_scan_like_mdbook_katex() {
        let t = "中文$x^2$中文 `$not$` \\$ $$\n\\frac{a}{b}\n$$ end";
        let s = scan_math(t);
        assert_eq!(s.spans.len(), 2);
        assert!(!s.spans[0].display && s.spans[1].display);
        assert_eq!(&t[s.spans[0].start..s.spans[0].end], "$x^2$");
        assert!(s.unclosed_math.is_none());
        let s = scan_math("a $x$ and US$5 more");
        assert_eq!(s.spans.len(), 1);
        assert_eq!(s.unclosed_math, Some((12, false)));
        let s = scan_math("```rust\nlet a = \"$\";\n```\n$y$");
        assert_eq!(s.spans.len(), 1);
        let s = scan_math("stray ` then $x$");
        assert_eq!(s.unclosed_backticks, Some(6));
    }

    #[test]
    fn outline_and_summary() {
        let t =
            "# T\n\ntext $[a](b)$ [l](x.md#f) ![i](generated/a.svg)\n\n## S\n<img src=\"p.png\">\n\n\
             <p>\n<a title='x>y' href=\"a&amp;b.md#&#x41;\">a</a> <script src=\"s.js\"></script></p>\n";
        let scan = scan_math(t);
        let o = outline(&blank_math(t, &scan.spans));
        assert_eq!(o.headings, vec![(1, 1), (5, 2)]);
        let dests: Vec<_> = o.links.iter().map(|l| (l.dest.as_str(), l.image)).collect();
        assert_eq!(
            dests,
            vec![
                ("x.md#f", false),
                ("generated/a.svg", true),
                ("p.png", true),
                ("a&b.md#A", false)
            ]
        );
        // An HTML block's tag on its own line; character references decoded, `>` in a quoted
        // value not taken for the tag's end.
        assert_eq!(o.links.last().map(|l| l.line), Some(9));
        let s = "# Summary\n\n[Preface](preface.md)\n\n- [A](a.md)\n    - [B](b.md)\n- [Draft]()\n\n---\n\n# Part\n";
        let e = parse_summary(s);
        let got: Vec<_> = e
            .iter()
            .map(|e| (e.line, e.kind, e.depth, e.target.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, TocKind::Chapter, 0, Some("preface.md".into())),
                (5, TocKind::Chapter, 1, Some("a.md".into())),
                (6, TocKind::Chapter, 2, Some("b.md".into())),
                (7, TocKind::Chapter, 1, None),
                (9, TocKind::Separator, 0, None),
                (11, TocKind::PartTitle, 0, None),
            ]
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(percent_decode("a%20b%E4%B8%AD"), "a b中");
        assert_eq!(
            align(&[1, 2, 3], &[1, 3, 4]),
            vec![
                (Some(0), Some(0)),
                (Some(1), None),
                (Some(2), Some(1)),
                (None, Some(2))
            ]
        );
    }
}
