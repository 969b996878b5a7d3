//! Why a manifest, a Coordinator reference or a history was refused; every variant names the
//! field or the step.

/// A manifest, reference or history that does not parse or does not validate.
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
    /// Two entries name the same identity: whichever holds a certificate with it could answer
    /// for the other.
    #[error(
        "{field}: SAN {san:?} is also a SAN of {other} (compared as certificate names are: \
         case-insensitively, without a trailing dot): either workload could answer for the other; \
         give each entry names of its own"
    )]
    SharedSan {
        /// The later entry's `sans` field.
        field: String,
        /// The SAN as the later entry writes it.
        san: String,
        /// The earlier entry (`policies["…"]`) that has it.
        other: String,
    },
    /// A SAN in the reserved subtree (`chiaro_names::reserved`): the identity of workload
    /// owners' client certificates, which no workload may be issued.
    #[error(
        "{field}: SAN {san:?} is reserved (names under {domain} identify workload owners' client \
         certificates, never a workload)"
    )]
    ReservedSan {
        /// The field.
        field: String,
        /// The SAN.
        san: String,
        /// The reserved subtree.
        domain: &'static str,
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
    /// A Coordinator reference set that does not pin the Coordinator's policy hash.
    #[error(
        "{field}: pins no {missing}: a Coordinator reference must pin the Coordinator's policy hash \
         (SNP host_data, TDX mr_config_id), or any CVM with the genuine image and the host's own \
         policy would pass as the Coordinator"
    )]
    UnpinnedCoordinator {
        /// The set.
        field: String,
        /// The field it lacks.
        missing: &'static str,
    },
    /// A reference set that does not pin the guest (its launch measurement): a guest the host
    /// built itself, launched with the HOST_DATA / MRCONFIGID of a genuine policy (the host
    /// chooses those, and policy hashes are public), would satisfy it.
    #[error(
        "{field}: {missing} is missing or empty: a set that does not pin the guest image accepts a guest the host built, launched with any policy hash it likes"
    )]
    UnpinnedGuest {
        /// The set.
        field: String,
        /// The field it lacks.
        missing: &'static str,
    },
    /// A reference set whose vCPU-scaled measurements would take too many digest extensions to
    /// check (a host can make genuine reports at will, each checked against every set).
    #[error(
        "{field}: its vcpu_scaled_measurements take {work} digest extensions to check, at most {limit} are accepted: use fewer or smaller vCPU ranges"
    )]
    TooMuchVcpuWork {
        /// The set.
        field: String,
        /// The extensions it would take.
        work: u64,
        /// The bound.
        limit: u64,
    },
    /// A reference set that pins a policy hash other than the one it is asked to pin.
    #[error("{field}: pins another launch binding than the Coordinator's policy hash {policy}")]
    ConflictingPin {
        /// The set.
        field: String,
        /// The policy hash.
        policy: String,
    },
    /// The manifest has no policy with the role `coordinator`.
    #[error(
        "policies: no entry has the role \"coordinator\": the Coordinator's policy hash is needed \
         to pin it (add the Coordinator's policy with \"role\": \"coordinator\")"
    )]
    NoCoordinatorPolicy,
    /// A deployment anchor that pins no owner key.
    #[error("owner_key_digests: a deployment anchor must pin at least one workload-owner key")]
    NoOwners,
    /// A history without steps.
    #[error("the history is empty")]
    EmptyHistory,
    /// A history longer than any check walks.
    #[error("the history has {steps} steps, more than any check walks")]
    HistoryTooLong {
        /// Its length.
        steps: usize,
    },
    /// A step that does not point at the one before it.
    #[error("history step {step}: does not follow the step before it")]
    HistoryNotAChain {
        /// The step (0 is the first).
        step: usize,
    },
    /// A step whose manifest does not have the hash its transition names.
    #[error("history step {step}: the manifest does not match its transition")]
    HistoryManifestMismatch {
        /// The step.
        step: usize,
    },
    /// A step whose owner signature does not verify for this deployment.
    #[error(
        "history step {step}: the owner signature does not verify over this deployment, its \
         previous step and its manifest"
    )]
    HistorySignatureInvalid {
        /// The step.
        step: usize,
    },
    /// A step signed by a key the manifest before it does not list as an owner.
    #[error("history step {step}: signed by {signer}, which the manifest before it does not list")]
    HistorySignerNotOwner {
        /// The step.
        step: usize,
        /// The signer's key digest.
        signer: String,
    },
    /// No step is signed by a pinned owner key.
    #[error(
        "no step of the history is signed by a pinned workload-owner key: this is not the \
         deployment its owner created"
    )]
    HistoryNotEndorsed,
}

impl ManifestError {
    /// The history step an error is about, if it is about one.
    pub fn history_step(&self) -> Option<usize> {
        match self {
            Self::HistoryNotAChain { step }
            | Self::HistoryManifestMismatch { step }
            | Self::HistorySignatureInvalid { step }
            | Self::HistorySignerNotOwner { step, .. } => Some(*step),
            _ => None,
        }
    }
}
