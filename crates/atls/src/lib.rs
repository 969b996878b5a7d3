//! Attested TLS: a TLS 1.3 connection whose peer proved, with fresh TEE evidence bound to this
//! very session, that it runs in an accepted confidential VM.
//!
//! The protocol (`docs/atls.md`): an ordinary TLS 1.3 handshake with ephemeral self-signed
//! certificates; then each attested side sends evidence whose report data is a hash of the TLS
//! exporter value for its role (RFC 8446 §7.5) and its certificate's public key, and the other
//! side verifies it before either sends a byte of application data. The exporter is unique to
//! the handshake and the key is the one the handshake authenticated, so evidence cannot be
//! replayed from another session or made to vouch for another key.
//!
//! # What this crate does not do
//! It does not decide what evidence is acceptable: a [`Validator`] (reference values, a
//! manifest) does. It does not obtain evidence: an [`Issuer`] does. It reads no clock: the
//! caller passes a [`Clock`]. It speaks no application protocol; gRPC runs over the returned
//! [`AttestedStream`].
//!
//! # Security model
//! - Trusted: the validator's trust anchors and reference values; the clock.
//! - Untrusted: the peer, its certificate, its evidence and every frame it sends (bounded in
//!   size and time).
//! - Checks: TLS 1.3 only; the handshake signature proves possession of the certificate key;
//!   the evidence verifies under the validator; its report data equals the hash of this
//!   session's exporter for the peer's role and the peer's certificate key. A side that requires
//!   a peer's evidence never accepts its absence.
//! - A successful `connect`/`accept` proves the peer's TEE holds this session's keys and vouches
//!   for the certificate key the peer signed the handshake with; the peer's
//!   [`Verified`](chiaro_attest::Verified) claims, and the [`Basis`] its validator judged them
//!   against, are returned for the caller's authorisation.

// Panic-free parsing: the attestation frames (length-prefixed JSON) and the certificates and
// evidence in them come from the untrusted peer.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod binding;
mod error;
mod evidence;
mod exchange;
mod identity;
mod tls;
mod validator;

pub use error::{AtlsError, IssueError};
pub use evidence::EvidenceBundle;
pub use exchange::{AttestedStream, ClientConfig, Clock, ServerConfig, accept, connect};
pub use identity::TlsIdentity;
pub use validator::{Basis, Issuer, Judgement, ReferenceValidator, ValidationError, Validator};
