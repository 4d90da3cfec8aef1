//! Headers and streams crafted to make a careless reader panic, wrap or allocate without bound.
//! They need the private `decode` to feed an endless stream, hence unit tests.

use std::io::{self, Read, Write};

use super::*;

/// An images header with the given fields, and nothing after it.
fn images_header(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
    for field in [count, rows, cols] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn all_header_fields_at_u32_max_are_an_error_not_an_overflow() {
    // count·rows·cols = (2³²−1)³ overflows even a u64: the old reader multiplied unchecked and
    // panicked here in test builds (and wrapped in release ones).
    let header = images_header(u32::MAX, u32::MAX, u32::MAX);
    for bytes in [header.clone(), gzip(&header)] {
        let err = Idx::parse(&bytes, IdxKind::Images, "imgs").unwrap_err();
        assert_eq!(
            err,
            IdxError::WrongShape {
                file: "imgs".into(),
                rows: u32::MAX as usize,
                cols: u32::MAX as usize
            }
        );
    }
}

#[test]
fn a_header_promising_65535_by_65535_images_is_refused_before_reading_on() {
    let header = images_header(u32::MAX, 65535, 65535);
    for (bytes, name) in [(header.clone(), "plain"), (gzip(&header), "gzip")] {
        let msg = Idx::parse(&bytes, IdxKind::Images, "train-images")
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg, "train-images holds 65535×65535 images; this book's models take 28×28",
            "{name}"
        );
    }
}

#[test]
fn a_header_promising_terabytes_of_28x28_images_is_called_truncated() {
    // 28×28 passes the shape check; the promise, 3.4 TB, is compared with what is there.
    let mut bytes = images_header(u32::MAX, 28, 28);
    bytes.extend_from_slice(&[0; 784]);
    let msg = Idx::parse(&bytes, IdxKind::Images, "imgs")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("header promises 4294967295 items of 28×28 (3367254359296 bytes in all)")
            && msg.contains("the file has 800 bytes — it is truncated"),
        "{msg}"
    );
    let msg = Idx::parse(&gzip(&bytes), IdxKind::Images, "imgs.gz")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("the gzip stream decompresses to 800 bytes — it is truncated"),
        "{msg}"
    );
}

#[test]
fn images_that_are_not_28x28_are_refused_even_when_the_length_agrees() {
    let two_by_three = Idx {
        kind: IdxKind::Images,
        count: 2,
        rows: 2,
        cols: 3,
        data: (0..12).collect(),
    };
    let err = Idx::parse(&two_by_three.to_bytes(), IdxKind::Images, "small").unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::WrongShape {
                rows: 2,
                cols: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_file_longer_than_its_header_says_is_corrupt() {
    let labels = Idx {
        kind: IdxKind::Labels,
        count: 3,
        rows: 1,
        cols: 1,
        data: vec![1, 2, 3],
    };
    let mut bytes = labels.to_bytes();
    bytes.push(4);
    let msg = Idx::parse(&bytes, IdxKind::Labels, "labels")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("header promises 3 items of 1×1 (11 bytes in all) but the file has 12 bytes")
            && !msg.contains("truncated"),
        "{msg}"
    );
    let msg = Idx::parse(&gzip(&bytes), IdxKind::Labels, "labels.gz")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("the gzip stream decompresses to more bytes than the header promises"),
        "{msg}"
    );
}

/// A gzip stream that never ends: an IDX header promising one label, then zeros compressed
/// ~1000:1, repeated forever. It counts the compressed bytes taken from it.
struct EndlessGzip {
    prefix: io::Cursor<Vec<u8>>,
    repeated: Vec<u8>,
    at: usize,
    consumed: u64,
}

impl EndlessGzip {
    fn new(idx_header: &[u8]) -> EndlessGzip {
        // Sync-flushed raw deflate blocks: after the first 32 KiB of zeros, every back-reference
        // of a zeros block points at zeros, so the same compressed block can follow itself.
        let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
        let mut block = |input: &[u8]| {
            let mut out = Vec::with_capacity(input.len() + 64);
            deflate
                .compress_vec(input, &mut out, flate2::FlushCompress::Sync)
                .unwrap();
            out
        };
        let mut first = idx_header.to_vec();
        first.extend_from_slice(&[0; 64 << 10]);
        let mut prefix = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]; // gzip header, no flags
        prefix.extend(block(&first));
        let repeated = block(&[0; 1 << 20]);
        EndlessGzip {
            prefix: io::Cursor::new(prefix),
            repeated,
            at: 0,
            consumed: 0,
        }
    }
}

impl Read for EndlessGzip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = self.prefix.read(buf)?;
        if n == 0 {
            n = (self.repeated.len() - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.repeated[self.at..self.at + n]);
            self.at = (self.at + n) % self.repeated.len();
        }
        self.consumed += n as u64;
        Ok(n)
    }
}

#[test]
fn a_gzip_bomb_is_stopped_one_byte_past_the_promise() {
    // The header promises 1 label (9 bytes); the stream would decompress for ever. The old reader
    // decompressed to the end before looking at the header: here it would never have returned.
    let header = [0, 0, 8, 1, 0, 0, 0, 1];
    let mut bomb = EndlessGzip::new(&header);
    let err = decode(&mut bomb, None, IdxKind::Labels, "bomb.gz").unwrap_err();
    assert!(
        err.to_string()
            .contains("the gzip stream decompresses to more bytes than the header promises"),
        "{err}"
    );
    // Decompression stopped within the first compressed block or two (the decoder reads ahead
    // in 32 KiB chunks), not after gigabytes.
    assert!(bomb.consumed < 256 << 10, "read {} bytes", bomb.consumed);

    // The same with 28×28 images: a header promising 10 of them.
    let mut bomb = EndlessGzip::new(&images_header(10, 28, 28));
    let err = decode(&mut bomb, None, IdxKind::Images, "bomb.gz").unwrap_err();
    assert!(
        err.to_string()
            .contains("more bytes than the header promises"),
        "{err}"
    );
    assert!(bomb.consumed < 256 << 10, "read {} bytes", bomb.consumed);
}

#[test]
fn the_endless_stream_is_a_valid_gzip_stream() {
    // Guards the bomb test: its stream must really decompress to the header and then zeros, or
    // the reader could be failing for another reason.
    let mut out = vec![0; 5 << 20];
    let mut decoder = flate2::read::GzDecoder::new(EndlessGzip::new(&[7; 8]));
    decoder.read_exact(&mut out).unwrap();
    assert_eq!(out[..8], [7; 8]);
    assert!(out[8..].iter().all(|&b| b == 0));
}

#[test]
fn reading_a_hostile_file_names_it_and_allocates_nothing_big() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = images_header(u32::MAX, 28, 28);
    bytes.extend_from_slice(&[0; 100]);
    std::fs::write(&path, &bytes).unwrap();
    let msg = Idx::read(&path, IdxKind::Images).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{} is corrupt", path.display())) && msg.contains("truncated"),
        "{msg}"
    );
}
