//! Search: a Pagefind index of each language's site, written into the site as `pagefind/`.
//!
//! mdBook 0.5's own search (elasticlunr) indexes no Chinese words at all, so `book.toml` turns it
//! off and the theme (`book/theme/search.js`) puts Pagefind's UI in its place. Pagefind's extended
//! build segments Chinese text into words while indexing, and its WASM search segments the query
//! the same way, so 重参数化 or 稀疏 find the pages that use them. After mdBook has written a
//! site, [`mark_pages`] marks what is to be indexed and [`index_site`] runs Pagefind over it:
//!
//! - `<main data-pagefind-body>` on every chapter page: only the page content is indexed, not the
//!   sidebar, menu bar or navigation; pages without the mark are left out of the index entirely
//!   (`index.html` duplicates the first chapter; `print.html` all of them; `toc.html`, `404.html`).
//! - `<h1 data-pagefind-meta="title">` on the content's first heading: the title results show
//!   (Pagefind would otherwise take the first `<h1>` of the page, the menu bar's book title).
//! - `<span class="katex" data-pagefind-ignore>` on every formula: KaTeX writes each formula
//!   three times (MathML, the TeX source as an annotation, and the HTML glyphs), which would fill
//!   the index with `mathcal`, `frac`, single letters and symbol clutter, and the excerpts with
//!   garbled math. Formulas are left out whole; the words around them stay.
//! - The language is forced to the site's (`--force-language zh`): every page of a site is in
//!   one language, and Chinese is segmented whatever a page's `lang` says.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::tools::Tools;

/// The attribute marking a page's indexed content.
pub const BODY_MARK: &str = "<main data-pagefind-body>";
/// The attribute marking the page's own title (its first `<h1>` in the content).
pub const TITLE_MARK: &str = "data-pagefind-meta=\"title\"";
/// A KaTeX formula's outer element as mdbook-katex writes it.
const KATEX_OPEN: &str = "<span class=\"katex\">";
/// The same, marked to be left out of the index.
pub const KATEX_MARKED: &str = "<span class=\"katex\" data-pagefind-ignore>";

/// Pages at the top of a site that are not indexed: `index.html` is a copy of the first chapter,
/// `print.html` all chapters in one, `toc.html` the sidebar, `404.html` the not-found page.
pub const NOT_INDEXED: &[&str] = &["index.html", "print.html", "toc.html", "404.html"];

/// Directories of a site that hold assets, not pages.
pub const ASSET_DIRS: &[&str] = &[
    "generated",
    "fonts",
    "css",
    "FontAwesome",
    "book",
    "pagefind",
];

/// What marking a site's pages did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marked {
    /// Pages whose `<main>` was marked as the indexed body.
    pub pages: usize,
    /// Formulas marked to be ignored.
    pub formulas: usize,
}

/// Marks the chapter pages of the site in `site` for Pagefind (see the module docs). Idempotent.
pub fn mark_pages(site: &Path) -> Result<Marked> {
    let mut marked = Marked::default();
    for file in content_pages(site) {
        let html =
            fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let (new, formulas) = mark_html(&html);
        if new.contains(BODY_MARK) {
            marked.pages += 1;
        }
        marked.formulas += formulas;
        if new != html {
            fs::write(&file, new).with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    Ok(marked)
}

/// `html` with its first `<main>` marked as the indexed body, the first `<h1>` in it as the
/// page's title in results, and every KaTeX formula marked to be ignored; also returns the
/// number of formulas.
pub fn mark_html(html: &str) -> (String, usize) {
    let mut out = if html.contains(BODY_MARK) {
        html.to_string()
    } else {
        html.replacen("<main>", BODY_MARK, 1)
    };
    // Without this Pagefind takes the first <h1> of the whole page: the menu bar's book title.
    if let Some(main) = out.find(BODY_MARK) {
        if let Some(h1) = out[main..].find("<h1").map(|p| p + main) {
            let tag_end = out[h1..].find('>').map_or(out.len(), |e| e + h1);
            if !out[h1..tag_end].contains(TITLE_MARK) {
                out.insert_str(h1 + "<h1".len(), &format!(" {TITLE_MARK}"));
            }
        }
    }
    let formulas = out.matches(KATEX_OPEN).count() + out.matches(KATEX_MARKED).count();
    out = out.replace(KATEX_OPEN, KATEX_MARKED);
    (out, formulas)
}

/// The `.html` files of a site, outside its asset directories, sorted.
pub fn site_pages(site: &Path) -> Vec<PathBuf> {
    super::files_with_ext(site, "html", |e| {
        e.file_type().is_dir() && ASSET_DIRS.iter().any(|n| e.file_name() == *n)
    })
}

/// The chapter pages of a site: [`site_pages`] but the [`NOT_INDEXED`] ones at its top.
pub(super) fn content_pages(site: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    site_pages(site).into_iter().filter(move |file| {
        let rel = file.strip_prefix(site).unwrap_or(file);
        rel.parent() != Some(Path::new("")) || !NOT_INDEXED.iter().any(|n| rel == Path::new(n))
    })
}

/// What Pagefind reported for one site.
#[derive(Clone, Debug, Default)]
pub struct Indexed {
    /// Pages in the index.
    pub pages: usize,
    /// Distinct words in the index.
    pub words: usize,
    /// Warnings and errors Pagefind printed.
    pub warnings: Vec<String>,
}

/// Runs Pagefind over the (marked) site in `site`, in language `lang`, writing `site/pagefind/`.
pub fn index_site(tools: &Tools, site: &Path, lang: &str) -> Result<Indexed> {
    let out = crate::output(
        Command::new(&tools.pagefind)
            .arg("--site")
            .arg(site)
            .arg("--force-language")
            .arg(lang)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null()),
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count = |what: &str| {
        stdout.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("Indexed ")?;
            let (n, unit) = rest.split_once(' ')?;
            (unit.trim() == what).then(|| n.parse::<usize>().ok())?
        })
    };
    Ok(Indexed {
        pages: count("pages").or(count("page")).unwrap_or(0),
        words: count("words").or(count("word")).unwrap_or(0),
        warnings: stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| format!("pagefind: {l}"))
            .collect(),
    })
}

/// Marks and indexes one language's site; returns a one-line summary and any warnings (Pagefind's
/// own, or an index that does not hold exactly the marked pages).
pub fn build_index(tools: &Tools, site: &Path, lang: &str) -> Result<(String, Vec<String>)> {
    let started = std::time::Instant::now();
    let marked = mark_pages(site)?;
    let indexed = index_site(tools, site, lang)?;
    let mut warnings = indexed.warnings;
    if indexed.pages != marked.pages {
        warnings.push(format!(
            "search: {} page(s) marked for the index, but Pagefind indexed {}",
            marked.pages, indexed.pages
        ));
    }
    let summary = format!(
        "search: indexed {} pages, {} words ({} formulas left out) in {:.1}s",
        indexed.pages,
        indexed.words,
        marked.formulas,
        started.elapsed().as_secs_f64()
    );
    Ok((summary, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_body_and_formulas_once() {
        let html = "<h1 class=\"menu-title\">Book</h1><main><h1 id=\"t\">T</h1><p>自编码器把<span class=\"katex\"><span class=\"katex-mathml\">\
                    x</span></span>压缩</p><span class=\"katex-display\"><span class=\"katex\">y\
                    </span></span></main>";
        let (once, n) = mark_html(html);
        assert_eq!(n, 2);
        assert!(
            once.starts_with(
                "<h1 class=\"menu-title\">Book</h1><main data-pagefind-body>\
                 <h1 data-pagefind-meta=\"title\" id=\"t\">T</h1><p>自编码器把"
            ),
            "{once}"
        );
        assert_eq!(once.matches(KATEX_MARKED).count(), 2);
        assert!(once.contains("<span class=\"katex-mathml\">"), "{once}");
        let (twice, n2) = mark_html(&once);
        assert_eq!((twice.as_str(), n2), (once.as_str(), 2));
    }
}
