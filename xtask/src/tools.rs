//! The book's pinned tools: `mdbook`, the `mdbook-katex` preprocessor and `pagefind` (the
//! search index).
//!
//! Each set is installed into its own per-version cache directory outside the repository, so a
//! fresh machine needs nothing but cargo and npm, and later runs on the same machine reuse the
//! binaries. The cache root is
//!
//! - `$AE_BOOK_TOOLS/` if `AE_BOOK_TOOLS` is set, else
//! - `$XDG_CACHE_HOME/autoencoders-in-rust/tools/`, else
//! - `~/.cache/autoencoders-in-rust/tools/`,
//!
//! holding
//!
//! - [`VERSIONS_DIR`] (`mdbook-0.5.4+katex-0.10.0/bin/`): mdbook and mdbook-katex, compiled with
//!   `cargo install --locked --version X --root DIR` (a few minutes, once);
//! - [`PAGEFIND_DIR`] (`pagefind-1.6.0/bin/`): `pagefind_extended`, the prebuilt binary of the
//!   npm package `@pagefind/<platform>` 1.6.0, fetched with `npm pack` (about a second), checked
//!   against the SHA-512 pinned in [`PAGEFIND_PACKAGES`] and unpacked. The extended build is the
//!   one that segments Chinese and Japanese text into words; the crate (`cargo install pagefind
//!   --features extended`) would compile 322 crates (actix-web, tokio, ICU segmentation data) on
//!   every fresh machine instead.
//!
//! An install goes to a temporary sibling directory which is renamed into place only once the
//! binaries report the expected versions, so an interrupted install never leaves a cache that
//! looks complete. A lock file per directory serialises concurrent installs (several tests, or a
//! test and a build, starting at once).
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
use sha2::{Digest, Sha512};

/// Pinned mdBook version.
pub const MDBOOK_VERSION: &str = "0.5.4";
/// Pinned mdbook-katex version (renders KaTeX 0.16.4 at build time).
pub const MDBOOK_KATEX_VERSION: &str = "0.10.0";
/// Name of the per-version cache directory of mdbook and mdbook-katex.
pub const VERSIONS_DIR: &str = "mdbook-0.5.4+katex-0.10.0";
/// Pinned Pagefind version.
pub const PAGEFIND_VERSION: &str = "1.6.0";
/// Name of the per-version cache directory of Pagefind.
pub const PAGEFIND_DIR: &str = "pagefind-1.6.0";

/// A platform's prebuilt Pagefind: `(rust target os, rust target arch, npm package, SHA-512 of
/// the package tarball, hex)`. The hashes are the registry's `dist.integrity` of version 1.6.0;
/// the registry this project reaches carries no 1.6.0 build for macOS or Windows.
pub const PAGEFIND_PACKAGES: &[(&str, &str, &str, &str)] = &[
    (
        "linux",
        "x86_64",
        "@pagefind/linux-x64",
        "21b312c7ff95aff5e4d134c194b92380afabbe76ce5c69a66f6fcc2b142ef7d0\
         11e43b2a42857734a100f4f433dad021b82663783e71241a78c393790c7202ed",
    ),
    (
        "linux",
        "aarch64",
        "@pagefind/linux-arm64",
        "48b07623e5ea09999af0dbc81881fc9f229b960288c70e4f9aab15b687d638ac\
         4d1e112d384b1d75ba94fa1b2b35c4f7115d1f68ce9498a0c7548c5c3d8ab6f7",
    ),
];

/// The installed tools.
#[derive(Clone, Debug)]
pub struct Tools {
    /// Directory holding mdbook and mdbook-katex (put first on `PATH` so mdBook finds
    /// `mdbook-katex`).
    pub bin_dir: PathBuf,
    /// The `mdbook` binary.
    pub mdbook: PathBuf,
    /// The `pagefind_extended` binary (Pagefind with Chinese and Japanese word segmentation).
    pub pagefind: PathBuf,
}

impl Tools {
    fn in_dirs(mdbook_dir: &Path, pagefind_dir: &Path) -> Tools {
        let bin_dir = mdbook_dir.join("bin");
        Tools {
            mdbook: bin_dir.join(exe("mdbook")),
            pagefind: pagefind_bin(pagefind_dir),
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
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

fn pagefind_bin(dir: &Path) -> PathBuf {
    dir.join("bin").join(exe("pagefind_extended"))
}

fn verify_mdbook(bin_dir: &Path) -> Result<()> {
    check_version(
        &bin_dir.join(exe("mdbook")),
        &format!("mdbook v{MDBOOK_VERSION}"),
    )?;
    check_version(
        &bin_dir.join(exe("mdbook-katex")),
        &format!("mdbook-katex {MDBOOK_KATEX_VERSION}"),
    )
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

/// Returns the pinned tools, installing each set first if the cache does not hold a working
/// copy.
///
/// `workspace` is the repository root: `cargo install` runs there so that the pinned toolchain
/// (`rust-toolchain.toml`) compiles the tools.
pub fn ensure(workspace: &Path) -> Result<Tools> {
    let root = cache_root()?;
    let mdbook_dir = root.join(VERSIONS_DIR);
    let pagefind_dir = root.join(PAGEFIND_DIR);
    ensure_dir(
        &mdbook_dir,
        &format!("mdbook {MDBOOK_VERSION} + mdbook-katex {MDBOOK_KATEX_VERSION}"),
        |dir| verify_mdbook(&dir.join("bin")),
        |tmp| install_mdbook(workspace, tmp),
    )?;
    ensure_dir(
        &pagefind_dir,
        &format!("pagefind {PAGEFIND_VERSION}"),
        |dir| check_version(&pagefind_bin(dir), &format!("pagefind {PAGEFIND_VERSION}")),
        install_pagefind,
    )?;
    Ok(Tools::in_dirs(&mdbook_dir, &pagefind_dir))
}

/// Makes sure `dir` holds a working install (`verify` passes), else installs one with `install`
/// into a temporary sibling directory, verifies it and renames it into place, all under a lock.
/// (Not tempfile::TempDir, #17: it creates the directory 0700, so the cache would become private.)
fn ensure_dir(
    dir: &Path,
    what: &str,
    verify: impl Fn(&Path) -> Result<()>,
    install: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    if verify(dir).is_ok() {
        eprintln!("book tools: {what} (cached in {})", dir.display());
        return Ok(());
    }
    let name = dir
        .file_name()
        .expect("tools dir has a name")
        .to_string_lossy()
        .into_owned();
    let root = dir.parent().expect("tools dir has a parent").to_path_buf();
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let lock_path = root.join(format!(".{name}.lock"));
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        eprintln!(
            "book tools: another process is installing {what}; waiting for {}",
            lock_path.display()
        );
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    }
    // Someone else may have finished the install while we waited.
    if verify(dir).is_ok() {
        eprintln!(
            "book tools: {what} installed by another process in {}",
            dir.display()
        );
        return Ok(());
    }
    if dir.exists() {
        eprintln!(
            "book tools: {} is incomplete or broken; reinstalling",
            dir.display()
        );
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let tmp_prefix = format!(".{name}.tmp-");
    let tmp = root.join(format!("{tmp_prefix}{}", std::process::id()));
    // Leftovers of interrupted installs (their process is gone: we hold the lock).
    if let Ok(entries) = fs::read_dir(&root) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&tmp_prefix) {
                eprintln!("book tools: removing leftover {}", entry.path().display());
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    fs::create_dir_all(&tmp)?;
    eprintln!("book tools: installing {what} into {}", dir.display());
    let started = Instant::now();
    let result = install(&tmp).and_then(|()| {
        verify(&tmp).with_context(|| {
            format!("the freshly installed {what} does not report the pinned version")
        })
    });
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, dir).with_context(|| {
        format!(
            "cannot move {} into place at {}",
            tmp.display(),
            dir.display()
        )
    })?;
    eprintln!(
        "book tools: installed {what} in {:.0?} into {}",
        started.elapsed(),
        dir.display()
    );
    drop(lock);
    Ok(())
}

/// `cargo install` of mdbook and mdbook-katex into `tmp`.
fn install_mdbook(workspace: &Path, tmp: &Path) -> Result<()> {
    eprintln!(
        "book tools: (first time only; compiling mdbook and mdbook-katex takes a few minutes)"
    );
    let mut cmd = crate::cargo_command();
    cmd.current_dir(workspace)
        .arg("install")
        .arg("--locked")
        .arg("--root")
        .arg(tmp)
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
    crate::run(&mut cmd)
        .context("installing mdbook and mdbook-katex failed; see cargo's output above")?;
    let _ = fs::remove_dir_all(tmp.join("build"));
    Ok(())
}

/// The npm package and tarball SHA-512 (hex) of this platform's prebuilt Pagefind.
fn pagefind_package() -> Result<(&'static str, String)> {
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    PAGEFIND_PACKAGES
        .iter()
        .find(|p| p.0 == os && p.1 == arch)
        .map(|p| (p.2, p.3.split_whitespace().collect::<String>()))
        .with_context(|| {
            format!(
                "no pinned prebuilt Pagefind {PAGEFIND_VERSION} for {os}/{arch}; build it with \
                 `cargo install pagefind@{PAGEFIND_VERSION} --locked --features extended --root DIR` \
                 and copy DIR/bin/pagefind into {} as bin/{}",
                cache_root()
                    .map(|r| r.join(PAGEFIND_DIR).display().to_string())
                    .unwrap_or_else(|_| PAGEFIND_DIR.to_string()),
                exe("pagefind_extended")
            )
        })
}

/// `npm pack @pagefind/<platform>@PAGEFIND_VERSION` into `tmp`, SHA-512 checked against the pin,
/// and `bin/pagefind_extended` unpacked from it into `tmp/bin/`.
fn install_pagefind(tmp: &Path) -> Result<()> {
    let (package, sha512) = pagefind_package()?;
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let mut cmd = Command::new(npm);
    cmd.current_dir(tmp)
        .arg("pack")
        .arg(format!("{package}@{PAGEFIND_VERSION}"))
        .arg("--silent")
        .stdin(std::process::Stdio::null());
    eprintln!("book tools: running {cmd:?}");
    let out = crate::output(&mut cmd).context(
        "the search index needs Pagefind's prebuilt binary from the npm registry (without npm, \
         install Node.js and npm; Debian: apt-get install -y nodejs npm)",
    )?;
    let tarball = tmp.join(String::from_utf8_lossy(&out.stdout).trim());
    let bytes =
        fs::read(&tarball).with_context(|| format!("npm pack wrote no {}", tarball.display()))?;
    let actual = format!("{:x}", Sha512::digest(&bytes));
    if actual != sha512 {
        bail!(
            "{} has SHA-512 {actual}, expected the pinned {sha512}",
            tarball.display()
        );
    }
    let wanted = format!("package/bin/{}", exe("pagefind_extended"));
    let bin = pagefind_bin(tmp);
    fs::create_dir_all(bin.parent().expect("bin/"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    // The archive's integrity is the SHA-512 above; an entry it cannot read is simply not it.
    let mut entry = (archive.entries()?.flatten())
        .find(|e| e.path().is_ok_and(|p| p.to_string_lossy() == wanted))
        .with_context(|| format!("{} has no {wanted}", tarball.display()))?;
    entry
        .unpack(&bin)
        .with_context(|| format!("cannot write {}", bin.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755))?;
    }
    fs::remove_file(&tarball)?;
    Ok(())
}

fn check_version(bin: &Path, expected: &str) -> Result<()> {
    if !bin.is_file() {
        bail!("{} does not exist", bin.display());
    }
    let out = crate::output(Command::new(bin).arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim() != expected {
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
