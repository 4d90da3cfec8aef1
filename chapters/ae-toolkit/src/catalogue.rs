//! The book's two data sets and their files: names, where each is published, and the SHA-256 of
//! every uncompressed file, against which every download and every file found is checked.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::idx::IdxKind;

/// The two data sets of the book.
///
/// ```
/// use ae_toolkit::data::DatasetKind;
/// use clap::ValueEnum;
/// assert_eq!(DatasetKind::FashionMnist.to_string(), "Fashion-MNIST");
/// // The spelling on the command line:
/// assert_eq!(DatasetKind::from_str("fashion-mnist", false), Ok(DatasetKind::FashionMnist));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum DatasetKind {
    /// Handwritten digits (LeCun, Cortes & Burges), CC BY-SA 3.0.
    Mnist,
    /// Zalando's article images, MIT licence.
    FashionMnist,
}

impl DatasetKind {
    /// Both data sets.
    ///
    /// ```
    /// use ae_toolkit::data::DatasetKind;
    /// let names: Vec<String> = DatasetKind::ALL.iter().map(|k| k.to_string()).collect();
    /// assert_eq!(names, ["MNIST", "Fashion-MNIST"]);
    /// ```
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Mnist, DatasetKind::FashionMnist];

    /// Subdirectory of the data directory holding this set.
    ///
    /// ```
    /// use ae_toolkit::data::DatasetKind;
    /// assert_eq!(DatasetKind::Mnist.dir_name(), "mnist");
    /// assert_eq!(DatasetKind::FashionMnist.dir_name(), "fashion-mnist");
    /// ```
    pub fn dir_name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// Human-readable class names, indexed by label.
    ///
    /// ```
    /// use ae_toolkit::data::{embedded, DatasetKind};
    /// let kind = DatasetKind::FashionMnist;
    /// let first = embedded(kind).train.labels[0];
    /// assert_eq!(kind.class_names()[first as usize], "Boot");
    /// assert_eq!(DatasetKind::Mnist.class_names()[7], "7");
    /// ```
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::FashionMnist => [
                "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                "Bag", "Boot",
            ],
        }
    }

    /// The four files of this set with the SHA-256 of their uncompressed bytes.
    ///
    /// ```
    /// use ae_toolkit::{data::{DatasetKind, Split}, idx::IdxKind};
    /// let files = DatasetKind::Mnist.files();
    /// assert_eq!(files[0].name, "train-images-idx3-ubyte");
    /// assert_eq!((files[0].split, files[0].kind), (Split::Train, IdxKind::Images));
    /// assert!(files.iter().all(|f| f.sha256.len() == 64));
    /// // Same file names for Fashion-MNIST, different contents.
    /// let fashion = DatasetKind::FashionMnist.files();
    /// assert!(files.iter().zip(&fashion).all(|(m, f)| m.name == f.name && m.sha256 != f.sha256));
    /// ```
    pub fn files(self) -> [DataFile; 4] {
        use IdxKind::{Images, Labels};
        use Split::{Test, Train};
        let sums = match self {
            DatasetKind::Mnist => [
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ],
            DatasetKind::FashionMnist => [
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ],
        };
        [
            DataFile::new("train-images-idx3-ubyte", Train, Images, sums[0]),
            DataFile::new("train-labels-idx1-ubyte", Train, Labels, sums[1]),
            DataFile::new("t10k-images-idx3-ubyte", Test, Images, sums[2]),
            DataFile::new("t10k-labels-idx1-ubyte", Test, Labels, sums[3]),
        ]
    }

    /// The shipped subset's four gzip'd files, in the order of [`DatasetKind::files`].
    pub(crate) fn embedded(self) -> [&'static [u8]; 4] {
        macro_rules! shipped {
            ($dir:literal) => {
                [
                    include_bytes!(concat!("../data/", $dir, "/train-images-idx3-ubyte.gz")),
                    include_bytes!(concat!("../data/", $dir, "/train-labels-idx1-ubyte.gz")),
                    include_bytes!(concat!("../data/", $dir, "/t10k-images-idx3-ubyte.gz")),
                    include_bytes!(concat!("../data/", $dir, "/t10k-labels-idx1-ubyte.gz")),
                ]
            };
        }
        match self {
            DatasetKind::Mnist => shipped!("mnist"),
            DatasetKind::FashionMnist => shipped!("fashion-mnist"),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        })
    }
}

/// Training or test split.
///
/// ```
/// use ae_toolkit::data::{DatasetKind, Split};
/// let test: Vec<&str> = DatasetKind::Mnist
///     .files()
///     .iter()
///     .filter(|f| f.split == Split::Test)
///     .map(|f| f.name)
///     .collect();
/// assert_eq!(test, ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

/// One of the four files of a data set.
///
/// ```
/// use ae_toolkit::{data::{DatasetKind, Split}, idx::IdxKind};
/// let labels = DatasetKind::Mnist.files()[1];
/// assert_eq!(labels.name, "train-labels-idx1-ubyte");
/// assert_eq!((labels.split, labels.kind), (Split::Train, IdxKind::Labels));
/// assert!(labels.sha256.starts_with("65a50cbb"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// File name without `.gz`.
    pub name: &'static str,
    /// Which split it belongs to.
    pub split: Split,
    /// Images or labels.
    pub kind: IdxKind,
    /// SHA-256 of the uncompressed file, hex.
    pub sha256: &'static str,
}

impl DataFile {
    const fn new(name: &'static str, split: Split, kind: IdxKind, sha256: &'static str) -> Self {
        DataFile {
            name,
            split,
            kind,
            sha256,
        }
    }

    /// The file inside `dir`, raw or `.gz`, if either exists (raw wins).
    ///
    /// ```
    /// use ae_toolkit::data::DatasetKind;
    /// let dir = tempfile::tempdir().unwrap();
    /// let labels = DatasetKind::Mnist.files()[1];
    /// assert_eq!(labels.find_in(dir.path()), None);
    /// let gz = dir.path().join("train-labels-idx1-ubyte.gz");
    /// std::fs::write(&gz, b"").unwrap();
    /// assert_eq!(labels.find_in(dir.path()), Some(gz));
    /// let raw = dir.path().join("train-labels-idx1-ubyte");
    /// std::fs::write(&raw, b"").unwrap();
    /// assert_eq!(labels.find_in(dir.path()), Some(raw));
    /// ```
    pub fn find_in(&self, dir: &Path) -> Option<PathBuf> {
        [self.name.to_string(), format!("{}.gz", self.name)]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    }
}
