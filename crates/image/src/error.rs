//! The one error type of image assembly.

/// Why entries cannot become an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A path that is not relative, names `.` or `..`, has an empty component or a NUL byte.
    #[error("{path:?}: not a relative path of plain components")]
    Path {
        /// The path.
        path: String,
    },
    /// A path (or a symbolic link's target) that the ustar header cannot hold.
    #[error("{path:?}: too long for a ustar header")]
    TooLong {
        /// The path.
        path: String,
    },
    /// Two entries for one path.
    #[error("{path:?}: listed twice")]
    Duplicate {
        /// The path.
        path: String,
    },
    /// A path below something that is not a directory.
    #[error("{path:?}: its parent {parent:?} is not a directory")]
    NotADirectory {
        /// The path.
        path: String,
        /// The parent listed as a file or link.
        parent: String,
    },
    /// A file larger than the ustar size field holds (8 GiB).
    #[error("{path:?}: {size} bytes is too large for a ustar header")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: usize,
    },
    /// Compression failed (writing to memory does not; the encoder's type says it may).
    #[error("gzip")]
    Gzip(#[source] std::io::Error),
    /// A document could not be serialised.
    #[error("serialising the {what}")]
    Json {
        /// Which document.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}
