pub mod assignment;
pub mod book;
pub mod features;
pub mod perf;
pub mod reproduce;
pub mod tools;

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{bail, Context as _};

/// Runs `command` with its output passed through; fails with the command line and its exit
/// status if it cannot be started or does not succeed. Callers add what it was for (and how to
/// fix it) with `.context(…)`.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = (command.status()).with_context(|| format!("cannot run {}", program(command)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", command_line(command));
    }
    Ok(())
}

/// Runs `command` and returns its captured output; fails with the command line, its exit status
/// and its stderr (or, if that is empty, the end of its stdout) if it does not succeed.
pub fn output(command: &mut Command) -> anyhow::Result<Output> {
    let out = (command.output()).with_context(|| format!("cannot run {}", program(command)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let said = match stderr.trim() {
            "" => tail(&stdout, 20),
            text => text.to_string(),
        };
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(":\n{said}")
        };
        bail!("`{}` failed ({}){said}", command_line(command), out.status);
    }
    Ok(out)
}

/// The program `command` runs, as given (a path, for a tool or `$CARGO`).
fn program(command: &Command) -> String {
    Path::new(command.get_program()).display().to_string()
}

/// `command` as a shell line: the program's file name and the arguments (quoted where needed).
pub fn command_line(command: &Command) -> String {
    let name = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program());
    std::iter::once(name)
        .chain(command.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` non-empty lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The cargo running this task (`$CARGO`, which cargo sets for `cargo xtask`), else `cargo` on
/// `PATH`: the builds a task starts then use the same toolchain as the task itself.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A command running [`cargo_program`], without the variables cargo sets for the package whose
/// binary or test is running (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …: xtask's, or a test's).
/// Build scripts read some of them and ask to be rerun when they change (`ring`'s does), so a
/// build started from xtask or from a test would otherwise see other values than one started
/// from a shell, rerun that build script and recompile everything above it, dfdx and the
/// chapters included, in place: the next build from elsewhere then does it all again.
pub fn cargo_command() -> std::process::Command {
    let mut command = std::process::Command::new(cargo_program());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if is_package_variable(&name) {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// Whether cargo sets variable `name` for the package it runs (not for cargo itself: `CARGO`,
/// `CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`, … stay).
fn is_package_variable(name: &str) -> bool {
    const EXACT: [&str; 7] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    const PREFIXES: [&str; 3] = ["CARGO_PKG_", "CARGO_BIN_NAME", "CARGO_BIN_EXE_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
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

#[cfg(test)]
mod cargo_env_tests {
    use super::*;

    #[test]
    fn only_the_running_package_s_variables_are_dropped() {
        for dropped in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "OUT_DIR",
        ] {
            assert!(is_package_variable(dropped), "{dropped}");
        }
        for kept in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
            "PATH",
        ] {
            assert!(!is_package_variable(kept), "{kept}");
        }
        // Under `cargo test` this process has CARGO_MANIFEST_DIR; the command it builds does not.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let command = cargo_command();
        let removed: Vec<_> = command.get_envs().filter(|(_, v)| v.is_none()).collect();
        assert!(removed.iter().any(|(k, _)| *k == "CARGO_MANIFEST_DIR"));
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_command_says_what_ran_how_it_ended_and_what_it_said() {
        let mut fails = Command::new("sh");
        fails.args(["-c", "echo out; echo oops >&2; exit 3"]);
        let e = output(&mut fails).unwrap_err().to_string();
        assert_eq!(
            e,
            "`sh -c 'echo out; echo oops >&2; exit 3'` failed (exit status: 3):\noops"
        );
        // Nothing on stderr: the end of stdout instead.
        let e = output(Command::new("sh").args(["-c", "echo said; exit 1"])).unwrap_err();
        assert!(e.to_string().ends_with("(exit status: 1):\nsaid"), "{e}");
        let e = run(Command::new("sh").args(["-c", "exit 4"])).unwrap_err();
        assert_eq!(e.to_string(), "`sh -c 'exit 4'` failed (exit status: 4)");
        let e = output(&mut Command::new("/nonexistent/tool")).unwrap_err();
        assert_eq!(e.to_string(), "cannot run /nonexistent/tool");
        assert!(output(Command::new("sh").args(["-c", "echo fine"])).is_ok());
    }
}
