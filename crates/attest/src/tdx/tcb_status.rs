//! Intel's TCB status values (TCB info v3, `tcbLevels[].tcbStatus`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The status Intel's TCB info assigns to a platform's TCB level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TcbStatus {
    /// Fully patched.
    UpToDate,
    /// Patched; software hardening is needed against some advisories.
    SWHardeningNeeded,
    /// Patched; the platform configuration needs changes.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// Not patched.
    OutOfDate,
    /// Not patched, and the configuration needs changes.
    OutOfDateConfigurationNeeded,
    /// The TCB level is revoked.
    Revoked,
}

impl TcbStatus {
    const NAMES: [(Self, &'static str); 7] = [
        (Self::UpToDate, "UpToDate"),
        (Self::SWHardeningNeeded, "SWHardeningNeeded"),
        (Self::ConfigurationNeeded, "ConfigurationNeeded"),
        (
            Self::ConfigurationAndSWHardeningNeeded,
            "ConfigurationAndSWHardeningNeeded",
        ),
        (Self::OutOfDate, "OutOfDate"),
        (
            Self::OutOfDateConfigurationNeeded,
            "OutOfDateConfigurationNeeded",
        ),
        (Self::Revoked, "Revoked"),
    ];

    /// Intel's spelling.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(status, _)| *status == self)
            .map_or("Unknown", |(_, name)| name)
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A status string Intel does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TCB status {0:?}")]
pub struct UnknownTcbStatus(pub String);

impl FromStr for TcbStatus {
    type Err = UnknownTcbStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(status, _)| *status)
            .ok_or_else(|| UnknownTcbStatus(text.to_owned()))
    }
}
