//! The IDX file format of MNIST and Fashion-MNIST: validated before anything is read from it.
//!
//! An IDX file is a big-endian header followed by raw `u8` values:
//! images are `0x00000803, count, rows, cols` then `count·rows·cols` bytes; labels are
//! `0x00000801, count` then `count` bytes. Files may be gzip-compressed (`.gz`).
//!
//! The `mnist` crate (0.6) was the first choice here, but it panics on every bad file and accepts
//! only the full 60,000/10,000-image sets, so it can read neither the shipped subset nor report a
//! truncated download. Checking the header against the file size *is* the parse, so it lives here.

use std::io::Read;
use std::path::Path;

use crate::error::DataError;

/// Magic number of an IDX file holding `u8` images (3 dimensions).
///
/// ```
/// use ae_toolkit::idx::{Idx, IdxKind, IMAGES_MAGIC};
/// let one = Idx { kind: IdxKind::Images, count: 1, rows: 2, cols: 2, data: vec![0, 64, 128, 255] };
/// assert_eq!(one.to_bytes()[..4], IMAGES_MAGIC.to_be_bytes());
/// ```
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file holding `u8` labels (1 dimension).
///
/// ```
/// use ae_toolkit::idx::{Idx, IdxKind, LABELS_MAGIC};
/// let two = Idx { kind: IdxKind::Labels, count: 2, rows: 1, cols: 1, data: vec![5, 0] };
/// assert_eq!(two.to_bytes()[..4], LABELS_MAGIC.to_be_bytes());
/// ```
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// What an IDX file holds.
///
/// Parsing checks that the file holds what the caller expects:
///
/// ```
/// use ae_toolkit::idx::{Idx, IdxKind};
/// let labels = Idx { kind: IdxKind::Labels, count: 8, rows: 1, cols: 1, data: vec![5; 8] };
/// let err = Idx::parse(&labels.to_bytes(), IdxKind::Images, "x").unwrap_err();
/// assert!(err.to_string().contains("that of a labels file"), "{err}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// `count × rows × cols` pixels.
    Images,
    /// `count` class labels.
    Labels,
}

impl IdxKind {
    fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGES_MAGIC,
            IdxKind::Labels => LABELS_MAGIC,
        }
    }
    fn header_len(self) -> usize {
        match self {
            IdxKind::Images => 16,
            IdxKind::Labels => 8,
        }
    }
}

/// A validated IDX file: its shape and its payload.
///
/// ```
/// use ae_toolkit::idx::{Idx, IdxKind};
/// // Two 2×3 images.
/// let images = Idx { kind: IdxKind::Images, count: 2, rows: 2, cols: 3, data: (0..12).collect() };
/// assert_eq!(images.data.len(), images.count * images.rows * images.cols);
/// assert_eq!(images.to_bytes().len(), 16 + 12); // 16-byte header
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Images or labels.
    pub kind: IdxKind,
    /// Number of items.
    pub count: usize,
    /// Rows per image (1 for labels).
    pub rows: usize,
    /// Columns per image (1 for labels).
    pub cols: usize,
    /// `count · rows · cols` bytes.
    pub data: Vec<u8>,
}

impl Idx {
    /// Parses raw or gzip-compressed IDX bytes, checking magic number, dimensions and length.
    /// `origin` names the file in error messages.
    ///
    /// ```
    /// use ae_toolkit::idx::{Idx, IdxKind};
    /// let labels = Idx { kind: IdxKind::Labels, count: 3, rows: 1, cols: 1, data: vec![7, 2, 1] };
    /// let bytes = labels.to_bytes();
    /// assert_eq!(Idx::parse(&bytes, IdxKind::Labels, "labels").unwrap(), labels);
    /// assert!(Idx::parse(&bytes[..9], IdxKind::Labels, "labels").is_err());
    /// ```
    pub fn parse(bytes: &[u8], kind: IdxKind, origin: &str) -> Result<Idx, DataError> {
        let corrupt = |problem: String| DataError::Corrupt {
            file: origin.to_string(),
            problem,
        };
        let raw;
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(format!("gzip stream is damaged or truncated ({e})")))?;
            raw = out;
            &raw[..]
        } else {
            bytes
        };
        let header_len = kind.header_len();
        if bytes.len() < header_len {
            return Err(corrupt(format!(
                "file is {} bytes, shorter than the {header_len}-byte IDX header",
                bytes.len()
            )));
        }
        let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        let magic = word(0);
        if magic != kind.magic() {
            let found = match magic {
                IMAGES_MAGIC => " (that of an images file)".to_string(),
                LABELS_MAGIC => " (that of a labels file)".to_string(),
                _ => String::new(),
            };
            return Err(corrupt(format!(
                "magic number is {magic:#010x}{found}, expected {:#010x} for {kind:?}",
                kind.magic()
            )));
        }
        let count = word(1) as usize;
        let (rows, cols) = match kind {
            IdxKind::Images => (word(2) as usize, word(3) as usize),
            IdxKind::Labels => (1, 1),
        };
        let expected = header_len + count * rows * cols;
        if bytes.len() != expected {
            return Err(corrupt(format!(
                "header promises {count} items of {rows}×{cols} ({expected} bytes in all) but the \
                 file has {} bytes{}",
                bytes.len(),
                if bytes.len() < expected {
                    " — it is truncated"
                } else {
                    ""
                }
            )));
        }
        Ok(Idx {
            kind,
            count,
            rows,
            cols,
            data: bytes[header_len..].to_vec(),
        })
    }

    /// Reads and parses a file, naming it in every error.
    ///
    /// ```
    /// use ae_toolkit::{error::DataError, idx::{Idx, IdxKind}};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("labels-idx1-ubyte");
    /// let labels = Idx { kind: IdxKind::Labels, count: 3, rows: 1, cols: 1, data: vec![7, 2, 1] };
    /// std::fs::write(&path, labels.to_bytes()).unwrap();
    /// assert_eq!(Idx::read(&path, IdxKind::Labels).unwrap(), labels);
    ///
    /// let missing = dir.path().join("images-idx3-ubyte");
    /// let err = Idx::read(&missing, IdxKind::Images).unwrap_err();
    /// assert!(matches!(err, DataError::Unreadable { .. }));
    /// assert!(err.to_string().contains("images-idx3-ubyte"));
    /// ```
    pub fn read(path: &Path, kind: IdxKind) -> Result<Idx, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::Unreadable {
            file: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Idx::parse(&bytes, kind, &path.display().to_string())
    }

    /// Serialises to uncompressed IDX bytes.
    ///
    /// ```
    /// use ae_toolkit::idx::{Idx, IdxKind};
    /// let labels = Idx { kind: IdxKind::Labels, count: 2, rows: 1, cols: 1, data: vec![5, 0] };
    /// // Big-endian magic 0x00000801, count 2, then the labels.
    /// assert_eq!(labels.to_bytes(), [0, 0, 8, 1, 0, 0, 0, 2, 5, 0]);
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.kind.header_len() + self.data.len());
        out.extend_from_slice(&self.kind.magic().to_be_bytes());
        out.extend_from_slice(&(self.count as u32).to_be_bytes());
        if self.kind == IdxKind::Images {
            out.extend_from_slice(&(self.rows as u32).to_be_bytes());
            out.extend_from_slice(&(self.cols as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }

    /// The first `n` items (used to cut the shipped subset from the full files).
    ///
    /// ```
    /// use ae_toolkit::idx::{Idx, IdxKind};
    /// let images = Idx { kind: IdxKind::Images, count: 3, rows: 1, cols: 2, data: vec![1, 2, 3, 4, 5, 6] };
    /// let first_two = images.head(2);
    /// assert_eq!((first_two.count, first_two.data), (2, vec![1, 2, 3, 4]));
    /// assert_eq!(images.head(10), images);
    /// ```
    pub fn head(&self, n: usize) -> Idx {
        let n = n.min(self.count);
        Idx {
            count: n,
            data: self.data[..n * self.rows * self.cols].to_vec(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: usize) -> Idx {
        Idx {
            kind: IdxKind::Images,
            count,
            rows: 2,
            cols: 3,
            data: (0..count * 6).map(|i| i as u8).collect(),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn raw_and_gzip_round_trip() {
        let idx = images(4);
        let raw = idx.to_bytes();
        assert_eq!(raw.len(), 16 + 24);
        assert_eq!(Idx::parse(&raw, IdxKind::Images, "x").unwrap(), idx);
        assert_eq!(Idx::parse(&gzip(&raw), IdxKind::Images, "x").unwrap(), idx);
    }

    #[test]
    fn truncated_file_is_named_and_explained() {
        let raw = images(4).to_bytes();
        let err = Idx::parse(&raw[..30], IdxKind::Images, "train.idx").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("train.idx") && msg.contains("truncated"),
            "{msg}"
        );
        let err = Idx::parse(&raw[..10], IdxKind::Images, "t").unwrap_err();
        assert!(
            err.to_string().contains("shorter than the 16-byte"),
            "{err}"
        );
    }

    #[test]
    fn wrong_magic_says_which_file_it_looks_like() {
        let labels = Idx {
            kind: IdxKind::Labels,
            count: 24,
            rows: 1,
            cols: 1,
            data: vec![1; 24],
        };
        let err = Idx::parse(&labels.to_bytes(), IdxKind::Images, "imgs").unwrap_err();
        assert!(err.to_string().contains("that of a labels file"), "{err}");
    }

    #[test]
    fn damaged_gzip_is_an_error_not_a_panic() {
        let gz = gzip(&images(50).to_bytes());
        let err = Idx::parse(&gz[..gz.len() / 2], IdxKind::Images, "x.gz").unwrap_err();
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn head_keeps_the_first_items() {
        let h = images(4).head(2);
        assert_eq!(h.count, 2);
        assert_eq!(h.data, (0..12).collect::<Vec<u8>>());
    }
}
