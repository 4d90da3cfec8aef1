//! Search on the built book, as a reader uses it (the issue: mdBook's own search found no Chinese
//! word at all). The real book is built once, with the search index, into Cargo's temporary
//! directory for tests (`target/tmp/search-book/`), and:
//!
//! - its pages are marked for Pagefind as `xtask/src/book/search.rs` says (content only, the
//!   chapter title, formulas left out), and mdBook's own search is gone;
//! - the index holds no KaTeX: the typeset text of no formula appears in any indexed page's text;
//! - served on loopback by a tiny file server of the test's own, headless Chromium opens
//!   `<lang>/index.html?search=…` and the result list shows: 重参数化 → the VAE chapter first;
//!   稀疏 → the sparse chapter; 去噪 → the denoising chapter; ELBO on both sites;
//! - opened from disk (file://) the search bar says to serve the site instead.
//!
//! Screenshots of the result pages go to `target/tmp/search-screenshots/`. The browser tests
//! need Chromium (Debian's `chromium`; `.ci/run` installs it) and fail, saying how to install it,
//! where there is none.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use book_tests::browser::{Browser, StaticServer};
use book_tests::built_site;
use serde_json::Value;
use xtask::book::search::{BODY_MARK, KATEX_MARKED, NOT_INDEXED, TITLE_MARK};
use xtask::book::LANGS;

/// The real book built once for this test binary (both languages, with their search indexes).
fn site() -> &'static Path {
    static SITE: OnceLock<PathBuf> = OnceLock::new();
    SITE.get_or_init(|| built_site(Path::new(env!("CARGO_TARGET_TMPDIR")), "search-book"))
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("search-screenshots")
}

/// Chapter pages of a site (what should be in the index).
fn chapter_pages(site: &Path) -> Vec<PathBuf> {
    xtask::book::search::site_pages(site)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !NOT_INDEXED.contains(&name.as_ref())
        })
        .collect()
}

#[test]
fn pages_are_marked_for_the_index_and_mdbook_search_is_gone() {
    for lang in LANGS {
        let site = site().join(lang.code);
        let pages = chapter_pages(&site);
        assert!(pages.len() >= 5, "{}: only {pages:?}", lang.code);
        let mut formulas = 0;
        for page in &pages {
            let html = fs::read_to_string(page).unwrap();
            let name = page.display();
            assert_eq!(
                html.matches(BODY_MARK).count(),
                1,
                "{name}: content not marked"
            );
            assert!(
                !html.contains("<main>"),
                "{name}: an unmarked <main> is left"
            );
            let main = &html[html.find(BODY_MARK).unwrap()..];
            assert!(
                main.find("<h1")
                    .is_some_and(|h| main[h..].starts_with(&format!("<h1 {TITLE_MARK}"))),
                "{name}: the first heading is not marked as the title"
            );
            assert_eq!(
                html.matches("<span class=\"katex\">").count(),
                0,
                "{name}: a formula is not marked to be left out of the index"
            );
            formulas += html.matches(KATEX_MARKED).count();
        }
        assert!(formulas > 50, "{}: only {formulas} formulas", lang.code);
        for name in NOT_INDEXED {
            let html = fs::read_to_string(site.join(name)).unwrap();
            assert!(
                !html.contains("data-pagefind-body"),
                "{}/{name} must stay out of the index",
                lang.code
            );
        }
        let index = fs::read_to_string(site.join("index.html")).unwrap();
        assert!(
            index.contains("search-"),
            "{}: search.js not loaded",
            lang.code
        );
        assert!(
            !index.contains("elasticlunr") && !index.contains("searchindex"),
            "{}: mdBook's own search is still on",
            lang.code
        );
        let entry: Value = serde_json::from_str(
            &fs::read_to_string(site.join("pagefind/pagefind-entry.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(entry["version"], "1.6.0");
        let languages: Vec<&String> = entry["languages"].as_object().unwrap().keys().collect();
        assert_eq!(languages, [lang.code], "{}: index languages", lang.code);
        assert_eq!(
            entry["languages"][lang.code]["page_count"].as_u64(),
            Some(pages.len() as u64),
            "{}: the index should hold exactly the chapter pages",
            lang.code
        );
    }
}

/// Every indexed page as Pagefind stores it: `pagefind/fragment/*.pf_fragment` is gzip of
/// `pagefind_dcd` followed by the page's JSON (url, content, meta, …).
fn fragments(site: &Path) -> Vec<Value> {
    let dir = site.join("pagefind").join("fragment");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        let data = book_tests::browser::read_all(flate2::read::GzDecoder::new(bytes.as_slice()));
        let json = data
            .strip_prefix(b"pagefind_dcd")
            .expect("a Pagefind fragment");
        out.push(serde_json::from_slice(json).unwrap());
    }
    out
}

/// Text of an HTML fragment: tags dropped, the usual entities decoded, whitespace removed.
fn squeezed_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag && !c.is_whitespace() => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of every formula on a page as KaTeX typesets it (`katex-html`: letters, digits and
/// symbols in nested spans), squeezed: what Pagefind would index if formulas were not left out.
/// Also returns the page's text outside the formulas, squeezed the same way.
fn formula_texts(html: &str) -> (Vec<String>, String) {
    let mut formulas = Vec::new();
    let mut outside = String::new();
    let mut last = 0;
    // Marked or not: `<span class="katex">` or `<span class="katex" data-pagefind-ignore>`.
    for (start, open) in html.match_indices("<span class=\"katex\"") {
        let after = &html[start + open.len()..];
        if start < last || !(after.starts_with('>') || after.starts_with(' ')) {
            continue;
        }
        let inner = start + open.len() + after.find('>').unwrap() + 1;
        let mut depth = 1;
        let mut i = inner;
        while depth > 0 {
            let open = html[i..].find("<span").map(|p| p + i);
            let close = html[i..].find("</span>").map(|p| p + i);
            match (open, close) {
                (Some(o), Some(c)) if o < c => {
                    depth += 1;
                    i = o + 1;
                }
                (_, Some(c)) => {
                    depth -= 1;
                    i = c + "</span>".len();
                }
                _ => break,
            }
        }
        outside.push_str(&squeezed_text(&html[last..start]));
        formulas.push(squeezed_text(&html[inner..i]));
        last = i;
    }
    outside.push_str(&squeezed_text(&html[last..]));
    (formulas, outside)
}

#[test]
fn the_index_holds_no_math() {
    for lang in LANGS {
        let site = site().join(lang.code);
        let fragments = fragments(&site);
        assert_eq!(fragments.len(), chapter_pages(&site).len(), "{}", lang.code);
        let mut checked = 0;
        for fragment in &fragments {
            let url = fragment["url"].as_str().unwrap();
            // Pagefind separates the words it segmented with zero-width spaces.
            let content = fragment["content"]
                .as_str()
                .unwrap()
                .replace('\u{200b}', "");
            let title = fragment["meta"]["title"].as_str().unwrap_or("");
            assert!(
                !title.is_empty() && title != lang.title,
                "{}{url}: result title {title:?} is not the chapter's",
                lang.code
            );
            let html = fs::read_to_string(site.join(url.trim_start_matches('/'))).unwrap();
            let squeezed: String = content.chars().filter(|c| !c.is_whitespace()).collect();
            // Formulas whose text occurs nowhere else on the page (not in prose, not in code).
            let (formulas, outside) = formula_texts(&html);
            for text in formulas {
                if text.chars().count() >= 4 && !outside.contains(&text) {
                    checked += 1;
                    assert!(
                        !squeezed.contains(&text),
                        "{}{url}: the index holds the formula `{text}`",
                        lang.code
                    );
                }
            }
            for clutter in ["katex", "mathnormal", "\\frac"] {
                assert!(
                    !content.contains(clutter),
                    "{}{url}: the index holds `{clutter}`",
                    lang.code
                );
            }
        }
        assert!(
            checked > 50,
            "{}: only {checked} formulas checked",
            lang.code
        );
    }
}

/// What the search bar shows after a search.
#[derive(Debug)]
struct Shown {
    /// `done` (results or none), `error`, or what it was when waiting ran out.
    state: String,
    header: String,
    /// `(href, link text)` of each result, in order.
    results: Vec<(String, String)>,
    /// Where the language switch leads.
    switch: String,
}

impl Shown {
    /// The page (file name) of each result.
    fn pages(&self) -> Vec<&str> {
        self.results
            .iter()
            .map(|(href, _)| {
                let path = href.split('#').next().unwrap();
                path.rsplit('/').next().unwrap()
            })
            .collect()
    }
}

/// Waits (up to 30 s) until the search bar has answered, then reads it.
const READ_RESULTS: &str = r##"new Promise((resolve) => {
    const started = Date.now();
    (function poll() {
        const outer = document.getElementById("mdbook-searchresults-outer");
        const state = outer ? outer.getAttribute("data-search-state") : "no search bar";
        if (state === "done" || state === "error" || Date.now() - started > 30000) {
            const header = document.getElementById("mdbook-searchresults-header");
            const links = document.querySelectorAll("#mdbook-searchresults li > a");
            const other = document.querySelector(".ae-lang-switch");
            resolve(JSON.stringify({
                state: String(state),
                header: header ? header.textContent : "",
                results: Array.from(links).map((a) => [a.getAttribute("href"), a.textContent]),
                switch: other ? decodeURIComponent(other.href) : "",
            }));
        } else {
            setTimeout(poll, 50);
        }
    })();
})"##;

fn read_results(browser: &mut Browser) -> Shown {
    let value = browser.eval(READ_RESULTS);
    let v: Value = serde_json::from_str(value.as_str().expect("a JSON string")).unwrap();
    Shown {
        state: v["state"].as_str().unwrap().to_string(),
        header: v["header"].as_str().unwrap().to_string(),
        results: v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_string(),
                    r[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        switch: v["switch"].as_str().unwrap().to_string(),
    }
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Opens `<lang>/index.html?search=<query>` and reads what the search bar shows.
fn search(browser: &mut Browser, server: &StaticServer, lang: &str, query: &str) -> Shown {
    browser.navigate(&server.url(&format!("{lang}/index.html?search={}", encode(query))));
    let shown = read_results(browser);
    assert_eq!(
        shown.state, "done",
        "{lang}: searching {query} did not finish: {shown:?}"
    );
    for (href, _) in &shown.results {
        assert!(
            href.starts_with(&format!("/{lang}/")),
            "{lang}: result {href} leaves the {lang} site"
        );
    }
    shown
}

#[test]
fn chinese_queries_find_their_chapters() {
    let server = StaticServer::start(site());
    let mut browser = Browser::launch(1200, 900);

    let shown = search(&mut browser, &server, "zh", "重参数化");
    assert_eq!(
        shown.pages().first().copied(),
        Some("ch05-vae.html"),
        "重参数化 should list the VAE chapter first: {shown:#?}"
    );
    assert!(
        shown.results[0].1.starts_with("变分自编码器"),
        "the VAE result should carry the chapter title: {shown:#?}"
    );
    assert!(shown.header.contains("重参数化"), "{shown:#?}");
    // The language switch keeps the search.
    assert!(
        shown.switch.contains("/en/index.html?search=重参数化"),
        "{shown:#?}"
    );
    browser.screenshot(&screenshot_dir().join("zh-reparameterization.png"));

    for (query, chapter) in [
        ("稀疏", "ch02-sparse.html"),
        ("去噪", "ch03-denoising.html"),
    ] {
        let shown = search(&mut browser, &server, "zh", query);
        let pages = shown.pages();
        assert!(
            pages.iter().take(3).any(|p| *p == chapter),
            "{query} should list {chapter} among the first results: {shown:#?}"
        );
    }
}

#[test]
fn an_english_query_works_on_both_sites() {
    let server = StaticServer::start(site());
    let mut browser = Browser::launch(1200, 900);
    for lang in ["en", "zh"] {
        let shown = search(&mut browser, &server, lang, "ELBO");
        assert!(
            shown.pages().contains(&"ch05-vae.html"),
            "{lang}: ELBO should find the VAE chapter: {shown:#?}"
        );
        if lang == "en" {
            assert!(shown.header.contains("search result"), "{shown:#?}");
            browser.screenshot(&screenshot_dir().join("en-elbo.png"));
        }
    }
    // A word that is nowhere (Pagefind also matches words an English query begins with, so
    // one made up of Latin letters may still find something): the bar says so.
    let shown = search(&mut browser, &server, "zh", "鲸鱼");
    assert!(shown.results.is_empty(), "{shown:#?}");
    assert!(shown.header.contains("没有找到"), "{shown:#?}");
}

#[test]
fn opened_from_disk_the_search_bar_says_to_serve_the_site() {
    let mut browser = Browser::launch(1000, 700);
    let page = site().join("zh").join("index.html");
    browser.navigate(&format!(
        "file://{}?search={}",
        page.display(),
        encode("稀疏")
    ));
    let shown = read_results(&mut browser);
    assert_eq!(shown.state, "error", "{shown:#?}");
    assert!(shown.header.contains("HTTP"), "{shown:#?}");
}
