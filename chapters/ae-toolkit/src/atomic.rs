//! Writing files so that an interrupted run never leaves a half-written one: write a temporary
//! file in the same directory, flush it to disk, then rename it over the target.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Temporary files are created readable by all (like any file the user writes), not 0600.
fn builder(suffix: &str) -> tempfile::Builder<'_, '_> {
    let mut b = tempfile::Builder::new();
    b.prefix(".").suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b
}

/// Writes `path` atomically with whatever `write` puts into the temporary file.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("metrics.json");
/// ae_toolkit::atomic::write_with(&path, |f| Ok(f.write_all(b"{}")?)).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}");
/// # use std::io::Write;
/// ```
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = builder(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    write(tmp.as_file_mut()).with_context(|| format!("while writing {}", path.display()))?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable: without this a power cut after the rename can still leave the
/// directory pointing at the old file (or at none).
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot flush the directory {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir; // Windows cannot open a directory as a file; its renames are journaled.
    Ok(())
}

/// Writes bytes to `path` atomically.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a/b.txt");
/// ae_toolkit::atomic::write(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello");
/// ```
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, |f| Ok(f.write_all(bytes)?))
}

/// Runs `produce` on a temporary path in the same directory, then renames the result to `path`.
/// For writers (like dfdx's safetensors or plotters' PNG encoder) that insist on a path.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.txt");
/// ae_toolkit::atomic::write_via_path(&path, |tmp| Ok(std::fs::write(tmp, "x")?)).unwrap();
/// assert!(path.exists());
/// ```
pub fn write_via_path(
    path: &Path,
    produce: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("tmp");
    let suffix = format!(".partial.{ext}");
    let tmp = builder(&suffix).tempfile_in(dir)?.into_temp_path();
    produce(&tmp).with_context(|| format!("while writing {}", path.display()))?;
    // The writer closed its file; flush its contents to disk before the rename makes it visible.
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot flush {} to disk", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_write_leaves_neither_target_nor_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        std::fs::write(&path, b"old").unwrap();
        let r = super::write_with(&path, |_| anyhow::bail!("interrupted"));
        assert!(r.is_err());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"old",
            "old content must survive"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }
}
