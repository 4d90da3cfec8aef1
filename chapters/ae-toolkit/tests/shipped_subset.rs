//! The embedded subset is what `data/README.md` says it is.

use std::io::Read;

use ae_toolkit::fetch::sha256_hex;

/// The checksums published in `data/README.md` are those of the files actually shipped.
#[test]
fn readme_checksums_match_the_shipped_subset() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut checked = 0;
    for line in readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains(".gz`"))
    {
        let cells: Vec<&str> = line.split('`').collect();
        let (file, sum) = (cells[1], cells[3]);
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(dir.join(file)).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(sha256_hex(&raw), sum, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 8);
}
