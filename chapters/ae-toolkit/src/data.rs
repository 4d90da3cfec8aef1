//! Real data: MNIST and Fashion-MNIST, full sets from a data directory or the subset shipped in
//! this crate.
//!
//! Where the data directory comes from, in order: the `--data-dir` flag, the `AE_DATA_DIR`
//! environment variable, then `data/` at the top of the workspace. Each data set lives in its own
//! subdirectory (`mnist/`, `fashion-mnist/`) as the four original IDX files, raw or `.gz`.
//! When a data set's directory holds none of its files, the embedded subset is used and that is
//! announced on stderr; a directory holding some but not all files, or a bad file, is an error.

use std::path::PathBuf;

pub use crate::catalogue::{DataFile, DatasetKind, Split};
pub use crate::data_dir::{DataDir, DataDirOrigin, DATA_DIR_ENV};
use crate::error::DataError;
use crate::idx::Idx;

/// Side of a square image in pixels.
///
/// ```
/// assert_eq!(ae_toolkit::data::IMAGE_SIDE, 28);
/// ```
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image: the input and output width of every model in the book.
///
/// ```
/// use ae_toolkit::data::{IMAGE_SIDE, PIXELS};
/// assert_eq!(PIXELS, IMAGE_SIDE * IMAGE_SIDE);
/// assert_eq!(PIXELS, 784);
/// ```
pub const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Training images in the shipped subset.
///
/// ```
/// use ae_toolkit::data::{embedded, DatasetKind, SUBSET_TRAIN};
/// assert_eq!(SUBSET_TRAIN, 2_000);
/// assert_eq!(embedded(DatasetKind::FashionMnist).train.len(), SUBSET_TRAIN);
/// ```
pub const SUBSET_TRAIN: usize = 2_000;
/// Test images in the shipped subset.
///
/// ```
/// use ae_toolkit::data::{embedded, DatasetKind, SUBSET_TEST};
/// assert_eq!(SUBSET_TEST, 500);
/// assert_eq!(embedded(DatasetKind::Mnist).test.len(), SUBSET_TEST);
/// ```
pub const SUBSET_TEST: usize = 500;

/// Images as `f32` in `[0, 1]`, row-major, `PIXELS` per image, with their labels.
///
/// ```
/// use ae_toolkit::data::{Dataset, PIXELS};
/// // Two images: one black, one white.
/// let mut images = vec![0.0; PIXELS];
/// images.extend(vec![1.0; PIXELS]);
/// let d = Dataset { images, labels: vec![0, 1] };
/// assert_eq!(d.len(), 2);
/// assert_eq!(d.image(1)[0], 1.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `len() · PIXELS` pixel values in `[0, 1]`.
    pub images: Vec<f32>,
    /// One label in `0..10` per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
    /// let test = embedded(DatasetKind::Mnist).test;
    /// assert_eq!(test.len(), 500);
    /// assert_eq!(test.images.len(), test.len() * PIXELS);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let test = embedded(DatasetKind::Mnist).test;
    /// assert!(!test.is_empty());
    /// assert!(test.head(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
    /// let train = embedded(DatasetKind::Mnist).train;
    /// let five = train.image(0); // the first MNIST digit, a 5
    /// assert_eq!(five, &train.images[..PIXELS]);
    /// assert!(five.iter().all(|p| (0.0..=1.0).contains(p)));
    /// assert!(five.iter().filter(|&&p| p > 0.5).count() > 50); // a stroke, not a blank
    /// ```
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The pixels of the images at `indices`, one after another.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
    /// let test = embedded(DatasetKind::Mnist).test;
    /// let two = test.gather(&[3, 0]);
    /// assert_eq!(two.len(), 2 * PIXELS);
    /// assert_eq!(&two[PIXELS..], test.image(0));
    /// ```
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        let mut pixels = Vec::with_capacity(indices.len() * PIXELS);
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        pixels
    }

    /// The first `n` images (all if fewer).
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let test = embedded(DatasetKind::Mnist).test;
    /// let three = test.head(3);
    /// assert_eq!(three.labels, test.labels[..3]);
    /// assert_eq!(three.image(2), test.image(2));
    /// assert_eq!(test.head(1_000_000).len(), 500);
    /// ```
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// The images (and labels) at `indices`, in that order.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let test = embedded(DatasetKind::Mnist).test;
    /// // Every test image except the sevens.
    /// let keep: Vec<usize> = (0..test.len()).filter(|&i| test.labels[i] != 7).collect();
    /// let no_sevens = test.select(&keep);
    /// assert!(!no_sevens.labels.contains(&7) && no_sevens.len() < test.len());
    /// assert_eq!(no_sevens.image(0), test.image(keep[0]));
    /// ```
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            images: self.gather(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Rescales pixels from `[0, 1]` to `[-1, 1]` (`2x − 1`), the normalisation some tutorials use.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let d = embedded(DatasetKind::Mnist).test.head(10);
    /// let s = d.clone().to_symmetric_range();
    /// assert!(s.images.iter().zip(&d.images).all(|(s, p)| *s == 2.0 * p - 1.0));
    /// let (lo, hi) = s.images.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    /// assert_eq!((lo, hi), (-1.0, 1.0)); // black background, saturated strokes
    /// assert_eq!(s.labels, d.labels);
    /// ```
    pub fn to_symmetric_range(mut self) -> Dataset {
        self.images.iter_mut().for_each(|p| *p = 2.0 * *p - 1.0);
        self
    }

    fn from_idx(
        images: Idx,
        labels: Idx,
        images_name: &str,
        labels_name: &str,
    ) -> Result<Self, DataError> {
        if (images.rows, images.cols) != (IMAGE_SIDE, IMAGE_SIDE) {
            return Err(DataError::WrongShape {
                file: images_name.to_string(),
                rows: images.rows,
                cols: images.cols,
            });
        }
        if images.count != labels.count {
            return Err(DataError::CountMismatch {
                images: images_name.to_string(),
                n_images: images.count,
                labels: labels_name.to_string(),
                n_labels: labels.count,
            });
        }
        if let Some(bad) = labels.data.iter().find(|&&l| l > 9) {
            return Err(DataError::Corrupt {
                file: labels_name.to_string(),
                problem: format!("label {bad} is outside 0..=9"),
            });
        }
        Ok(Dataset {
            images: images.data.iter().map(|&p| p as f32 / 255.0).collect(),
            labels: labels.data,
        })
    }
}

/// Where a loaded data set came from.
///
/// ```
/// use ae_toolkit::data::{embedded, DataSource, DatasetKind};
/// assert_eq!(embedded(DatasetKind::Mnist).source, DataSource::Embedded);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// Full files from this directory.
    Full(PathBuf),
    /// The subset compiled into this crate.
    Embedded,
}

/// A data set's training and test splits.
///
/// A smaller set for quick experiments is a struct update away:
///
/// ```
/// use ae_toolkit::data::{embedded, DataSplits, DatasetKind};
/// let full = embedded(DatasetKind::Mnist);
/// let small = DataSplits { train: full.train.head(200), test: full.test.head(50), ..full };
/// assert_eq!((small.train.len(), small.test.len()), (200, 50));
/// assert_eq!(small.kind, DatasetKind::Mnist);
/// ```
#[derive(Clone, Debug)]
pub struct DataSplits {
    /// Which data set.
    pub kind: DatasetKind,
    /// Training images.
    pub train: Dataset,
    /// Test images.
    pub test: Dataset,
    /// Full files or the embedded subset.
    pub source: DataSource,
}

impl DataSplits {
    /// Both splits rescaled from `[0, 1]` to `[−1, 1]` (see [`Dataset::to_symmetric_range`]).
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let d = embedded(DatasetKind::FashionMnist).to_symmetric_range();
    /// assert!(d.train.images.iter().chain(&d.test.images).all(|&p| (-1.0..=1.0).contains(&p)));
    /// assert_eq!(d.test.images.iter().cloned().fold(f32::MAX, f32::min), -1.0);
    /// ```
    pub fn to_symmetric_range(self) -> DataSplits {
        DataSplits {
            train: self.train.to_symmetric_range(),
            test: self.test.to_symmetric_range(),
            ..self
        }
    }

    /// A validation split: the first `train.len() − held_out` training images to train on, the
    /// last `held_out` in place of the test images (which are left out), so that choices made
    /// on it never see the test set. Fails unless `0 < held_out < train.len()`.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let data = embedded(DatasetKind::Mnist);
    /// let v = data.hold_out(500).unwrap();
    /// assert_eq!((v.train.len(), v.test.len()), (1500, 500));
    /// assert_eq!(v.train.image(0), data.train.image(0));
    /// assert_eq!(v.test.image(0), data.train.image(1500));
    /// assert_eq!(v.test.image(499), data.train.image(1999));
    /// assert!(data.hold_out(0).is_err() && data.hold_out(2000).is_err());
    /// ```
    pub fn hold_out(&self, held_out: usize) -> anyhow::Result<DataSplits> {
        let n = self.train.len();
        anyhow::ensure!(
            held_out > 0 && held_out < n,
            "cannot hold out {held_out} of {n} training images: hold out at least one and leave \
             at least one to train on"
        );
        Ok(DataSplits {
            kind: self.kind,
            train: self.train.select(&(0..n - held_out).collect::<Vec<_>>()),
            test: self.train.select(&(n - held_out..n).collect::<Vec<_>>()),
            source: self.source.clone(),
        })
    }

    /// What the data is, without where it came from: for result tables and plot titles.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// assert_eq!(
    ///     embedded(DatasetKind::Mnist).title(),
    ///     "MNIST embedded subset (2000 train / 500 test)"
    /// );
    /// ```
    pub fn title(&self) -> String {
        let kind = match self.source {
            DataSource::Full(_) => "full set",
            DataSource::Embedded => "embedded subset",
        };
        format!(
            "{} {kind} ({} train / {} test)",
            self.kind,
            self.train.len(),
            self.test.len()
        )
    }

    /// What was loaded and where it came from (the directory of a full set), in one line: for logs.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// assert_eq!(
    ///     embedded(DatasetKind::FashionMnist).provenance(),
    ///     "Fashion-MNIST embedded subset: 2000 train / 500 test images"
    /// );
    /// ```
    pub fn provenance(&self) -> String {
        let what = match &self.source {
            DataSource::Full(dir) => format!("full set from {}", dir.display()),
            DataSource::Embedded => "embedded subset".to_string(),
        };
        format!(
            "{} {what}: {} train / {} test images",
            self.kind,
            self.train.len(),
            self.test.len()
        )
    }
}

/// The subset shipped in this crate: the first 2,000 training and 500 test images.
///
/// ```
/// use ae_toolkit::data::{embedded, DatasetKind, PIXELS};
/// let mnist = embedded(DatasetKind::Mnist);
/// assert_eq!((mnist.train.len(), mnist.test.len()), (2_000, 500));
/// assert_eq!(mnist.train.labels[0], 5); // the famous first MNIST digit
/// assert_eq!(mnist.train.image(0).len(), PIXELS);
/// ```
pub fn embedded(kind: DatasetKind) -> DataSplits {
    let files = kind.files();
    let parsed: Vec<Idx> = kind
        .embedded()
        .iter()
        .zip(&files)
        .map(|(bytes, f)| Idx::parse(bytes, f.kind, &format!("embedded {}", f.name)))
        .collect::<Result<_, _>>()
        .expect("the embedded subset is checked by this crate's tests");
    let mut parsed = parsed.into_iter();
    let mut next = || parsed.next().unwrap();
    let (tri, trl, tei, tel) = (next(), next(), next(), next());
    DataSplits {
        kind,
        train: Dataset::from_idx(tri, trl, files[0].name, files[1].name).expect("embedded train"),
        test: Dataset::from_idx(tei, tel, files[2].name, files[3].name).expect("embedded test"),
        source: DataSource::Embedded,
    }
}

/// Loads a data set from `dir`, falling back to the embedded subset (with a notice on stderr)
/// when the directory holds none of its files. Any bad or missing-but-expected file is an error,
/// and so is a directory given by `--data-dir` or `AE_DATA_DIR` that does not exist.
///
/// ```
/// use ae_toolkit::data::{load, DataDir, DataDirOrigin, DataSource, DatasetKind};
/// use ae_toolkit::error::DataError;
/// let empty = tempfile::tempdir().unwrap();
/// let dir = DataDir { path: empty.path().into(), origin: DataDirOrigin::Flag };
/// let data = load(DatasetKind::Mnist, &dir).unwrap();
/// assert_eq!((data.source, data.train.len()), (DataSource::Embedded, 2_000));
///
/// let typo = DataDir { path: empty.path().join("no-such-dir"), origin: DataDirOrigin::Flag };
/// let err = load(DatasetKind::Mnist, &typo).unwrap_err();
/// assert!(matches!(err, DataError::NoSuchDir { .. }));
/// assert!(err.to_string().contains("(from --data-dir) does not exist"), "{err}");
///
/// // One file of four is an error, not a silent fallback.
/// std::fs::create_dir(empty.path().join("mnist")).unwrap();
/// std::fs::write(empty.path().join("mnist/train-images-idx3-ubyte.gz"), b"").unwrap();
/// let err = load(DatasetKind::Mnist, &dir).unwrap_err();
/// assert!(err.to_string().contains("holds only part of MNIST"), "{err}");
/// ```
pub fn load(kind: DatasetKind, dir: &DataDir) -> Result<DataSplits, DataError> {
    if dir.origin != DataDirOrigin::Default && !dir.path.is_dir() {
        return Err(DataError::NoSuchDir {
            dir: dir.path.display().to_string(),
            origin: match dir.origin {
                DataDirOrigin::Flag => "--data-dir",
                _ => DATA_DIR_ENV,
            }
            .to_string(),
        });
    }
    let set_dir = dir.dataset_dir(kind);
    let files = kind.files();
    let found: Vec<Option<PathBuf>> = files.iter().map(|f| f.find_in(&set_dir)).collect();
    if found.iter().all(Option::is_none) {
        eprintln!(
            "note: no {kind} files in {} (data directory: {}); using the embedded subset of {} \
             train / {} test images. Run `cargo xtask fetch-data` for the full set.",
            set_dir.display(),
            dir.origin_text(),
            SUBSET_TRAIN,
            SUBSET_TEST
        );
        return Ok(embedded(kind));
    }
    if found.iter().any(Option::is_none) {
        let missing: Vec<&str> = files
            .iter()
            .zip(&found)
            .filter(|(_, p)| p.is_none())
            .map(|(f, _)| f.name)
            .collect();
        return Err(DataError::Incomplete {
            dir: set_dir.display().to_string(),
            dataset: kind.to_string(),
            missing: missing.join(", "),
        });
    }
    let paths: Vec<PathBuf> = found.into_iter().flatten().collect();
    let read = |i: usize| Idx::read(&paths[i], files[i].kind);
    let name = |i: usize| paths[i].display().to_string();
    let train = Dataset::from_idx(read(0)?, read(1)?, &name(0), &name(1))?;
    let test = Dataset::from_idx(read(2)?, read(3)?, &name(2), &name(3))?;
    eprintln!(
        "data: {kind} full set from {} ({})",
        set_dir.display(),
        dir.origin_text()
    );
    Ok(DataSplits {
        kind,
        train,
        test,
        source: DataSource::Full(set_dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_subsets_are_real_and_complete() {
        for kind in DatasetKind::ALL {
            let s = embedded(kind);
            assert_eq!(s.train.len(), SUBSET_TRAIN);
            assert_eq!(s.test.len(), SUBSET_TEST);
            assert_eq!(s.train.images.len(), SUBSET_TRAIN * PIXELS);
            // Every class appears, and pixel values span the full range like the originals.
            for c in 0..10 {
                assert!(s.train.labels.contains(&c), "{kind}: class {c} missing");
            }
            let max = s.train.images.iter().cloned().fold(0.0f32, f32::max);
            assert_eq!(max, 1.0);
        }
        // The first training labels of the originals.
        assert_eq!(
            &embedded(DatasetKind::Mnist).train.labels[..5],
            &[5, 0, 4, 1, 9]
        );
        assert_eq!(
            &embedded(DatasetKind::FashionMnist).train.labels[..5],
            &[9, 0, 0, 3, 0]
        );
    }

    #[test]
    fn symmetric_range_maps_0_1_to_minus1_1() {
        let d = Dataset {
            images: vec![0.0, 0.5, 1.0],
            labels: vec![],
        };
        assert_eq!(d.to_symmetric_range().images, vec![-1.0, 0.0, 1.0]);
    }
}
