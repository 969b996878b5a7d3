//! The named exit codes.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The evidence verified (or the command succeeded).
    Verified,
    /// The evidence was rejected.
    Rejected,
    /// The evidence could not be verified: collateral missing, expired or not yet valid.
    Unavailable,
    /// Bad usage or unreadable input (`EX_USAGE`).
    Usage,
    /// The operation failed for another reason (unreachable Coordinator, refused request).
    Failed,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Verified => 0,
            Self::Rejected => 3,
            Self::Unavailable => 4,
            Self::Usage => 64,
            Self::Failed => 1,
        }
    }
}
