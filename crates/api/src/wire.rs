//! The one error of every wire → domain conversion in this crate, and the small conversions
//! the services share.

use chiaro_manifest::ManifestError;

/// A message from the other side that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A field is missing or has the wrong length.
    #[error("{field}: {detail}")]
    Malformed {
        /// The field.
        field: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// A manifest does not parse.
    #[error("{field}: the manifest does not parse")]
    Manifest {
        /// The field.
        field: String,
        /// Why.
        #[source]
        source: ManifestError,
    },
}

/// The text of a manifest sent in `field`, which must be UTF-8 (it is parsed afterwards, so
/// that a parse failure keeps its own typed cause).
///
/// # Errors
/// [`WireError::Malformed`] when the bytes are not UTF-8.
pub fn manifest_text<'a>(field: &str, bytes: &'a [u8]) -> Result<&'a str, WireError> {
    std::str::from_utf8(bytes).map_err(|_| WireError::Malformed {
        field: field.to_owned(),
        detail: "not UTF-8",
    })
}
