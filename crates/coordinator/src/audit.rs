//! The audit log: one `tracing` event on the target [`TARGET`] for every manifest transition
//! and refused manifest, every recovery and refused recovery, every connection refused by
//! attested TLS, and every mesh or owner certificate issued or refused. Each kind of event is
//! one type here with a fixed field set and a fixed `event` name ([`event`];
//! `docs/observability.md`, "Audit events"), so a log collector can select them by target and
//! read them by name (`--log-format json`).
//!
//! What the events carry is public by construction: hashes, key digests, names, addresses,
//! serial numbers, times and the refusal's reason. No type here holds a seed, a seed share, a
//! key or a workload secret, so none can reach the log.

use std::net::SocketAddr;

use chiaro_attest::InitDataBinding;
use chiaro_manifest::{KeyDigest, ManifestHash, PolicyHash, TransitionHash};

/// The target of every audit event (`RUST_LOG=chiaro::audit=info` keeps them at any level).
pub const TARGET: &str = "chiaro::audit";

/// The `event` field's values, one per kind of audit event.
pub mod event {
    /// A manifest was installed.
    pub const MANIFEST_TRANSITION: &str = "manifest_transition";
    /// A `SetManifest` of the current manifest: authorised, nothing changed.
    pub const MANIFEST_UNCHANGED: &str = "manifest_unchanged";
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
    /// An owner client certificate was issued.
    pub const OWNER_CERT_ISSUED: &str = "owner_cert_issued";
    /// A `NewOwnerClientCert` was refused.
    pub const OWNER_CERT_REFUSED: &str = "owner_cert_refused";
}

fn shown(peer: Option<SocketAddr>) -> Option<String> {
    peer.map(|peer| peer.to_string())
}

/// A `SetManifest` that was authorised: a transition, or the current manifest again.
#[derive(Debug)]
pub struct ManifestTransition {
    /// The manifest's place in the history: 1 for the first.
    pub index: usize,
    /// The manifest's hash.
    pub manifest: ManifestHash,
    /// The latest transition's hash (the current one when unchanged).
    pub transition: TransitionHash,
    /// The workload-owner key that signed it (none for the first manifest).
    pub owner: KeyDigest,
    /// The manifest was the latest one already: nothing was appended.
    pub unchanged: bool,
    /// Who asked.
    pub peer: Option<SocketAddr>,
}

impl ManifestTransition {
    /// Writes the event.
    pub fn log(&self) {
        let event = if self.unchanged {
            event::MANIFEST_UNCHANGED
        } else {
            event::MANIFEST_TRANSITION
        };
        tracing::info!(
            target: TARGET,
            event,
            index = self.index,
            manifest_hash = %self.manifest,
            transition_hash = %self.transition,
            owner_key_digest = %self.owner,
            peer = shown(self.peer),
            "manifest set"
        );
    }
}

/// A refused `SetManifest`.
#[derive(Debug)]
pub struct ManifestRefused<'a> {
    /// Why (the status message the caller got).
    pub reason: &'a str,
    /// Who asked.
    pub peer: Option<SocketAddr>,
}

impl ManifestRefused<'_> {
    /// Writes the event.
    pub fn log(&self) {
        tracing::warn!(
            target: TARGET,
            event = event::MANIFEST_REFUSED,
            reason = self.reason,
            peer = shown(self.peer),
            "manifest refused"
        );
    }
}

/// A `Recover` by the seed-share owner whose key has `owner`'s digest: done, or the reason it
/// was refused.
#[derive(Debug)]
pub struct Recovery<'a> {
    /// SHA-256 of the key it presented (SubjectPublicKeyInfo DER), as manifests list owners.
    pub owner: KeyDigest,
    /// `Ok`, or why it was refused (the status message the caller got).
    pub outcome: Result<(), &'a str>,
    /// Who asked.
    pub peer: Option<SocketAddr>,
}

impl Recovery<'_> {
    /// Writes the event ([`event::RECOVERED`] or [`event::RECOVERY_REFUSED`]).
    pub fn log(&self) {
        let peer = shown(self.peer);
        match self.outcome {
            Ok(()) => tracing::info!(
                target: TARGET,
                event = event::RECOVERED,
                owner_key_digest = %self.owner,
                peer,
                "recovered: the seed is back"
            ),
            Err(reason) => tracing::warn!(
                target: TARGET,
                event = event::RECOVERY_REFUSED,
                owner_key_digest = %self.owner,
                reason,
                peer,
                "recovery refused"
            ),
        }
    }
}

/// An attested listener refused a connection.
#[derive(Debug)]
pub struct AttestationRefused<'a> {
    /// Which listener: `user` or `mesh`.
    pub listener: &'a str,
    /// The peer.
    pub peer: SocketAddr,
    /// Why (the error and its causes).
    pub reason: &'a str,
}

impl AttestationRefused<'_> {
    /// Writes the event.
    pub fn log(&self) {
        tracing::warn!(
            target: TARGET,
            event = event::ATTESTATION_REFUSED,
            listener = self.listener,
            peer = %self.peer,
            reason = self.reason,
            "connection refused by attested TLS"
        );
    }
}

/// A mesh certificate issued to a workload.
#[derive(Debug)]
pub struct MeshCertIssued<'a> {
    /// The workload's policy hash (its manifest entry).
    pub policy_hash: PolicyHash,
    /// The certificate's names (the entry's SANs; the first is its common name).
    pub sans: &'a [String],
    /// The certificate's serial number (big-endian).
    pub serial: &'a [u8],
    /// The transition it was judged under (the latest, or the one the workload named).
    pub transition: Option<TransitionHash>,
    /// The workload's address.
    pub peer: Option<SocketAddr>,
}

impl MeshCertIssued<'_> {
    /// Writes the event: `workload` (the first SAN), `sans` space-separated, `serial` hex.
    pub fn log(&self) {
        tracing::info!(
            target: TARGET,
            event = event::MESH_CERT_ISSUED,
            workload = self.sans.first().map(String::as_str),
            policy_hash = %self.policy_hash,
            sans = self.sans.join(" "),
            serial = hex::encode(self.serial),
            transition_hash = self.transition.map(|hash| hash.to_string()),
            peer = shown(self.peer),
            "mesh certificate issued"
        );
    }
}

/// A refused `NewMeshCert`.
#[derive(Debug)]
pub struct MeshCertRefused<'a> {
    /// The launch binding the workload's evidence carried (`HOST_DATA` or `MRCONFIGID`: its
    /// policy hash, as far as a manifest knows it).
    pub init_data: Option<&'a InitDataBinding>,
    /// Why (the status message the caller got).
    pub reason: &'a str,
    /// The workload's address.
    pub peer: Option<SocketAddr>,
}

impl MeshCertRefused<'_> {
    /// Writes the event (`init_data` hex).
    pub fn log(&self) {
        let init_data = self.init_data.map(|binding| match binding {
            InitDataBinding::HostData(host_data) => host_data.to_string(),
            InitDataBinding::MrConfigId(config_id) => config_id.to_string(),
        });
        tracing::warn!(
            target: TARGET,
            event = event::MESH_CERT_REFUSED,
            init_data,
            reason = self.reason,
            peer = shown(self.peer),
            "mesh certificate refused"
        );
    }
}

/// A `NewOwnerClientCert`: the certificate issued, or the reason it was refused.
#[derive(Debug)]
pub struct OwnerCert<'a> {
    /// The workload owner whose signature asked for it (none when the request did not parse).
    pub owner: Option<KeyDigest>,
    /// The issued certificate's serial number (big-endian) and end (Unix seconds), or why it
    /// was refused (the status message the caller got).
    pub outcome: Result<(&'a [u8], u64), &'a str>,
    /// Who asked.
    pub peer: Option<SocketAddr>,
}

impl OwnerCert<'_> {
    /// Writes the event ([`event::OWNER_CERT_ISSUED`] or [`event::OWNER_CERT_REFUSED`]).
    pub fn log(&self) {
        let (owner, peer) = (self.owner.map(|owner| owner.to_string()), shown(self.peer));
        match self.outcome {
            Ok((serial, not_after)) => tracing::info!(
                target: TARGET,
                event = event::OWNER_CERT_ISSUED,
                owner_key_digest = owner,
                serial = hex::encode(serial),
                not_after,
                peer,
                "owner client certificate issued"
            ),
            Err(reason) => tracing::warn!(
                target: TARGET,
                event = event::OWNER_CERT_REFUSED,
                owner_key_digest = owner,
                reason,
                peer,
                "owner client certificate refused"
            ),
        }
    }
}

/// The digest the audit log names a key by: SHA-256 of its SubjectPublicKeyInfo DER (a
/// manifest lists owners by the same digest).
pub fn key_digest(der: &[u8]) -> KeyDigest {
    use sha2::Digest as _;
    KeyDigest::new(sha2::Sha256::digest(der).into())
}
