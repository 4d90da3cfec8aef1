//! The real book (`book/en`, `book/zh`): its sources pass every source check, both languages
//! build with the pinned tools, and the built HTML passes every HTML check. The build goes to a
//! temporary directory, never into the repository.

use std::fs;

use book_tests::{repo_root, show, tools};
use xtask::book::{build_layout, check_html, check_sources, Layout, LANGS};

#[test]
fn sources_pass_every_check() {
    let layout = Layout::for_repo(&repo_root()).unwrap();
    let problems = check_sources(&layout);
    assert!(
        problems.is_empty(),
        "the book's sources have {} problem(s):\n{}",
        problems.len(),
        show(&problems)
    );
}

#[test]
fn both_languages_build_and_the_html_passes_every_check() {
    let out = tempfile::Builder::new()
        .prefix("book-out-")
        .tempdir()
        .unwrap();
    let mut layout = Layout::for_repo(&repo_root()).unwrap();
    layout.out_dir = out.path().to_path_buf();

    let report = build_layout(&layout, tools()).unwrap();
    assert!(
        report.failures.is_empty(),
        "the book did not build:\n{}",
        show(&report.failures)
    );
    assert!(
        report.warnings.is_empty(),
        "the build logged warnings:\n{}",
        show(&report.warnings)
    );
    let problems = check_html(&layout);
    assert!(
        problems.is_empty(),
        "the built HTML has {} problem(s):\n{}",
        problems.len(),
        show(&problems)
    );

    let redirect = fs::read_to_string(out.path().join("index.html")).unwrap();
    assert!(redirect.contains("url=en/index.html"), "{redirect}");
    for lang in LANGS {
        let site = out.path().join(lang.code);
        let index = fs::read_to_string(site.join("index.html")).unwrap();
        assert!(
            index.contains(&format!("<html lang=\"{}\"", lang.code)),
            "{}: wrong lang",
            lang.code
        );
        assert!(index.contains(lang.title), "{}: title missing", lang.code);
        assert!(
            index.contains("lang-switch"),
            "{}: no language switch",
            lang.code
        );
        assert!(
            !index.contains("cdn.jsdelivr.net"),
            "{}: KaTeX CSS from a CDN",
            lang.code
        );
        if layout.generated_dir().is_dir() {
            assert!(
                site.join("generated").is_dir(),
                "{}: generated/ not copied",
                lang.code
            );
        }
    }
}

#[test]
fn every_graded_exercise_has_answer_lines_for_the_check() {
    // The check that keeps answers off the chapter pages looks for these lines: an exercise
    // without any would never be caught.
    let layout = Layout::for_repo(&repo_root()).unwrap();
    let (exercises, problems) = xtask::book::exercises::graded_exercises(&layout);
    assert!(problems.is_empty(), "{}", show(&problems));
    assert!(exercises.len() >= 6, "{exercises:?}");
    for e in &exercises {
        assert!(
            !e.answer_lines.is_empty(),
            "{}/{}: no distinctive line in its body",
            e.chapter,
            e.id
        );
        assert!(
            e.stub.contains("todo!()"),
            "{}/{}: {}",
            e.chapter,
            e.id,
            e.stub
        );
    }
}
