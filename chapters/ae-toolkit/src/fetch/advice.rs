//! What to tell the user when no source delivered a file: each source with its reason, and the
//! commands that would fix it.

use super::*;

/// The error when no source delivered `file`: each source with why it failed, then what would
/// fix it, then the files of the set still missing after it (the same fixes apply to them).
pub(super) fn every_source_failed(
    file: &DataFile,
    dest: &Path,
    failures: &[(&Source, String)],
    still_missing: &[&str],
) -> anyhow::Error {
    if failures.is_empty() {
        return anyhow!(
            "could not fetch {} into {}: no sources to try",
            file.name,
            dest.display()
        );
    }
    let tried: Vec<String> = failures
        .iter()
        .enumerate()
        .map(|(i, (source, why))| format!("  {}. {source}: {why}", i + 1))
        .collect();
    let mut fixes: Vec<String> = Vec::new();
    for (source, _) in failures {
        let fix = source.remedy(file, dest);
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    let later = if still_missing.is_empty() {
        String::new()
    } else {
        format!(
            "\nThe same goes for the files still missing after it: {}.",
            still_missing.join(", ")
        )
    };
    anyhow!(
        "could not fetch {} into {}; every source failed:\n{}\nAny one of these fixes it, then \
         fetch again with `cargo xtask fetch-data` (it checks the SHA-256 of whatever it \
         finds):\n{}{later}",
        file.name,
        dest.display(),
        tried.join("\n"),
        fixes
            .iter()
            .map(|f| format!("  - {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}
