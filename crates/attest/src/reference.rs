//! The reference-values file: one optional section per platform.

use serde::{Deserialize, Serialize};

use crate::snp::SnpReferenceValues;
use crate::tdx::TdxReferenceValues;

/// Reference values as a user writes them (README, "Reference values").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceValues {
    /// Values for AMD SEV-SNP evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp: Option<SnpReferenceValues>,
    /// Values for Intel TDX evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdx: Option<TdxReferenceValues>,
}

/// The reference-values JSON does not match the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reference values: {detail} (line {line}, column {column})")]
pub struct ReferenceParseError {
    detail: String,
    line: usize,
    column: usize,
}

impl ReferenceValues {
    /// Parses the JSON form, refusing unknown fields so a typo never silently disables a check.
    ///
    /// # Errors
    /// [`ReferenceParseError`] with the position of the problem.
    pub fn from_json(text: &str) -> Result<Self, ReferenceParseError> {
        serde_json::from_str(text).map_err(|e| ReferenceParseError {
            detail: e.to_string(),
            line: e.line(),
            column: e.column(),
        })
    }
}
