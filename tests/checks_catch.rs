//! Each check catches the defect it is for: a tiny fixture book (`tests/fixtures/good`) passes
//! every check, and copies of it broken on purpose (one defect each, in a temporary directory)
//! fail with the expected `file:line: message`.

use std::fs;
use std::path::Path;

use book_tests::{copy_fixture, edit, fixture, repo_root, show, tools};
use xtask::book::search::{BODY_MARK, KATEX_MARKED, TITLE_MARK};
use xtask::book::{build_layout, check_all, check_html, check_sources, Layout, Problem};

/// Source problems of a fixture book rooted at `dir`.
fn source_problems(dir: &Path) -> Vec<Problem> {
    let layout = Layout::for_fixture(&repo_root(), dir, &dir.join("out")).unwrap();
    check_sources(&layout)
}

/// Asserts there is exactly one problem, at `file:line`, whose message contains every `parts`.
fn assert_one(problems: &[Problem], file: &str, line: usize, parts: &[&str]) {
    assert_eq!(
        problems.len(),
        1,
        "expected one problem, got:\n{}",
        show(problems)
    );
    let p = &problems[0];
    assert_eq!((p.file.as_str(), p.line), (file, line), "{p}");
    for part in parts {
        assert!(p.message.contains(part), "{p}\nshould mention {part:?}");
    }
}

#[test]
fn the_good_fixture_has_no_source_problems() {
    let problems = source_problems(&fixture("good"));
    assert!(problems.is_empty(), "{}", show(&problems));
}

#[test]
fn the_good_fixture_builds_clean_and_offline() {
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::for_fixture(&repo_root(), &fixture("good"), out.path()).unwrap();
    let problems = check_all(&layout, tools()).unwrap();
    assert!(problems.is_empty(), "{}", show(&problems));

    let en = fs::read_to_string(out.path().join("en/chapter.html")).unwrap();
    let zh = fs::read_to_string(out.path().join("zh/chapter.html")).unwrap();
    for (lang, html) in [("en", &en), ("zh", &zh)] {
        // Math rendered at build time: two display equations, inline math, no raw TeX left.
        assert_eq!(html.matches("class=\"katex-display\"").count(), 2, "{lang}");
        assert!(html.matches("class=\"katex\"").count() >= 5, "{lang}");
        assert!(!html.contains("\\frac"), "{lang}: raw TeX left in the page");
        // Included code, generated table and figure.
        assert!(html.contains("pub fn square"), "{lang}");
        assert!(
            !html.contains("pub fn cube"),
            "{lang}: anchor not respected"
        );
        assert!(
            html.contains("0.052"),
            "{lang}: generated table not included"
        );
        assert!(html.contains("src=\"generated/demo/plot.svg\""), "{lang}");
        // Offline: vendored KaTeX stylesheet and fonts, no CDN; the language switch script.
        assert!(!html.contains("cdn.jsdelivr.net"), "{lang}");
        assert!(html.contains("book/theme/katex/katex"), "{lang}");
        assert!(html.contains("lang-switch"), "{lang}");
    }
    // Chinese text right next to `$`: the formula is rendered, the text kept.
    assert!(
        zh.contains("自编码器把<span class=\"katex\" data-pagefind-ignore>"),
        "{zh}"
    );
    // Marked for the search index: the content only, the chapter's title, no formula; both
    // chapter pages indexed (index.html and print.html are copies, left out).
    for (lang, html) in [("en", &en), ("zh", &zh)] {
        assert_eq!(html.matches(BODY_MARK).count(), 1, "{lang}");
        assert!(html.contains(&format!("<h1 {TITLE_MARK}")), "{lang}");
        assert!(!html.contains("<span class=\"katex\">"), "{lang}");
        assert_eq!(
            html.matches(KATEX_MARKED).count(),
            html.matches("class=\"katex\"").count(),
            "{lang}"
        );
        let print = fs::read_to_string(out.path().join(lang).join("print.html")).unwrap();
        assert!(!print.contains("data-pagefind-body"), "{lang}");
        let entry =
            fs::read_to_string(out.path().join(lang).join("pagefind/pagefind-entry.json")).unwrap();
        assert!(
            entry.contains(&format!("\"{lang}\":{{")) && entry.contains("\"page_count\":2"),
            "{lang}: {entry}"
        );
    }
    let site = out.path().join("en");
    assert!(site.join("generated/demo/plot.svg").is_file());
    let fonts: Vec<_> = fs::read_dir(site.join("fonts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("KaTeX_Main-Regular"))
        .collect();
    assert_eq!(fonts.len(), 1, "KaTeX fonts not copied: {fonts:?}");
    let css_dir = site.join("book/theme/katex");
    let css = fs::read_dir(&css_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let css = fs::read_to_string(css).unwrap();
    assert!(
        css.contains(&format!("url(../../../fonts/{})", fonts[0])),
        "font URL not rewritten"
    );
    assert!(
        !css.contains("{{ resource"),
        "resource directive left in the CSS"
    );
}

#[test]
fn a_missing_include_file_is_caught() {
    let dir = copy_fixture("good");
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "code/demo.rs:square",
        "code/dmeo.rs:square",
    );
    let problems = source_problems(dir.path());
    // Reported where it is, and as an include differing from the English twin.
    let at_line: Vec<_> = problems
        .iter()
        .filter(|p| p.message.contains("does not exist"))
        .cloned()
        .collect();
    assert_one(
        &at_line,
        "book/zh/chapter.md",
        12,
        &["file `../../code/dmeo.rs` does not exist"],
    );
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("not in the English twin")),
        "{}",
        show(&problems)
    );
}

#[test]
fn a_missing_anchor_is_caught() {
    let dir = copy_fixture("good");
    edit(
        dir.path(),
        "code/demo.rs",
        "// ANCHOR: square",
        "// ANCHOR: sqr",
    );
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    for (p, file) in problems
        .iter()
        .zip(["book/en/chapter.md", "book/zh/chapter.md"])
    {
        assert_eq!((p.file.as_str(), p.line), (file, 12), "{p}");
        assert!(
            p.message
                .contains("anchor `square` not found (anchors there: cube, sqr)"),
            "{p}"
        );
    }
}

#[test]
fn an_unterminated_anchor_and_a_bad_line_range_are_caught() {
    let dir = copy_fixture("good");
    edit(dir.path(), "code/demo.rs", "// ANCHOR_END: square\n", "");
    edit(
        dir.path(),
        "book/en/chapter.md",
        "{{#include ../../code/demo.rs:square}}",
        "{{#include ../../code/demo.rs:square}}\n{{#include ../../code/demo.rs:3:99}}",
    );
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "{{#include ../../code/demo.rs:square}}",
        "{{#include ../../code/demo.rs:square}}\n{{#include ../../code/demo.rs:3:99}}",
    );
    let problems = source_problems(dir.path());
    let msgs: Vec<_> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 4, "{}", show(&problems));
    for file in ["book/en/chapter.md", "book/zh/chapter.md"] {
        assert!(msgs.contains(&format!("{file}:12: {{{{#include ../../code/demo.rs:square}}}}: anchor `square` has `ANCHOR: square` but no `ANCHOR_END: square` after it in `../../code/demo.rs`")), "{}", show(&problems));
        assert!(msgs.contains(&format!("{file}:13: {{{{#include ../../code/demo.rs:3:99}}}}: end line 99 is past the end of the file (11 lines) in `../../code/demo.rs`")), "{}", show(&problems));
    }
}

#[test]
fn a_missing_figure_is_caught() {
    let dir = copy_fixture("good");
    fs::remove_file(dir.path().join("book/generated/demo/plot.svg")).unwrap();
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    for (p, file) in problems
        .iter()
        .zip(["book/en/chapter.md", "book/zh/chapter.md"])
    {
        assert_eq!((p.file.as_str(), p.line), (file, 15), "{p}");
        assert!(
            p.message.contains(
                "image `generated/demo/plot.svg`: book/generated/demo/plot.svg does not exist"
            ),
            "{p}"
        );
    }
}

#[test]
fn a_broken_link_is_caught() {
    let dir = copy_fixture("good");
    edit(
        dir.path(),
        "book/zh/preface.md",
        "[这一章](chapter.md)",
        "[这一章](chapter-one.md)",
    );
    let problems = source_problems(dir.path());
    assert_one(
        &problems,
        "book/zh/preface.md",
        3,
        &["link `chapter-one.md`: page book/zh/chapter-one.md does not exist"],
    );
}

#[test]
fn a_link_to_a_page_outside_summary_and_an_absolute_link_are_caught() {
    let dir = copy_fixture("good");
    fs::write(dir.path().join("book/en/draft.md"), "# Draft\n").unwrap();
    fs::write(dir.path().join("book/zh/draft.md"), "# 草稿\n").unwrap();
    edit(
        dir.path(),
        "book/en/preface.md",
        "[the chapter](chapter.md)",
        "[the chapter](draft.md) [abs](/en/chapter.html)",
    );
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    assert!(
        problems[0].message.contains("is absolute"),
        "{}",
        show(&problems)
    );
    assert!(
        problems[1]
            .message
            .contains("book/en/draft.md is not listed in en's SUMMARY.md"),
        "{}",
        show(&problems)
    );
}

#[test]
fn a_broken_fragment_is_caught_in_the_html() {
    let dir = copy_fixture("good");
    edit(
        dir.path(),
        "book/en/chapter.md",
        "(preface.md#preface)",
        "(preface.md#prefase)",
    );
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::for_fixture(&repo_root(), dir.path(), out.path()).unwrap();
    let report = build_layout(&layout, tools()).unwrap();
    assert!(
        report.failures.is_empty() && report.warnings.is_empty(),
        "{report:?}"
    );
    let problems = check_html(&layout);
    assert_one(
        &problems,
        "book/en/chapter.md",
        21,
        &["link `preface.html#prefase`: no element with id `prefase`"],
    );
}

#[test]
fn katex_errors_are_caught_in_the_built_html() {
    let dir = copy_fixture("good");
    // A parse error in a display equation, an unknown command inline, and an unclosed `$$`.
    edit(
        dir.path(),
        "book/en/chapter.md",
        "\\mathbf{z} = f_\\theta(\\mathbf{x})",
        "\\frac{1}{",
    );
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "以及代码中的$x^2$",
        "以及代码中的$\\foo{x}$",
    );
    edit(
        dir.path(),
        "book/zh/preface.md",
        "一本关于",
        "价格 $$5，一本关于",
    );
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::for_fixture(&repo_root(), dir.path(), out.path()).unwrap();
    let report = build_layout(&layout, tools()).unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    let problems = check_html(&layout);
    let msgs: Vec<_> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 3, "{}", show(&problems));
    assert!(msgs[0].starts_with("book/en/chapter.md:24: KaTeX error in `\\frac{1}{`: ParseError: KaTeX parse error: Unexpected end of input"), "{}", show(&problems));
    assert!(
        msgs[1].starts_with("book/zh/chapter.md:21: KaTeX could not typeset `\\foo`"),
        "{}",
        show(&problems)
    );
    assert!(
        msgs[2].starts_with("book/zh/preface.md:3: unrendered math `$$5"),
        "{}",
        show(&problems)
    );
    // The source checks see the unclosed `$$` too.
    let problems = check_sources(&layout);
    assert_one(
        &problems,
        "book/zh/preface.md",
        3,
        &["`$$` is never closed"],
    );
}

#[test]
fn a_table_of_contents_mismatch_is_caught() {
    let dir = copy_fixture("good");
    fs::write(dir.path().join("book/en/extra.md"), "# Extra\n").unwrap();
    fs::write(dir.path().join("book/zh/extra.md"), "# 附加\n").unwrap();
    edit(
        dir.path(),
        "book/en/SUMMARY.md",
        "- [A chapter](chapter.md)\n",
        "- [A chapter](chapter.md)\n    - [Extra](extra.md)\n",
    );
    edit(
        dir.path(),
        "book/zh/SUMMARY.md",
        "- [一章](chapter.md)\n",
        "- [一章](chapter.md)\n- [附加](extra.md)\n",
    );
    let problems = source_problems(dir.path());
    assert_one(
        &problems,
        "book/zh/SUMMARY.md",
        6,
        &["`[附加](extra.md)` is nested at depth 1 but at depth 2 in book/en/SUMMARY.md:6"],
    );

    let dir = copy_fixture("good");
    edit(dir.path(), "book/zh/SUMMARY.md", "[前言](preface.md)\n", "");
    let problems = source_problems(dir.path());
    let msgs: Vec<_> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "book/zh/SUMMARY.md:4: table of contents: `[Preface](preface.md)` at depth 0 \
             (book/en/SUMMARY.md:3) has no counterpart here",
            "book/zh/chapter.md:21: link `preface.md`: book/zh/preface.md is not listed in zh's \
             SUMMARY.md, so mdBook does not render it",
        ]
    );
}

#[test]
fn a_page_without_twin_is_caught() {
    let dir = copy_fixture("good");
    fs::write(dir.path().join("book/en/orphan.md"), "# Orphan\n").unwrap();
    let problems = source_problems(dir.path());
    assert_one(
        &problems,
        "book/en/orphan.md",
        1,
        &["no twin: book/zh/orphan.md does not exist"],
    );
}

#[test]
fn twins_with_different_structure_are_caught() {
    let dir = copy_fixture("good");
    // A heading one level too deep, a second figure, one display equation fewer.
    edit(dir.path(), "book/zh/chapter.md", "### 细节", "#### 细节");
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "![训练损失](generated/demo/plot.svg)",
        "![训练损失](generated/demo/plot.svg)\n![又一张](generated/demo/plot.svg)",
    );
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "$$\n\\mathbf{z} = f_\\theta(\\mathbf{x})\n$$\n",
        "",
    );
    let problems = source_problems(dir.path());
    let msgs: Vec<_> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 3, "{}", show(&problems));
    assert!(
        msgs.iter().any(|m| m.starts_with(
            "book/zh/chapter.md:16: figure `generated/demo/plot.svg` is not in the English twin"
        )),
        "{}",
        show(&problems)
    );
    assert!(msgs.iter().any(|m| m.starts_with("book/zh/chapter.md:20: headings differ from the English twin from heading #3 on: #### at book/zh/chapter.md:20 vs ### at book/en/chapter.md:19")), "{}", show(&problems));
    assert!(msgs.iter().any(|m| m.starts_with("book/zh/chapter.md:7: 1 display equations ($$…$$) but the English twin book/en/chapter.md has 2")), "{}", show(&problems));
}

#[test]
fn a_rejected_term_in_chinese_prose_is_caught() {
    let dir = copy_fixture("good");
    // In prose: caught. In inline code, in math and as the allowed first-use gloss: left alone.
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "自编码器把",
        "自动编码器（autoencoder）即自编码机，`自动编码器` $\\text{自编码机}$ 把",
    );
    let problems = source_problems(dir.path());
    assert_one(
        &problems,
        "book/zh/chapter.md",
        3,
        &["`自编码机`: the glossary's term for this concept is `自编码器` (book/zh-terms.txt:2)"],
    );
}

#[test]
fn a_graded_answer_on_a_chapter_page_is_caught() {
    // The good fixture's chapter shows the stub of its graded exercise `softplus`
    // (chapters/demo/src/lib.rs), derived at build time: signature and doc, `todo!()` for a body.
    let dir = copy_fixture("good");
    let build = |dir: &Path| {
        let out = tempfile::tempdir().unwrap();
        let layout = Layout::for_fixture(&repo_root(), dir, out.path()).unwrap();
        let report = build_layout(&layout, tools()).unwrap();
        assert!(
            report.failures.is_empty() && report.warnings.is_empty(),
            "{report:?}"
        );
        (out, layout)
    };
    let (out, layout) = build(dir.path());
    assert!(
        check_html(&layout).is_empty(),
        "{}",
        show(&check_html(&layout))
    );
    for lang in ["en", "zh"] {
        let html = fs::read_to_string(out.path().join(lang).join("chapter.html")).unwrap();
        assert!(html.contains("pub fn softplus(x: f64) -&gt; f64"), "{lang}");
        assert!(html.contains("todo!()"), "{lang}");
        assert!(!html.contains("ln_1p"), "{lang}: the answer is on the page");
    }

    // The answer shown (English: included by its anchor) and hidden (Chinese: the whole file
    // pulled in by `rustdoc_include`, everything but one other item as hidden `boring` lines).
    let stub = "{{#include ../../target/book-stubs/demo/softplus.rs}}";
    edit(
        dir.path(),
        "book/en/chapter.md",
        stub,
        "{{#include ../../chapters/demo/src/lib.rs:softplus}}",
    );
    edit(
        dir.path(),
        "book/zh/chapter.md",
        stub,
        "{{#rustdoc_include ../../chapters/demo/src/lib.rs:relu}}",
    );
    let (out, layout) = build(dir.path());
    let zh = fs::read_to_string(out.path().join("zh/chapter.html")).unwrap();
    assert!(zh.contains("class=\"boring\""), "no hidden lines: {zh}");
    let problems = check_html(&layout);
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    for (p, file) in problems
        .iter()
        .zip(["book/en/chapter.md", "book/zh/chapter.md"])
    {
        assert_eq!((p.file.as_str(), p.line), (file, 32), "{p}");
        assert!(
            p.message
                .contains("the answer to graded exercise `softplus`")
                && p.message.contains("`let tail = (-x.abs()).exp().ln_1p();`"),
            "{p}"
        );
    }
    drop(out);

    // The same answer on the solutions page is allowed.
    let dir = copy_fixture("good");
    for (lang, title, entry) in [
        ("en", "Solutions", "- [A chapter](chapter.md)\n"),
        ("zh", "答案", "- [一章](chapter.md)\n"),
    ] {
        fs::write(
            dir.path().join(format!("book/{lang}/solutions.md")),
            format!("# {title}\n\n```rust\n{{{{#include ../../chapters/demo/src/lib.rs:softplus}}}}\n```\n"),
        )
        .unwrap();
        edit(
            dir.path(),
            &format!("book/{lang}/SUMMARY.md"),
            entry,
            &format!("{entry}- [{title}](solutions.md)\n"),
        );
    }
    let (out, layout) = build(dir.path());
    let solutions = fs::read_to_string(out.path().join("en/solutions.html")).unwrap();
    assert!(solutions.contains("ln_1p"), "{solutions}");
    assert!(
        check_html(&layout).is_empty(),
        "{}",
        show(&check_html(&layout))
    );
    drop(out);

    // A chapter page that sets graded exercises links to the solutions: name the crate like the
    // page (`chapters/chapter/` for `chapter.md`), and the page without a link is caught.
    fs::rename(
        dir.path().join("chapters/demo"),
        dir.path().join("chapters/chapter"),
    )
    .unwrap();
    let (out, layout) = build(dir.path());
    let problems = check_html(&layout);
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    for (p, file) in problems
        .iter()
        .zip(["book/en/chapter.md", "book/zh/chapter.md"])
    {
        assert_eq!(p.file, file, "{p}");
        assert!(p.message.contains("does not link to solutions.md"), "{p}");
    }
    drop(out);
    for lang in ["en", "zh"] {
        let page = dir.path().join(format!("book/{lang}/chapter.md"));
        let text = fs::read_to_string(&page).unwrap();
        fs::write(&page, text + "\n[Solutions](solutions.md)\n").unwrap();
    }
    let (_out, layout) = build(dir.path());
    assert!(
        check_html(&layout).is_empty(),
        "{}",
        show(&check_html(&layout))
    );
}
