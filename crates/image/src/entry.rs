//! What a layer holds: files, directories and symbolic links at relative paths.

/// One path of an image's file system (relative to its root: `usr/local/bin/chiaro-mesh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path, relative, `/`-separated, without a trailing `/`.
    pub path: String,
    /// What is there.
    pub kind: Kind,
}

/// What an [`Entry`] is, with the only modes an image gets.
#[derive(Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file: mode 0755 when `executable`, 0644 otherwise.
    File {
        /// Its bytes.
        content: Vec<u8>,
        /// Whether it runs (programs, shared libraries and the dynamic loader).
        executable: bool,
    },
    /// A directory with `mode` (0755, or 01777 for `tmp`).
    Directory {
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link to `target` (as written: relative or absolute).
    Symlink {
        /// Where it points.
        target: String,
    },
}

impl Entry {
    /// A file.
    pub fn file(path: &str, content: Vec<u8>, executable: bool) -> Self {
        Self {
            path: path.to_owned(),
            kind: Kind::File {
                content,
                executable,
            },
        }
    }

    /// A directory.
    pub fn directory(path: &str, mode: u32) -> Self {
        Self {
            path: path.to_owned(),
            kind: Kind::Directory { mode },
        }
    }

    /// A symbolic link.
    pub fn symlink(path: &str, target: &str) -> Self {
        Self {
            path: path.to_owned(),
            kind: Kind::Symlink {
                target: target.to_owned(),
            },
        }
    }

    /// The permission bits the layer records.
    pub fn mode(&self) -> u32 {
        match &self.kind {
            Kind::File {
                executable: true, ..
            } => 0o755,
            Kind::File { .. } => 0o644,
            Kind::Directory { mode } => *mode,
            Kind::Symlink { .. } => 0o777,
        }
    }
}

impl std::fmt::Debug for Kind {
    /// A file's size instead of its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File {
                content,
                executable,
            } => write!(f, "File({} bytes, executable: {executable})", content.len()),
            Self::Directory { mode } => write!(f, "Directory({mode:o})"),
            Self::Symlink { target } => write!(f, "Symlink({target:?})"),
        }
    }
}
