//! Whether a chapter built on its own gets the same crate features as the whole workspace.
//!
//! Cargo resolves features over the packages a command builds. `cargo xtask test` builds the
//! workspace's tests in one command, then each chapter's example alone (`-p <chapter>`), and the
//! assignment check builds chapters in workspaces of their own. Where the workspace's other crates
//! (xtask, the book's tests, perf and its benchmarks) switch on a feature of a crate that the
//! chapters also use, a chapter alone gets another feature set for that crate, and cargo
//! recompiles it and everything above it, dfdx included. `chapters/ae-toolkit/Cargo.toml` asks
//! for those features itself; [`drift`] lists what is missing from that list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each package (`name version`) with the features `cargo tree` says it is built with, for the
/// selection `select` (`["--workspace"]` or `["-p", name]`). Normal and dev-dependencies, as a
/// test or example build resolves them; proc-macros and build scripts left out (they are
/// compiled for the host, with features resolved apart from the rest).
fn feature_sets(
    root: &Path,
    select: &[&str],
) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let out = crate::output(
        crate::cargo_command()
            .args(["tree", "--prefix", "none", "-f", "{p} [{f}]"])
            .args(["-e", "normal,dev,no-proc-macro"])
            .args(select)
            .current_dir(root),
    )?;
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `name vX.Y.Z [(path)] [f1,f2] [(*)]`
        let (Some(open), Some(close)) = (line.find(" ["), line.rfind(']')) else {
            continue;
        };
        let mut words = line[..open].split(' ');
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let features = line[open + 2..close].split(',').filter(|f| !f.is_empty());
        sets.entry(format!("{name} {version}"))
            .or_default()
            .extend(features.map(String::from));
    }
    Ok(sets)
}

/// The crates that `package` built alone gets with fewer features than in the whole workspace,
/// each with the missing features: `serde 1.0.229: alloc`. Empty when a build of `package` alone
/// reuses what the workspace's build compiled.
pub fn drift(root: &Path, package: &str) -> anyhow::Result<Vec<String>> {
    let workspace = feature_sets(root, &["--workspace"])?;
    let alone = feature_sets(root, &["-p", package])?;
    Ok(alone
        .iter()
        .filter_map(|(krate, features)| {
            let missing: Vec<&str> = workspace
                .get(krate)?
                .difference(features)
                .map(String::as_str)
                .collect();
            (!missing.is_empty()).then(|| format!("{krate}: {}", missing.join(", ")))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// If this fails, add the features it names to the list in `chapters/ae-toolkit/Cargo.toml`
    /// (or stop the other crate from asking for them).
    #[test]
    fn feature_sets_match_the_workspace() {
        let root = &ae_toolkit::paths::workspace_root();
        let mut packages = vec!["ae-toolkit".to_string()];
        packages.extend(crate::assignment::chapters(root).unwrap());
        for package in packages {
            let missing = drift(root, &package).unwrap();
            assert!(
                missing.is_empty(),
                "{package} built alone lacks features the workspace turns on: {missing:?}"
            );
        }
    }
}
