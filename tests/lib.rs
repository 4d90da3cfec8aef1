//! Helpers shared by the book tests.

pub mod browser;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use xtask::book::Problem;
use xtask::tools::Tools;

/// The repository root.
pub fn repo_root() -> PathBuf {
    ae_toolkit::paths::workspace_root()
}

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests").join("fixtures").join(name)
}

/// The pinned mdBook tools, installed into the shared cache on first use (slow once, then
/// instant). Installs are serialised by a lock file, so parallel tests wait for one install.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| xtask::tools::ensure(&repo_root()).expect("installing the book tools"))
}

/// A copy of fixture `name` in a fresh temporary directory, to break on purpose.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("book-fixture-")
        .tempdir()
        .expect("temporary directory");
    xtask::copy_files(&fixture(name), dir.path(), &|_| false, false).unwrap();
    dir
}

/// Replaces `old` (which must occur exactly once) by `new` in `dir/rel`.
pub fn edit(dir: &Path, rel: &str, old: &str, new: &str) {
    let path = dir.join(rel);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        text.matches(old).count(),
        1,
        "{rel} should contain {old:?} exactly once"
    );
    fs::write(&path, text.replacen(old, new, 1)).unwrap();
}

/// All problems, one per line, for assertion messages.
pub fn show(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return "(no problems)".to_string();
    }
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The real book, both languages with their search indexes, built once per test binary into
/// `tmp/<name>` (each browser test binary passes its own `CARGO_TARGET_TMPDIR`, which cargo
/// defines for integration tests only).
pub fn built_site(tmp: &Path, name: &str) -> PathBuf {
    let out = tmp.join(name);
    let _ = fs::remove_dir_all(&out);
    let mut layout = xtask::book::Layout::for_repo(&repo_root()).unwrap();
    layout.out_dir = out.clone();
    let report = xtask::book::build_layout(&layout, tools()).unwrap();
    assert!(
        report.failures.is_empty(),
        "the book did not build:\n{}",
        show(&report.failures)
    );
    out
}
