//! Errors about data, each saying what is wrong, with which file, and how to fix it.

/// How to get good data again; appended to every data error except [`DataError::NoSuchDir`] and
/// [`DataError::Checksum`], which give their own advice.
///
/// ```
/// use ae_toolkit::error::{DataError, FETCH_HINT};
/// assert!(FETCH_HINT.contains("cargo xtask fetch-data"));
/// let e = DataError::Unreadable { file: "data/mnist/t10k-labels-idx1-ubyte".into(), reason: "permission denied".into() };
/// assert!(e.to_string().ends_with(FETCH_HINT));
/// ```
pub const FETCH_HINT: &str = "Fetch the full data sets with `cargo xtask fetch-data` (it verifies \
SHA-256 checksums), or run without --data-dir/AE_DATA_DIR to use the embedded subset.";

/// A problem with a data file or directory.
///
/// Each message names the file and says how to fix it:
///
/// ```
/// use ae_toolkit::error::{DataError, FETCH_HINT};
/// use ae_toolkit::idx::{Idx, IdxKind};
/// let e = DataError::Incomplete {
///     dir: "data/mnist".into(),
///     dataset: "MNIST".into(),
///     missing: "t10k-labels-idx1-ubyte".into(),
/// };
/// assert_eq!(
///     e.to_string(),
///     format!("data/mnist holds only part of MNIST: missing t10k-labels-idx1-ubyte. {FETCH_HINT}")
/// );
/// // What a truncated download turns into:
/// let labels = Idx { kind: IdxKind::Labels, count: 3, rows: 1, cols: 1, data: vec![7, 2, 1] };
/// let err: DataError =
///     Idx::parse(&labels.to_bytes()[..10], IdxKind::Labels, "t10k-labels").unwrap_err().into();
/// assert!(matches!(err, DataError::Corrupt { .. }));
/// let msg = err.to_string();
/// assert!(msg.starts_with("t10k-labels is corrupt") && msg.contains("it is truncated"), "{msg}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file exists but cannot be read.
    #[error("cannot read {file}: {reason}. {FETCH_HINT}")]
    Unreadable {
        /// The file.
        file: String,
        /// What the OS said.
        reason: String,
    },
    /// The file is not a valid IDX file.
    #[error("{file} is corrupt: {problem}. Delete it and fetch it again. {FETCH_HINT}")]
    Corrupt {
        /// The file.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Some but not all of a data set's files are present.
    #[error("{dir} holds only part of {dataset}: missing {missing}. {FETCH_HINT}")]
    Incomplete {
        /// The data set's directory.
        dir: String,
        /// The data set.
        dataset: String,
        /// The missing file names.
        missing: String,
    },
    /// A directory named explicitly does not exist.
    #[error(
        "data directory {dir} (from {origin}) does not exist. Create it with `cargo xtask \
             fetch-data --data-dir {dir}`, or point {origin} elsewhere."
    )]
    NoSuchDir {
        /// The directory.
        dir: String,
        /// Where the directory came from (flag or environment variable).
        origin: String,
    },
    /// Images and labels disagree.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels. {FETCH_HINT}")]
    CountMismatch {
        /// The images file.
        images: String,
        /// Number of images.
        n_images: usize,
        /// The labels file.
        labels: String,
        /// Number of labels.
        n_labels: usize,
    },
    /// Images are not 28×28.
    #[error("{file} holds {rows}×{cols} images; this book's models take 28×28. {FETCH_HINT}")]
    WrongShape {
        /// The file.
        file: String,
        /// Rows per image.
        rows: usize,
        /// Columns per image.
        cols: usize,
    },
    /// A downloaded file does not match its published checksum.
    #[error(
        "{file}: SHA-256 {actual} does not match the expected {expected}; the file was \
             discarded. The source may be damaged or tampered with; try again or another source."
    )]
    Checksum {
        /// The file.
        file: String,
        /// The published checksum.
        expected: String,
        /// The checksum of what arrived.
        actual: String,
    },
}

/// The IDX reader's errors keep their variant and gain the advice on how to get good data.
///
/// ```
/// use ae_toolkit::error::{DataError, FETCH_HINT};
/// use ae_toolkit::idx::{Idx, IdxKind};
/// let mut header = vec![0, 0, 8, 3];
/// for field in [1u32, 32, 32] {
///     header.extend_from_slice(&field.to_be_bytes());
/// }
/// let err = DataError::from(Idx::parse(&header, IdxKind::Images, "images").unwrap_err());
/// assert_eq!(
///     err.to_string(),
///     format!("images holds 32×32 images; this book's models take 28×28. {FETCH_HINT}")
/// );
/// ```
impl From<mnist_idx::IdxError> for DataError {
    fn from(e: mnist_idx::IdxError) -> Self {
        use mnist_idx::IdxError;
        match e {
            IdxError::Unreadable { file, reason } => DataError::Unreadable { file, reason },
            IdxError::Corrupt { file, problem } => DataError::Corrupt { file, problem },
            IdxError::WrongShape { file, rows, cols } => DataError::WrongShape { file, rows, cols },
        }
    }
}
