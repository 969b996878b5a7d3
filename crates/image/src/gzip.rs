//! Deterministic gzip: no file name, modification time 0, the same operating-system byte and
//! compression level everywhere, so equal input gives equal output.

use std::io::Write as _;

use flate2::{Compression, GzBuilder};

use crate::ImageError;

/// The compression level (the best flate2 has: layers are written once and pulled often).
const LEVEL: u32 = 9;
/// "Unknown" in the header's operating-system byte (RFC 1952), whatever machine compresses.
const OS_UNKNOWN: u8 = 255;

/// `data` gzip-compressed.
///
/// # Errors
/// [`ImageError::Gzip`], which writing to memory does not produce.
pub fn compress(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(OS_UNKNOWN)
        .write(Vec::new(), Compression::new(LEVEL));
    encoder.write_all(data).map_err(ImageError::Gzip)?;
    encoder.finish().map_err(ImageError::Gzip)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn the_header_has_no_name_or_time_and_the_data_comes_back() {
        let data = b"chiaro ".repeat(1000);
        let gz = compress(&data).unwrap();
        assert_eq!(gz, compress(&data).unwrap());
        // ID1 ID2 CM FLG MTIME(4) XFL OS: deflate, no flags (no name), time 0.
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz[9], OS_UNKNOWN);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}
