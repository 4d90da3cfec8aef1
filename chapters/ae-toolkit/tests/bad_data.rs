//! Bad data as a new user meets it: each case gives an error naming the file, what is wrong and
//! how to fix it — never a panic, never a silent fallback.

use std::path::Path;

use ae_toolkit::catalogue::Split;
use ae_toolkit::data::{load, DataDir, DataDirOrigin, DatasetKind};
use ae_toolkit::idx::{Idx, IdxKind};

fn flag_dir(path: &Path) -> DataDir {
    DataDir {
        path: path.to_path_buf(),
        origin: DataDirOrigin::Flag,
    }
}

/// Writes a valid little MNIST-shaped set into `dir/mnist/`: `n` training images of grey 128
/// labelled 3, and `n + 2` test images of grey 64 labelled 5, so that a loader mixing up the
/// splits is caught.
fn write_valid_set(dir: &Path, n: usize) {
    let set = dir.join("mnist");
    std::fs::create_dir_all(&set).unwrap();
    for f in DatasetKind::Mnist.files() {
        let (count, grey, label) = match f.split {
            Split::Train => (n, 128, 3),
            Split::Test => (n + 2, 64, 5),
        };
        let idx = match f.kind {
            IdxKind::Images => Idx {
                kind: f.kind,
                count,
                rows: 28,
                cols: 28,
                data: vec![grey; count * 784],
            },
            IdxKind::Labels => Idx {
                kind: f.kind,
                count,
                rows: 1,
                cols: 1,
                data: vec![label; count],
            },
        };
        std::fs::write(set.join(f.name), idx.to_bytes()).unwrap();
    }
}

fn error_of(dir: &DataDir) -> String {
    format!("{}", load(DatasetKind::Mnist, dir).unwrap_err())
}

#[test]
fn a_valid_directory_is_loaded_not_the_subset() {
    let tmp = tempfile::tempdir().unwrap();
    write_valid_set(tmp.path(), 7);
    let data = load(DatasetKind::Mnist, &flag_dir(tmp.path())).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (7, 9));
    assert!((data.train.images[0] - 128.0 / 255.0).abs() < 1e-7);
    assert!((data.test.images[0] - 64.0 / 255.0).abs() < 1e-7);
    assert!(data.train.labels.iter().all(|&l| l == 3));
    assert!(data.test.labels.iter().all(|&l| l == 5));
}

#[test]
fn a_missing_directory_named_by_flag_is_an_error() {
    let msg = error_of(&flag_dir(Path::new("/nonexistent/ae-data")));
    assert!(
        msg.contains("/nonexistent/ae-data")
            && msg.contains("--data-dir")
            && msg.contains("does not exist"),
        "{msg}"
    );
}

#[test]
fn an_empty_directory_falls_back_to_the_embedded_subset() {
    let tmp = tempfile::tempdir().unwrap();
    let data = load(DatasetKind::Mnist, &flag_dir(tmp.path())).unwrap();
    assert_eq!(data.source, ae_toolkit::data::DataSource::Embedded);
    assert_eq!(data.train.len(), 2000);
}

#[test]
fn a_partial_set_names_the_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    write_valid_set(tmp.path(), 3);
    std::fs::remove_file(tmp.path().join("mnist/t10k-labels-idx1-ubyte")).unwrap();
    let msg = error_of(&flag_dir(tmp.path()));
    assert!(
        msg.contains("missing t10k-labels-idx1-ubyte") && msg.contains("cargo xtask fetch-data"),
        "{msg}"
    );
}

#[test]
fn a_truncated_file_is_named_and_called_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    write_valid_set(tmp.path(), 3);
    let path = tmp.path().join("mnist/train-images-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let msg = error_of(&flag_dir(tmp.path()));
    assert!(
        msg.contains("train-images-idx3-ubyte is corrupt") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn a_wrong_magic_number_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write_valid_set(tmp.path(), 3);
    let path = tmp.path().join("mnist/t10k-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] = 0x99;
    std::fs::write(&path, bytes).unwrap();
    let msg = error_of(&flag_dir(tmp.path()));
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("magic number is 0x00000899"),
        "{msg}"
    );
}

#[test]
fn images_and_labels_must_agree() {
    let tmp = tempfile::tempdir().unwrap();
    write_valid_set(tmp.path(), 3);
    let labels = Idx {
        kind: IdxKind::Labels,
        count: 2,
        rows: 1,
        cols: 1,
        data: vec![1, 2],
    };
    std::fs::write(
        tmp.path().join("mnist/train-labels-idx1-ubyte"),
        labels.to_bytes(),
    )
    .unwrap();
    let msg = error_of(&flag_dir(tmp.path()));
    assert!(
        msg.contains("holds 3 images but") && msg.contains("holds 2 labels"),
        "{msg}"
    );
}

#[test]
fn a_gzipped_file_is_read_like_a_raw_one() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    write_valid_set(tmp.path(), 4);
    let raw = tmp.path().join("mnist/train-images-idx3-ubyte");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(&raw).unwrap()).unwrap();
    std::fs::write(raw.with_extension("gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&raw).unwrap();
    // `with_extension` replaced nothing (no dot in the name), so the file is `…-ubyte.gz`.
    assert!(tmp.path().join("mnist/train-images-idx3-ubyte.gz").exists());
    let data = load(DatasetKind::Mnist, &flag_dir(tmp.path())).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (4, 6));
    assert!(data
        .train
        .images
        .iter()
        .all(|&p| (p - 128.0 / 255.0).abs() < 1e-7));
}
