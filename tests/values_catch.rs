//! The checks of the named values (xtask/src/book/values.rs) catch what they are for: copies of
//! the good fixture book (`tests/fixtures/good`), each given one defect, fail with the expected
//! `file:line: message`; quoted by name, the same number passes and reaches the built page.

use std::fs;
use std::path::Path;

use ae_toolkit::results::Results;
use book_tests::{copy_fixture, edit, repo_root, show, tools};
use xtask::book::{build_layout, check_sources, Layout, Problem};

fn source_problems(dir: &Path) -> Vec<Problem> {
    let layout = Layout::for_fixture(&repo_root(), dir, &dir.join("out")).unwrap();
    check_sources(&layout)
}

/// The fixture's results file, written by the toolkit's writer as a chapter's example does.
fn write_results(dir: &Path, loss: f64, baseline: f64) {
    Results::new("main")
        .number("loss", loss, 2)
        .number("baseline", baseline, 2)
        .write(&dir.join("book/generated/demo"))
        .unwrap();
}

/// Appends `en` and `zh` to the two chapter pages.
fn append(dir: &Path, en: &str, zh: &str) {
    for (lang, text) in [("en", en), ("zh", zh)] {
        let path = dir.join(format!("book/{lang}/chapter.md"));
        let page = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("{page}\n{text}\n")).unwrap();
    }
}

fn line_of(dir: &Path, rel: &str, needle: &str) -> usize {
    let text = fs::read_to_string(dir.join(rel)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

const LOSS: &str = "{{#include ../../target/book-values/demo.md:loss}}";
const BASELINE: &str = "{{#include ../../target/book-values/demo.md:baseline}}";

#[test]
fn a_measured_decimal_typed_into_the_prose_is_caught() {
    let dir = copy_fixture("good");
    edit(
        dir.path(),
        "book/en/chapter.md",
        "Write `softplus`; the tests say when it is right.",
        "Write `softplus`; the tests say when it is right. It reached 43.77 (not `43.77` in code, \
         not $43.77$ in math, not version 0.5.4).",
    );
    let problems = source_problems(dir.path());
    let line = line_of(dir.path(), "book/en/chapter.md", "43.77");
    assert_eq!(problems.len(), 1, "{}", show(&problems));
    let p = &problems[0];
    assert_eq!(
        (p.file.as_str(), p.line),
        ("book/en/chapter.md", line),
        "{p}"
    );
    assert!(p.message.contains("`43.77` is typed into the prose"), "{p}");

    // Allowed as a formula's worked value only with a test that holds it.
    fs::write(
        dir.path().join("book/typed-numbers.toml"),
        "[[worked]]\nnumber = \"43.77\"\npage = \"chapter.md\"\ntest = \"code/demo.rs\"\n",
    )
    .unwrap();
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 1, "{}", show(&problems));
    assert!(
        problems[0].message.contains("no such test holding 43.77"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_quoted_value_reaches_both_pages_and_an_unknown_name_is_caught() {
    let dir = copy_fixture("good");
    write_results(dir.path(), 12.3456, 20.0);
    append(
        dir.path(),
        &format!("The loss ends at {LOSS}."),
        &format!("损失最后是 {LOSS}。"),
    );
    let problems = source_problems(dir.path());
    assert!(problems.is_empty(), "{}", show(&problems));
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::for_fixture(&repo_root(), dir.path(), out.path()).unwrap();
    let report = build_layout(&layout, tools()).unwrap();
    assert!(report.failures.is_empty(), "{}", show(&report.failures));
    for lang in ["en", "zh"] {
        let html = fs::read_to_string(out.path().join(lang).join("chapter.html")).unwrap();
        assert!(
            html.contains("12.35"),
            "{lang}: the value is not on the page"
        );
    }

    // A name no results file has.
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "demo.md:loss",
        "demo.md:los",
    );
    let problems = source_problems(dir.path());
    let line = line_of(dir.path(), "book/zh/chapter.md", "demo.md:los");
    let unknown: Vec<_> = problems
        .iter()
        .filter(|p| p.message.contains("anchor `los` not found"))
        .collect();
    assert_eq!(unknown.len(), 1, "{}", show(&problems));
    assert_eq!(
        (unknown[0].file.as_str(), unknown[0].line),
        ("book/zh/chapter.md", line)
    );
    // … and the twins no longer quote the same values.
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("is not quoted in the Chinese twin")),
        "{}",
        show(&problems)
    );
}

#[test]
fn a_claim_the_values_no_longer_satisfy_is_named() {
    let dir = copy_fixture("good");
    fs::write(
        dir.path().join("book/claims.toml"),
        "[demo.beats_baseline]\nsays = \"the model beats the baseline\"\n\
         holds = [\"demo.loss < demo.baseline\"]\n",
    )
    .unwrap();
    append(
        dir.path(),
        &format!("It ends at {LOSS}, below the baseline's {BASELINE}.<!-- claim: demo.beats_baseline -->"),
        &format!("它最后是 {LOSS}，低于基准的 {BASELINE}。<!-- claim: demo.beats_baseline -->"),
    );
    write_results(dir.path(), 12.3456, 20.0);
    let problems = source_problems(dir.path());
    assert!(problems.is_empty(), "{}", show(&problems));

    // Rerun with another seed: the loss ends above the baseline.
    write_results(dir.path(), 21.5, 20.0);
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 1, "{}", show(&problems));
    let p = &problems[0];
    assert_eq!((p.file.as_str(), p.line), ("book/claims.toml", 1), "{p}");
    assert!(
        p.message.contains("claim `demo.beats_baseline`")
            && p.message.contains("no longer holds")
            && p.message
                .contains("demo.loss (= 21.50) < demo.baseline (= 20.00)"),
        "{p}"
    );

    // A claim no page points at, and a pointer to no claim.
    edit(
        dir.path(),
        "book/zh/chapter.md",
        "claim: demo.beats_baseline",
        "claim: demo.beats",
    );
    write_results(dir.path(), 12.3456, 20.0);
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    assert!(problems
        .iter()
        .any(|p| p.message.contains("no Chinese page points at it")));
    assert!(problems
        .iter()
        .any(|p| p.file == "book/zh/chapter.md" && p.message.contains("points at no claim")));
}

#[test]
fn a_pending_value_the_run_has_written_is_caught() {
    let dir = copy_fixture("good");
    fs::write(
        dir.path().join("book/pending-values.toml"),
        "[[run]]\ncommand = \"cargo run --example reproduce\"\nchapter = \"demo\"\n\
         [run.values]\nloss = \"12.35\"\n",
    )
    .unwrap();
    append(
        dir.path(),
        &format!("It ends at {LOSS}."),
        &format!("它最后是 {LOSS}。"),
    );
    assert!(source_problems(dir.path()).is_empty());
    write_results(dir.path(), 12.3456, 20.0);
    let problems = source_problems(dir.path());
    assert_eq!(problems.len(), 1, "{}", show(&problems));
    assert!(
        problems[0]
            .message
            .contains("`demo.loss` is written by its run now"),
        "{}",
        problems[0]
    );
}
