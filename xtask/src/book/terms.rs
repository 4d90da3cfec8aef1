//! One term per concept in the Chinese edition: `book/zh-terms.txt` lists, per concept, the term
//! the glossary (`book/zh/glossary.md`) chose and the variants the pages must not use; every
//! Chinese page's prose (outside code, math and link targets) is scanned for the variants.
//!
//! The file has one concept a line, three fields separated by `|`:
//!
//! ```text
//! # comment
//! 小批量 | 批次 |
//! Dropout | 随机失活 | Dropout（随机失活）
//! ```
//!
//! the chosen term, the rejected variants (separated by `,`), and strings that contain a variant
//! but are allowed (the gloss at a term's first use, a different word that happens to contain it).

use std::fs;

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use super::markdown::{blank_math, options, scan_math, LineIndex};
use super::{Layout, Problem};

/// The terms file, relative to the book directory (beside `zh/`, so mdBook never sees it).
pub const TERMS_FILE: &str = "zh-terms.txt";

/// One concept: the chosen term, its rejected variants, and allowed strings containing one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub line: usize,
    pub chosen: String,
    pub rejected: Vec<String>,
    pub allowed: Vec<String>,
}

/// Parses the terms file; malformed lines are problems.
pub fn parse_terms(text: &str, display: &str, problems: &mut Vec<Problem>) -> Vec<Term> {
    let mut terms = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.split('|').map(str::trim).collect();
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
                .collect()
        };
        if fields.len() != 3 || fields[0].is_empty() || list(fields[1]).is_empty() {
            problems.push(Problem::new(
                display,
                line,
                "expected `term | variant, variant | allowed, allowed` (the third field may be \
                 empty)",
            ));
            continue;
        }
        let term = Term {
            line,
            chosen: fields[0].to_string(),
            rejected: list(fields[1]),
            allowed: list(fields[2]),
        };
        for a in &term.allowed {
            if !term.rejected.iter().any(|v| a.contains(v.as_str())) {
                problems.push(Problem::new(
                    display,
                    line,
                    format!("allowed string `{a}` contains none of the rejected variants"),
                ));
            }
        }
        terms.push(term);
    }
    terms
}

/// `text` with everything but prose blanked (math, code spans and blocks, HTML, link targets),
/// byte offsets and newlines kept.
pub fn prose_only(text: &str) -> String {
    let blanked = blank_math(text, &scan_math(text).spans);
    let mut keep = vec![false; blanked.len()];
    let mut in_code_block = false;
    for (event, range) in Parser::new_ext(&blanked, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Text(_) if !in_code_block => {
                for k in &mut keep[range] {
                    *k = true;
                }
            }
            _ => {}
        }
    }
    let mut bytes = blanked.into_bytes();
    for (b, k) in bytes.iter_mut().zip(&keep) {
        // Event ranges fall on character boundaries, so whole characters are blanked.
        if !*k && *b != b'\n' {
            *b = b' ';
        }
    }
    String::from_utf8(bytes).expect("whole characters were blanked")
}

/// Problems for every rejected variant in `text` (a Chinese page shown as `display`).
pub fn check_page_terms(text: &str, display: &str, terms: &[Term]) -> Vec<Problem> {
    let prose = prose_only(text);
    let lines = LineIndex::new(text);
    let mut problems = Vec::new();
    for term in terms {
        // Allowed strings are blanked first (same length, so offsets stay put).
        let mut scanned = prose.clone();
        for a in &term.allowed {
            scanned = scanned.replace(a.as_str(), &" ".repeat(a.len()));
        }
        for variant in &term.rejected {
            for (offset, _) in scanned.match_indices(variant.as_str()) {
                problems.push(Problem::new(
                    display,
                    lines.line(offset),
                    format!(
                        "`{variant}`: the glossary's term for this concept is `{}` \
                         (book/{TERMS_FILE}:{})",
                        term.chosen, term.line
                    ),
                ));
            }
        }
    }
    problems
}

/// The terminology check on a layout's Chinese pages (skipped when the book has no terms file).
/// Every chosen term must also appear in the Chinese glossary when there is one.
pub fn check_terms(layout: &Layout) -> Vec<Problem> {
    let mut problems = Vec::new();
    let path = layout.book_dir.join(TERMS_FILE);
    let Ok(text) = fs::read_to_string(&path) else {
        return problems;
    };
    let display = layout.display(&path);
    let terms = parse_terms(&text, &display, &mut problems);

    let src = layout.src_dir("zh");
    let glossary = src.join("glossary.md");
    if let Ok(g) = fs::read_to_string(&glossary) {
        for term in &terms {
            if !g.contains(term.chosen.as_str()) {
                problems.push(Problem::new(
                    &display,
                    term.line,
                    format!(
                        "`{}` is not in {}: the glossary must say the chosen term",
                        term.chosen,
                        layout.display(&glossary)
                    ),
                ));
            }
        }
    }
    // The pages at the top of zh/ (subdirectories are not scanned).
    let files = super::files_with_ext(&src, "md", |e| e.file_type().is_dir());
    for file in files {
        if let Ok(page) = fs::read_to_string(&file) {
            problems.extend(check_page_terms(&page, &layout.display(&file), &terms));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<Term> {
        let mut problems = Vec::new();
        let t = parse_terms(text, "t", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        t
    }

    #[test]
    fn variants_in_prose_are_found_but_not_in_code_math_or_allowed_strings() {
        let t = terms("小批量 | 批次 |\nDropout | 随机失活 | Dropout（随机失活）\n");
        let page = "# 标题\n\n在一个批次上。\n\n`批次` 与 $\\text{批次}$\n\n```\n批次\n```\n\nDropout（随机失活）很常用，随机失活也是。\n";
        let p = check_page_terms(page, "p.md", &t);
        let got: Vec<_> = p.iter().map(|p| (p.line, p.message.clone())).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, 3);
        assert!(got[0]
            .1
            .starts_with("`批次`: the glossary's term for this concept is `小批量`"));
        assert_eq!(got[1].0, 11);
        assert!(got[1].1.contains("`Dropout`"));
    }

    #[test]
    fn malformed_lines_are_reported() {
        let mut problems = Vec::new();
        parse_terms("小批量 批次\n激活 | 放电 | 发射\n", "t", &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
