//! The permission bits a written file is created with.

/// Unix permission bits for a new file (the process umask still applies, as for `open(2)`).
/// On other platforms the bits are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(u32);

impl Mode {
    /// `0600`: only the owner may read or write (keys, secrets).
    pub const PRIVATE: Self = Self(0o600);
    /// `0644`: anyone may read (certificates, caches, generated files).
    pub const PUBLIC: Self = Self(0o644);
    /// `0755`: anyone may read and run (a program).
    pub const EXECUTABLE: Self = Self(0o755);

    /// Mode `bits` (only the permission bits, `0o7777`, are kept).
    pub const fn new(bits: u32) -> Self {
        Self(bits & 0o7777)
    }

    /// The permission bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}
