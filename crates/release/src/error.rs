//! The one error type of image building.

use std::path::PathBuf;

/// Why the images could not be built, written or pushed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A line of the Debian lock that is not `name version architecture sha256`.
    #[error("{path}:{line}: expected `name version architecture sha256`")]
    LockLine {
        /// The lock file.
        path: String,
        /// The line number (from 1).
        line: usize,
    },
    /// A locked package's `.deb` is not where `scripts/images` downloads it.
    #[error(
        "{package} {version}: {} not found; scripts/images downloads it with `apt-get download \
         {package}={version}`, and if that fails Debian has moved on: update images/debian.lock \
         (its header says how)",
        path.display()
    )]
    DebMissing {
        /// The package.
        package: String,
        /// The locked version.
        version: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A `.deb` whose SHA-256 is not the lock's.
    #[error(
        "{package} {version}: the .deb hashes to {actual}, images/debian.lock says {expected}: \
         Debian rebuilt it or the download is corrupt; check, then update the lock (its header \
         says how)"
    )]
    DebMoved {
        /// The package.
        package: String,
        /// The locked version.
        version: String,
        /// The lock's hash.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// A file an image takes from Debian is not in the locked packages.
    #[error("{path}: not in the locked Debian packages")]
    NotInPackages {
        /// The path.
        path: String,
    },
    /// A binary the image holds is missing.
    #[error("{}: not built (scripts/images builds it)", path.display())]
    BinaryMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `dpkg-deb -x` failed.
    #[error("dpkg-deb -x {}: {reason}", deb.display())]
    Extract {
        /// The package file.
        deb: PathBuf,
        /// Its exit status or why it could not run.
        reason: String,
    },
    /// The entries do not make an image.
    #[error(transparent)]
    Image(#[from] chiaro_image::ImageError),
    /// The push failed.
    #[error("pushing {target}")]
    Push {
        /// Where to.
        target: String,
        /// Why.
        #[source]
        source: chiaro_registry::RegistryError,
    },
}
