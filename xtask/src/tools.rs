//! The book's pinned tools: `mdbook` and the `mdbook-katex` preprocessor.
//!
//! They are installed with `cargo install --locked --version X --root DIR` into a per-version
//! cache directory outside the repository, so a fresh machine needs nothing but cargo and later
//! runs on the same machine reuse the binaries:
//!
//! - `$AE_BOOK_TOOLS/<versions>/bin/` if `AE_BOOK_TOOLS` is set, else
//! - `$XDG_CACHE_HOME/autoencoders-in-rust/tools/<versions>/bin/`, else
//! - `~/.cache/autoencoders-in-rust/tools/<versions>/bin/`,
//!
//! where `<versions>` is [`VERSIONS_DIR`] (`mdbook-0.5.4+katex-0.10.0`). An install goes to a
//! temporary sibling directory which is renamed into place only once both binaries report the
//! expected versions, so an interrupted install never leaves a cache that looks complete. A lock
//! file serialises concurrent installs (several tests, or a test and a build, starting at once).
//!
//! Compatibility, checked by reading the published crates: mdbook-katex 0.10.0 depends on
//! `mdbook-preprocessor ^0.5.3`, i.e. it speaks mdBook 0.5's preprocessor protocol. Its lockfile
//! (used by `--locked`) pins mdbook-preprocessor 0.5.3, whose source (and mdbook-core's) is
//! identical to 0.5.4's, so it works with mdbook 0.5.4; the only effect is a warning on every
//! build ("built against mdbook v0.5.3, but we are being called from mdbook v0.5.4"), which
//! [`is_known_harmless_warning`] recognises.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Pinned mdBook version.
pub const MDBOOK_VERSION: &str = "0.5.4";
/// Pinned mdbook-katex version (renders KaTeX 0.16.4 at build time).
pub const MDBOOK_KATEX_VERSION: &str = "0.10.0";
/// Name of the per-version cache directory.
pub const VERSIONS_DIR: &str = "mdbook-0.5.4+katex-0.10.0";

/// The installed tools.
#[derive(Clone, Debug)]
pub struct Tools {
    /// Directory holding both binaries (put first on `PATH` so mdBook finds `mdbook-katex`).
    pub bin_dir: PathBuf,
    /// The `mdbook` binary.
    pub mdbook: PathBuf,
    /// The `mdbook-katex` binary.
    pub mdbook_katex: PathBuf,
}

impl Tools {
    fn in_dir(dir: &Path) -> Tools {
        let bin_dir = dir.join("bin");
        Tools {
            mdbook: bin_dir.join(exe("mdbook")),
            mdbook_katex: bin_dir.join(exe("mdbook-katex")),
            bin_dir,
        }
    }

    /// `PATH` with [`Tools::bin_dir`] first.
    pub fn path_env(&self) -> Result<std::ffi::OsString> {
        let mut dirs = vec![self.bin_dir.clone()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).context("cannot build PATH for the book tools")
    }

    /// Checks that both binaries run and report the pinned versions.
    pub fn verify(&self) -> Result<()> {
        check_version(&self.mdbook, &format!("mdbook v{MDBOOK_VERSION}"))?;
        check_version(
            &self.mdbook_katex,
            &format!("mdbook-katex {MDBOOK_KATEX_VERSION}"),
        )?;
        Ok(())
    }
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// The cache root (the directory holding per-version directories).
pub fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("AE_BOOK_TOOLS").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .or_else(|| std::env::var_os("USERPROFILE"))
                .filter(|d| !d.is_empty())
                .context(
                    "cannot place the book tools: set AE_BOOK_TOOLS, XDG_CACHE_HOME or HOME",
                )?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(cache.join("autoencoders-in-rust").join("tools"))
}

/// The directory the pinned versions live in.
pub fn tools_dir() -> Result<PathBuf> {
    Ok(cache_root()?.join(VERSIONS_DIR))
}

/// Returns the pinned tools, installing them first if the cache does not hold a working copy.
///
/// `workspace` is the repository root: `cargo install` runs there so that the pinned toolchain
/// (`rust-toolchain.toml`) compiles the tools.
pub fn ensure(workspace: &Path) -> Result<Tools> {
    let dir = tools_dir()?;
    let tools = Tools::in_dir(&dir);
    if tools.verify().is_ok() {
        eprintln!(
            "book tools: mdbook {MDBOOK_VERSION} + mdbook-katex {MDBOOK_KATEX_VERSION} (cached in {})",
            dir.display()
        );
        return Ok(tools);
    }

    let root = dir.parent().expect("tools dir has a parent").to_path_buf();
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let lock_path = root.join(format!(".{VERSIONS_DIR}.lock"));
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        eprintln!(
            "book tools: another process is installing them; waiting for {}",
            lock_path.display()
        );
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    }
    // Someone else may have finished the install while we waited.
    if tools.verify().is_ok() {
        eprintln!(
            "book tools: installed by another process in {}",
            dir.display()
        );
        return Ok(tools);
    }
    if dir.exists() {
        eprintln!(
            "book tools: {} is incomplete or broken; reinstalling",
            dir.display()
        );
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let result = install(workspace, &root, &dir);
    drop(lock);
    result?;
    Ok(tools)
}

fn install(workspace: &Path, root: &Path, dir: &Path) -> Result<()> {
    let tmp = root.join(format!(".{VERSIONS_DIR}.tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    // Leftovers of interrupted installs (their process is gone: we hold the lock).
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!(".{VERSIONS_DIR}.tmp-")) {
                eprintln!("book tools: removing leftover {}", entry.path().display());
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    fs::create_dir_all(&tmp)?;
    eprintln!(
        "book tools: installing mdbook {MDBOOK_VERSION} and mdbook-katex {MDBOOK_KATEX_VERSION} \
         into {} (first time only; compiling takes a few minutes)",
        dir.display()
    );
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace)
        .arg("install")
        .arg("--locked")
        .arg("--root")
        .arg(&tmp)
        // One target dir for both crates so shared dependencies compile once; removed below.
        .arg("--target-dir")
        .arg(tmp.join("build"))
        .arg(format!("mdbook@{MDBOOK_VERSION}"))
        .arg(format!("mdbook-katex@{MDBOOK_KATEX_VERSION}"))
        // Flags meant for the workspace build must not leak into the tools' build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    eprintln!("book tools: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        let _ = fs::remove_dir_all(&tmp);
        bail!("installing the book tools failed ({status}); see cargo's output above");
    }
    let _ = fs::remove_dir_all(tmp.join("build"));
    Tools::in_dir(&tmp)
        .verify()
        .context("the freshly installed book tools do not report the pinned versions")?;
    fs::rename(&tmp, dir).with_context(|| {
        format!(
            "cannot move {} into place at {}",
            tmp.display(),
            dir.display()
        )
    })?;
    eprintln!(
        "book tools: installed in {:.0?} into {}",
        started.elapsed(),
        dir.display()
    );
    Ok(())
}

fn check_version(bin: &Path, expected: &str) -> Result<()> {
    if !bin.is_file() {
        bail!("{} does not exist", bin.display());
    }
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.trim() != expected {
        bail!(
            "{} --version printed {:?}, expected {expected:?}",
            bin.display(),
            text.trim()
        );
    }
    Ok(())
}

/// Whether a warning printed during a build is known and harmless (see the module docs).
pub fn is_known_harmless_warning(line: &str) -> bool {
    line.contains("This mdbook-katex was built against mdbook v0.5.3")
}
