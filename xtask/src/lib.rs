pub mod assignment;
pub mod book;
pub mod features;
pub mod perf;
pub mod reproduce;
pub mod tools;

use std::path::Path;

use anyhow::Context as _;

/// The cargo running this task (`$CARGO`, which cargo sets for `cargo xtask`), else `cargo` on
/// `PATH`: the builds a task starts then use the same toolchain as the task itself.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Copies the tree `from` into `to`, leaving out what `skip` says (given the path relative to
/// `from`; a directory left out is not entered). With `only_changed`, a file already in `to` with
/// the same size and not older is left alone. Returns whether any file was copied.
pub fn copy_files(
    from: &Path,
    to: &Path,
    skip: &dyn Fn(&Path) -> bool,
    only_changed: bool,
) -> anyhow::Result<bool> {
    let mut copied = false;
    let entries = walkdir::WalkDir::new(from)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skip(e.path().strip_prefix(from).unwrap_or(e.path())));
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.path().strip_prefix(from)?));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dst)
                .with_context(|| format!("cannot create {}", dst.display()))?;
        } else if !only_changed || is_newer(src, &dst) {
            std::fs::copy(src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
            copied = true;
        }
    }
    Ok(copied)
}

/// Whether `dst` is missing, of another size than `src`, or older.
fn is_newer(src: &Path, dst: &Path) -> bool {
    let (Ok(s), Ok(d)) = (std::fs::metadata(src), std::fs::metadata(dst)) else {
        return true;
    };
    s.len() != d.len()
        || match (s.modified(), d.modified()) {
            (Ok(sm), Ok(dm)) => sm > dm,
            _ => true,
        }
}
