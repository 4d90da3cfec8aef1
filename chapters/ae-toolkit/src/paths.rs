//! Where the workspace is: the bottom layer of the toolkit, which every module that reads or
//! writes files by default (data, outputs, runs) builds on.

use std::path::{Path, PathBuf};

/// The top of the workspace this crate is built in: the nearest directory above it whose
/// `Cargo.toml` declares `[workspace]`. In the book's repository that is two levels up; in a
/// student copy (`cargo xtask assignment student`), where this crate sits at `<copy>/ae-toolkit`,
/// it is the copy itself — so examples write into the copy, never beside it.
///
/// ```
/// let root = ae_toolkit::paths::workspace_root();
/// let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
/// assert!(manifest.contains("[workspace]"));
/// assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).starts_with(&root));
/// ```
pub fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    workspace_root_of(crate_dir).unwrap_or_else(|| crate_dir.to_path_buf())
}

/// The nearest ancestor of `dir` (itself included) whose `Cargo.toml` has a `[workspace]` table.
///
/// ```
/// let top = tempfile::tempdir().unwrap();
/// let member = top.path().join("ae-toolkit");
/// std::fs::create_dir_all(&member).unwrap();
/// std::fs::write(top.path().join("Cargo.toml"), "[workspace]\nmembers = [\"ae-toolkit\"]\n").unwrap();
/// std::fs::write(member.join("Cargo.toml"), "[package]\nname = \"ae-toolkit\"\n").unwrap();
/// assert_eq!(ae_toolkit::paths::workspace_root_of(&member).as_deref(), Some(top.path()));
/// ```
pub fn workspace_root_of(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|manifest| {
                manifest
                    .lines()
                    .any(|line| line.trim_start().starts_with("[workspace]"))
            })
        })
        .map(Path::to_path_buf)
}
