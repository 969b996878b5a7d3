//! The audit log: one `tracing` event on the target [`TARGET`] for every manifest transition
//! and refused manifest, every recovery and refused recovery, every connection refused by
//! attested TLS, and every mesh certificate issued or refused. Each event has a fixed `event`
//! name and a fixed field set (`docs/observability.md`, "Audit events"), so a log collector
//! can select them by target and read them by name (`--log-format json`).
//!
//! What the events carry is public by construction: hashes, key digests, names, addresses,
//! serial numbers and the refusal's reason. Nothing here takes a seed, a seed share, a key or a
//! workload secret, so none can reach the log.

use std::net::SocketAddr;

use chiaro_attest::InitDataBinding;
use chiaro_manifest::{KeyDigest, TransitionHash};

use crate::state::{Installed, MeshCredentials};

/// The target of every audit event (`RUST_LOG=chiaro::audit=info` keeps them at any level).
pub const TARGET: &str = "chiaro::audit";

/// The `event` field's values, one per kind of audit event.
pub mod event {
    /// A manifest was installed.
    pub const MANIFEST_TRANSITION: &str = "manifest_transition";
    /// A `SetManifest` was refused.
    pub const MANIFEST_REFUSED: &str = "manifest_refused";
    /// A `Recover` succeeded.
    pub const RECOVERED: &str = "recovered";
    /// A `Recover` was refused.
    pub const RECOVERY_REFUSED: &str = "recovery_refused";
    /// An attested listener refused a connection (handshake or evidence).
    pub const ATTESTATION_REFUSED: &str = "attestation_refused";
    /// A mesh certificate was issued.
    pub const MESH_CERT_ISSUED: &str = "mesh_cert_issued";
    /// A `NewMeshCert` was refused.
    pub const MESH_CERT_REFUSED: &str = "mesh_cert_refused";
}

/// A manifest transition: its place in the history, the manifest's hash, the transition's
/// hash and the workload-owner key that signed it.
pub fn manifest_transition(installed: &Installed, peer: Option<SocketAddr>) {
    tracing::info!(
        target: TARGET,
        event = event::MANIFEST_TRANSITION,
        index = installed.index,
        manifest_hash = %installed.manifest,
        transition_hash = %installed.transition,
        owner_key_digest = %installed.owner,
        peer = peer.map(|peer| peer.to_string()),
        "manifest installed"
    );
}

/// A refused `SetManifest`.
pub fn manifest_refused(reason: &str, peer: Option<SocketAddr>) {
    tracing::warn!(
        target: TARGET,
        event = event::MANIFEST_REFUSED,
        reason,
        peer = peer.map(|peer| peer.to_string()),
        "manifest refused"
    );
}

/// A `Recover` by the seed-share owner whose key has `owner_key_digest` (SHA-256 of its
/// SubjectPublicKeyInfo DER, as presented): `Ok` or the reason it was refused.
pub fn recovery(owner_key_digest: &str, outcome: Result<(), &str>, peer: Option<SocketAddr>) {
    let peer = peer.map(|peer| peer.to_string());
    match outcome {
        Ok(()) => tracing::info!(
            target: TARGET,
            event = event::RECOVERED,
            owner_key_digest,
            peer,
            "recovered: the seed is back"
        ),
        Err(reason) => tracing::warn!(
            target: TARGET,
            event = event::RECOVERY_REFUSED,
            owner_key_digest,
            reason,
            peer,
            "recovery refused"
        ),
    }
}

/// An attested listener (`user` or `mesh`) refused `peer`'s connection.
pub fn attestation_refused(listener: &str, peer: SocketAddr, reason: &str) {
    tracing::warn!(
        target: TARGET,
        event = event::ATTESTATION_REFUSED,
        listener,
        peer = %peer,
        reason,
        "connection refused by attested TLS"
    );
}

/// A mesh certificate issued under the manifest `transition` installed: the workload's name
/// (its first SAN, the certificate's common name), policy hash, SANs (space-separated) and the
/// certificate's serial number (hex).
pub fn mesh_cert_issued(
    credentials: &MeshCredentials,
    transition: Option<TransitionHash>,
    peer: Option<SocketAddr>,
) {
    tracing::info!(
        target: TARGET,
        event = event::MESH_CERT_ISSUED,
        workload = credentials.sans.first().map(String::as_str),
        policy_hash = %credentials.policy_hash,
        sans = credentials.sans.join(" "),
        serial = hex::encode(&credentials.serial),
        transition_hash = transition.map(|hash| hash.to_string()),
        peer = peer.map(|peer| peer.to_string()),
        "mesh certificate issued"
    );
}

/// A refused `NewMeshCert` from a workload whose evidence carried `init_data` (`HOST_DATA` or
/// `MRCONFIGID`, hex: its policy hash, as far as the manifest knows it).
pub fn mesh_cert_refused(
    init_data: Option<&InitDataBinding>,
    reason: &str,
    peer: Option<SocketAddr>,
) {
    let init_data = init_data.map(|binding| match binding {
        InitDataBinding::HostData(host_data) => host_data.to_string(),
        InitDataBinding::MrConfigId(config_id) => config_id.to_string(),
    });
    tracing::warn!(
        target: TARGET,
        event = event::MESH_CERT_REFUSED,
        init_data,
        reason,
        peer = peer.map(|peer| peer.to_string()),
        "mesh certificate refused"
    );
}

/// The digest the audit log names a key by: SHA-256 of its SubjectPublicKeyInfo DER, hex (a
/// manifest lists owners by the same digest).
pub fn key_digest(der: &[u8]) -> String {
    use sha2::Digest as _;
    KeyDigest::new(sha2::Sha256::digest(der).into()).to_string()
}
