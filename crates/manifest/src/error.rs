//! Why a manifest was refused; every variant names the field.

/// A manifest that does not parse or does not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or a field of the wrong type or an unknown field.
    #[error("manifest is not valid JSON for the schema at line {line}, column {column}: {detail}")]
    Syntax {
        /// What the JSON decoder said (it names the field).
        detail: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
    },
    /// A schema version this build does not read.
    #[error("manifest version {version} is not supported (1 is)")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// A field that must be hex of a fixed size is not.
    #[error("{field}: expected {expected_hex_chars} hex characters, got {got:?}")]
    MalformedHex {
        /// The field.
        field: String,
        /// How many hex characters it needs.
        expected_hex_chars: usize,
        /// What it holds.
        got: String,
    },
    /// The same policy hash appears twice.
    #[error("policies: hash {hash} appears more than once")]
    DuplicatePolicy {
        /// The repeated hash.
        hash: String,
    },
    /// The manifest lists no policy.
    #[error("policies: the manifest lists no workload policy")]
    NoPolicies,
    /// A policy has no SANs.
    #[error("{field}: a workload needs at least one SAN")]
    EmptySans {
        /// The field.
        field: String,
    },
    /// A SAN that is empty or a bare wildcard.
    #[error(
        "{field}: SAN {san:?} is not allowed (no empty names, no `*`: identities are per workload)"
    )]
    InvalidSan {
        /// The field.
        field: String,
        /// The SAN.
        san: String,
    },
    /// An empty workload secret id.
    #[error("{field}: the workload secret id must not be empty (leave it out instead)")]
    EmptyWorkloadSecretId {
        /// The field.
        field: String,
    },
    /// No platform has reference values: nothing could ever attest.
    #[error("reference_values: no platform has reference values")]
    NoReferenceValues,
    /// A simulated root that is not a usable certificate.
    #[error("{field}: not a simulated ARK certificate: {detail}")]
    InvalidSimulatedRoot {
        /// The field.
        field: String,
        /// Why.
        detail: String,
    },
    /// A seed-share owner key that is not an RSA public key.
    #[error("{field}: not an RSA public key (hex of a SubjectPublicKeyInfo DER): {detail}")]
    InvalidKey {
        /// The field.
        field: String,
        /// Why.
        detail: String,
    },
    /// An RSA key too short for the seed it protects.
    #[error("{field}: RSA key of {bits} bits is too weak (at least 3072)")]
    WeakKey {
        /// The field.
        field: String,
        /// Its size.
        bits: usize,
    },
    /// The same key is listed twice.
    #[error("{field}: listed twice")]
    DuplicateKey {
        /// The field.
        field: String,
    },
}
