//! gRPC over attested TLS: a client channel that attests the server on every (re)connection
//! and, with the `server` feature, a stream of attested server connections for tonic.

use tokio_rustls::rustls::ConnectionCommon;

mod client;
#[cfg(feature = "server")]
mod server;

pub use client::{ChannelSession, bound_channel, channel};
#[cfg(feature = "server")]
pub use server::{AttestedConnection, PeerInfo, incoming};

/// The TLS exporter label of [`SessionBinding`] (RFC 8446 §7.5).
const SESSION_BINDING_LABEL: &[u8] = b"EXPORTER-chiaro-session-v1";

/// A value only the two ends of one attested TLS session know (a TLS exporter): an application
/// proof that names it, such as a seed-share owner's signature for `Recover`, is good for this
/// connection only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionBinding([u8; 32]);

impl SessionBinding {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn export<D>(connection: &ConnectionCommon<D>) -> Option<Self> {
        let mut out = [0u8; 32];
        connection
            .export_keying_material(&mut out, SESSION_BINDING_LABEL, None)
            .ok()?;
        Some(Self(out))
    }
}
