//! The IDX file format of MNIST and Fashion-MNIST: validated before anything is read from it.
//!
//! An IDX file is a big-endian header followed by raw `u8` values:
//! images are `0x00000803, count, rows, cols` then `count·rows·cols` bytes; labels are
//! `0x00000801, count` then `count` bytes. Files may be gzip-compressed (`.gz`).
//!
//! The `mnist` crate (0.6) was the first choice here, but it panics on every bad file and accepts
//! only the full 60,000/10,000-image sets, so it can read neither a subset nor report a
//! truncated download. Checking the header against the file size *is* the parse, so it lives here.
//!
//! A header is three untrusted numbers whose product says how much to read. So the reader
//! accepts only 28×28 images (the MNIST family's shape) before multiplying anything, multiplies
//! with overflow checks, compares the promise with the file's size before reading a plain file,
//! and never decompresses more than the header promises plus one byte — a few kilobytes of gzip
//! cannot make it allocate gigabytes.
//!
//! ```
//! use mnist_idx::{Idx, IdxError, IdxKind};
//! // A header claiming 2³²−1 images of 65535×65535 pixels, followed by nothing.
//! let mut hostile = vec![0, 0, 8, 3];
//! for field in [u32::MAX, 65535, 65535] {
//!     hostile.extend_from_slice(&field.to_be_bytes());
//! }
//! let err = Idx::parse(&hostile, IdxKind::Images, "bad-images").unwrap_err();
//! assert!(matches!(err, IdxError::WrongShape { rows: 65535, cols: 65535, .. }), "{err}");
//! ```
#![warn(missing_docs)]

use std::io::{self, Read};
use std::path::Path;

/// Magic number of an IDX file holding `u8` images (3 dimensions).
///
/// ```
/// use mnist_idx::{Idx, IdxKind, IMAGES_MAGIC};
/// let one = Idx { kind: IdxKind::Images, count: 1, rows: 2, cols: 2, data: vec![0, 64, 128, 255] };
/// assert_eq!(one.to_bytes()[..4], IMAGES_MAGIC.to_be_bytes());
/// ```
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file holding `u8` labels (1 dimension).
///
/// ```
/// use mnist_idx::{Idx, IdxKind, LABELS_MAGIC};
/// let two = Idx { kind: IdxKind::Labels, count: 2, rows: 1, cols: 1, data: vec![5, 0] };
/// assert_eq!(two.to_bytes()[..4], LABELS_MAGIC.to_be_bytes());
/// ```
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Rows and columns of every image the reader accepts.
///
/// ```
/// assert_eq!(mnist_idx::IMAGE_SIDE, 28);
/// ```
pub const IMAGE_SIDE: usize = 28;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Largest buffer reserved up front for a gzip'd payload. The header's promise is only an upper
/// bound until the bytes arrive, so a bigger payload grows the buffer as it is decompressed
/// (MNIST's largest file, 47 MB, still needs a single allocation).
const GZIP_INITIAL_CAPACITY: usize = 64 << 20;

/// What is wrong with an IDX file; every message names the file.
///
/// ```
/// use mnist_idx::{Idx, IdxError, IdxKind};
/// let labels = Idx { kind: IdxKind::Labels, count: 3, rows: 1, cols: 1, data: vec![7, 2, 1] };
/// let err = Idx::parse(&labels.to_bytes()[..10], IdxKind::Labels, "t10k-labels").unwrap_err();
/// assert!(matches!(err, IdxError::Corrupt { .. }));
/// let msg = err.to_string();
/// assert!(msg.starts_with("t10k-labels is corrupt") && msg.contains("it is truncated"), "{msg}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdxError {
    /// The file cannot be opened or read.
    #[error("cannot read {file}: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// What the OS said.
        reason: String,
    },
    /// The bytes are not a valid IDX file of the expected kind.
    #[error("{file} is corrupt: {problem}")]
    Corrupt {
        /// The file.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An images file whose images are not 28×28.
    #[error("{file} holds {rows}×{cols} images; this book's models take 28×28")]
    WrongShape {
        /// The file.
        file: String,
        /// Rows per image, as the header says.
        rows: usize,
        /// Columns per image, as the header says.
        cols: usize,
    },
}

/// What an IDX file holds.
///
/// Parsing checks that the file holds what the caller expects:
///
/// ```
/// use mnist_idx::{Idx, IdxKind};
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

    /// Bytes before the payload: the magic number and one `u32` per dimension.
    ///
    /// ```
    /// use mnist_idx::IdxKind;
    /// assert_eq!((IdxKind::Images.header_len(), IdxKind::Labels.header_len()), (16, 8));
    /// ```
    pub fn header_len(self) -> usize {
        match self {
            IdxKind::Images => 16,
            IdxKind::Labels => 8,
        }
    }
}

/// A validated IDX file: its shape and its payload.
///
/// The fields are public so that tests can build small files of any shape and write them with
/// [`Idx::to_bytes`]; reading one back requires 28×28 images.
///
/// ```
/// use mnist_idx::{Idx, IdxKind};
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

/// How the IDX bytes are stored, which decides what a read error means.
#[derive(Clone, Copy)]
enum Encoding {
    /// Raw bytes, whose total length is known when it comes from a slice or a file.
    Plain {
        len: Option<u64>,
    },
    Gzip,
}

impl Encoding {
    /// What the IDX bytes are called in messages.
    fn noun(self) -> &'static str {
        match self {
            Encoding::Plain { .. } => "the file has",
            Encoding::Gzip => "the gzip stream decompresses to",
        }
    }

    /// An I/O error while reading: the OS's fault for a plain file, the data's for gzip.
    fn read_error(self, e: io::Error, origin: &str) -> IdxError {
        match self {
            Encoding::Plain { .. } => IdxError::Unreadable {
                file: origin.to_string(),
                reason: e.to_string(),
            },
            Encoding::Gzip => IdxError::Corrupt {
                file: origin.to_string(),
                problem: format!("gzip stream is damaged or truncated ({e})"),
            },
        }
    }
}

impl Idx {
    /// Parses raw or gzip-compressed IDX bytes, checking magic number, dimensions and length.
    /// `origin` names the file in error messages.
    ///
    /// ```
    /// use mnist_idx::{Idx, IdxKind};
    /// let labels = Idx { kind: IdxKind::Labels, count: 3, rows: 1, cols: 1, data: vec![7, 2, 1] };
    /// let bytes = labels.to_bytes();
    /// assert_eq!(Idx::parse(&bytes, IdxKind::Labels, "labels").unwrap(), labels);
    /// assert!(Idx::parse(&bytes[..9], IdxKind::Labels, "labels").is_err());
    /// ```
    pub fn parse(bytes: &[u8], kind: IdxKind, origin: &str) -> Result<Idx, IdxError> {
        decode(bytes, Some(bytes.len() as u64), kind, origin)
    }

    /// Reads and parses a file, naming it in every error. It reads no more than the header
    /// promises (plus one byte, to notice a file that is too long).
    ///
    /// ```
    /// use mnist_idx::{Idx, IdxError, IdxKind};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("labels-idx1-ubyte");
    /// let labels = Idx { kind: IdxKind::Labels, count: 3, rows: 1, cols: 1, data: vec![7, 2, 1] };
    /// std::fs::write(&path, labels.to_bytes()).unwrap();
    /// assert_eq!(Idx::read(&path, IdxKind::Labels).unwrap(), labels);
    ///
    /// let missing = dir.path().join("images-idx3-ubyte");
    /// let err = Idx::read(&missing, IdxKind::Images).unwrap_err();
    /// assert!(matches!(err, IdxError::Unreadable { .. }));
    /// assert!(err.to_string().contains("images-idx3-ubyte"));
    /// ```
    pub fn read(path: &Path, kind: IdxKind) -> Result<Idx, IdxError> {
        let origin = path.display().to_string();
        let unreadable = |e: io::Error| IdxError::Unreadable {
            file: origin.clone(),
            reason: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let len = file.metadata().map_err(unreadable)?.len();
        decode(io::BufReader::new(file), Some(len), kind, &origin)
    }

    /// Serialises to uncompressed IDX bytes.
    ///
    /// ```
    /// use mnist_idx::{Idx, IdxKind};
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
    /// use mnist_idx::{Idx, IdxKind};
    /// let images = Idx { kind: IdxKind::Images, count: 3, rows: 1, cols: 2, data: vec![1, 2, 3, 4, 5, 6] };
    /// let first_two = images.head(2);
    /// assert_eq!((first_two.count, first_two.data), (2, vec![1, 2, 3, 4]));
    /// assert_eq!(images.head(10), images);
    /// ```
    pub fn head(&self, n: usize) -> Idx {
        let n = n.min(self.count);
        // The fields are public, so an `Idx` built by hand may disagree with its data: cut at
        // what the data holds rather than trust the product.
        let len = n
            .checked_mul(self.rows)
            .and_then(|x| x.checked_mul(self.cols))
            .map_or(self.data.len(), |len| len.min(self.data.len()));
        Idx {
            count: n,
            data: self.data[..len].to_vec(),
            ..self.clone()
        }
    }
}

/// Reads into `buf` until it is full or the input ends; returns how many bytes arrived.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Sniffs for gzip, then decodes. `len` is the input's length when known.
fn decode(
    mut input: impl Read,
    len: Option<u64>,
    kind: IdxKind,
    origin: &str,
) -> Result<Idx, IdxError> {
    let mut start = [0u8; 2];
    let got = read_up_to(&mut input, &mut start).map_err(|e| IdxError::Unreadable {
        file: origin.to_string(),
        reason: e.to_string(),
    })?;
    // The sniffed bytes are put back in front of the rest of the stream.
    let input = (&start[..got]).chain(input);
    if start[..got] == GZIP_MAGIC {
        decode_idx(
            flate2::read::GzDecoder::new(input),
            Encoding::Gzip,
            kind,
            origin,
        )
    } else {
        decode_idx(input, Encoding::Plain { len }, kind, origin)
    }
}

/// Reads the header, checks it, then reads exactly the payload it promises.
fn decode_idx(
    mut input: impl Read,
    encoding: Encoding,
    kind: IdxKind,
    origin: &str,
) -> Result<Idx, IdxError> {
    let corrupt = |problem: String| IdxError::Corrupt {
        file: origin.to_string(),
        problem,
    };
    let header_len = kind.header_len();
    let mut header = [0u8; 16];
    let got = read_up_to(&mut input, &mut header[..header_len])
        .map_err(|e| encoding.read_error(e, origin))?;
    if got < header_len {
        let total = match encoding {
            Encoding::Plain { len: Some(len) } => len,
            _ => got as u64,
        };
        return Err(corrupt(match encoding {
            Encoding::Plain { .. } => {
                format!("file is {total} bytes, shorter than the {header_len}-byte IDX header")
            }
            Encoding::Gzip => format!(
                "the gzip stream decompresses to {total} bytes, shorter than the \
                 {header_len}-byte IDX header"
            ),
        }));
    }
    let word = |i: usize| {
        u32::from_be_bytes([
            header[4 * i],
            header[4 * i + 1],
            header[4 * i + 2],
            header[4 * i + 3],
        ])
    };
    let magic = word(0);
    if magic != kind.magic() {
        let found = match magic {
            IMAGES_MAGIC => " (that of an images file)",
            LABELS_MAGIC => " (that of a labels file)",
            _ => "",
        };
        return Err(corrupt(format!(
            "magic number is {magic:#010x}{found}, expected {:#010x} for {kind:?}",
            kind.magic()
        )));
    }
    let count = u64::from(word(1));
    let (rows, cols) = match kind {
        IdxKind::Images => (u64::from(word(2)), u64::from(word(3))),
        IdxKind::Labels => (1, 1),
    };
    // Refuse a shape this reader does not serve before multiplying anything by it.
    if kind == IdxKind::Images && (rows, cols) != (IMAGE_SIDE as u64, IMAGE_SIDE as u64) {
        return Err(IdxError::WrongShape {
            file: origin.to_string(),
            rows: rows as usize,
            cols: cols as usize,
        });
    }
    // With 28×28 and a 32-bit count this cannot overflow a u64; checked all the same, so that a
    // future change of the shape rule cannot bring back the wrapping product.
    let promised = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .and_then(|payload| {
            payload
                .checked_add(header_len as u64)
                .map(|total| (payload, total))
        });
    let Some((payload, total)) = promised else {
        return Err(corrupt(format!(
            "header promises {count} items of {rows}×{cols}, more bytes than a 64-bit size can \
             count"
        )));
    };
    let promise = format!("header promises {count} items of {rows}×{cols} ({total} bytes in all)");
    let truncated = |actual: u64| {
        corrupt(format!(
            "{promise} but {} {actual} bytes{}",
            encoding.noun(),
            if actual < total {
                " — it is truncated"
            } else {
                ""
            }
        ))
    };
    // A plain file's size is known: a mismatch is reported without reading the payload at all.
    if let Encoding::Plain { len: Some(len) } = encoding {
        if len != total {
            return Err(truncated(len));
        }
    }
    let payload_len = usize::try_from(payload)
        .map_err(|_| corrupt(format!("{promise}, more than this machine can address")))?;
    let capacity = match encoding {
        // Already checked against the real file size.
        Encoding::Plain { len: Some(_) } => payload_len,
        _ => payload_len.min(GZIP_INITIAL_CAPACITY),
    };
    let mut data = Vec::new();
    data.try_reserve_exact(capacity)
        .map_err(|_| corrupt(format!("{promise}, more than fits in memory")))?;
    // One byte more than promised tells "too long" from "exactly right"; for gzip, reaching the
    // end of the stream is also what makes the decoder check its CRC.
    input
        .take(payload + 1)
        .read_to_end(&mut data)
        .map_err(|e| match e.kind() {
            io::ErrorKind::OutOfMemory => corrupt(format!("{promise}, more than fits in memory")),
            _ => encoding.read_error(e, origin),
        })?;
    let actual = header_len as u64 + data.len() as u64;
    if data.len() as u64 > payload {
        return Err(corrupt(format!(
            "{} more bytes than the header promises ({count} items of {rows}×{cols}, {total} \
             bytes in all); reading stopped there",
            match encoding {
                Encoding::Plain { .. } => "the file holds",
                Encoding::Gzip => "the gzip stream decompresses to",
            }
        )));
    }
    if (data.len() as u64) < payload {
        return Err(truncated(actual));
    }
    Ok(Idx {
        kind,
        count: count as usize,
        rows: rows as usize,
        cols: cols as usize,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: usize) -> Idx {
        Idx {
            kind: IdxKind::Images,
            count,
            rows: IMAGE_SIDE,
            cols: IMAGE_SIDE,
            data: (0..count * IMAGE_SIDE * IMAGE_SIDE)
                .map(|i| i as u8)
                .collect(),
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
        assert_eq!(raw.len(), 16 + 4 * 784);
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
        assert_eq!(h.data, images(4).data[..2 * 784]);
    }
}

#[cfg(test)]
mod hostile_tests;
