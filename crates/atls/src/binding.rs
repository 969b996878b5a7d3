//! What each side's evidence must carry as report data: the TLS exporter value for the sender's
//! role and the sender's certificate key, hashed together (`docs/atls.md`, "Bindings").
//!
//! `report data = SHA-512(DOMAIN ‖ role ‖ 0x00 ‖ exporter(role) ‖ SPKI)`, where `role` is
//! `server` or `client`, `exporter(role)` the 64-byte exporter value with label
//! [`EXPORTER_LABEL`] and context `role`, and `SPKI` the DER SubjectPublicKeyInfo of the
//! certificate the sender authenticated the handshake with. Every field but the last has a fixed
//! length or a terminator, so the encoding is unambiguous.

use chiaro_attest::ReportData;
use rustls::ConnectionCommon;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::server::ParsedCertificate;
use sha2::{Digest, Sha512};

use crate::error::AtlsError;

/// The exporter label (RFC 8446 §7.5); the context is the role of the side that attests.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-chiaro-atls-v1";
/// Separates this hash from every other use of SHA-512 over similar bytes.
const DOMAIN: &[u8] = b"chiaro-atls-v1 report data\0";

/// The side of the connection that attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Server,
    Client,
}

impl Role {
    /// The exporter context and the role field of the hash.
    fn name(self) -> &'static [u8] {
        match self {
            Self::Server => b"server",
            Self::Client => b"client",
        }
    }
}

/// The public key a certificate carries, as DER SubjectPublicKeyInfo: the key the certificate's
/// holder signs the handshake with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyInfo(SubjectPublicKeyInfoDer<'static>);

impl KeyInfo {
    /// The key of `certificate`, read by the parser that checks the handshake signature.
    pub(crate) fn of(certificate: &CertificateDer<'_>) -> Result<Self, rustls::Error> {
        ParsedCertificate::try_from(certificate)
            .map(|parsed| Self(parsed.subject_public_key_info()))
    }
}

/// What one handshake fixes for the evidence: its two exporter values and the key the peer
/// authenticated with (none for a client that was not asked for a certificate).
#[derive(Debug)]
pub(crate) struct Session {
    server_exporter: [u8; 64],
    client_exporter: [u8; 64],
    peer_key: Option<KeyInfo>,
}

impl Session {
    /// Reads the bindings of a completed TLS 1.3 handshake.
    ///
    /// # Errors
    /// [`AtlsError::Config`] if the exporter is unavailable; [`AtlsError::Protocol`] if the
    /// peer's certificate cannot be parsed.
    pub(crate) fn of<Data>(connection: &ConnectionCommon<Data>) -> Result<Self, AtlsError> {
        let export = |role: Role| {
            connection
                .export_keying_material([0u8; 64], EXPORTER_LABEL, Some(role.name()))
                .map_err(|e| AtlsError::Config {
                    detail: e.to_string(),
                })
        };
        let peer_key = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(KeyInfo::of)
            .transpose()
            .map_err(|e| AtlsError::Protocol {
                detail: format!("peer certificate: {e}"),
            })?;
        Ok(Self {
            server_exporter: export(Role::Server)?,
            client_exporter: export(Role::Client)?,
            peer_key,
        })
    }

    /// The report data this side's evidence carries, attesting as `role` over `key`.
    pub(crate) fn own(&self, role: Role, key: &KeyInfo) -> ReportData {
        report_data(role, self.exporter(role), key)
    }

    /// The report data the peer's evidence must carry, the peer attesting as `role` over the
    /// certificate key it authenticated the handshake with.
    ///
    /// # Errors
    /// [`AtlsError::EvidenceNotBound`] if the peer presented no certificate: its evidence has
    /// no key to vouch for.
    pub(crate) fn expected_from_peer(&self, role: Role) -> Result<ReportData, AtlsError> {
        let key = self.peer_key.as_ref().ok_or(AtlsError::EvidenceNotBound)?;
        Ok(report_data(role, self.exporter(role), key))
    }

    fn exporter(&self, role: Role) -> &[u8; 64] {
        match role {
            Role::Server => &self.server_exporter,
            Role::Client => &self.client_exporter,
        }
    }
}

fn report_data(role: Role, exporter: &[u8; 64], key: &KeyInfo) -> ReportData {
    let digest = Sha512::new()
        .chain_update(DOMAIN)
        .chain_update(role.name())
        .chain_update([0u8])
        .chain_update(exporter)
        .chain_update(key.0.as_ref())
        .finalize();
    ReportData::new(digest.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TlsIdentity;

    #[test]
    fn every_input_changes_the_report_data() {
        let key = TlsIdentity::generate().unwrap().key_info().clone();
        let other_key = TlsIdentity::generate().unwrap().key_info().clone();
        let exporter = [7u8; 64];
        let base = report_data(Role::Client, &exporter, &key);
        assert_ne!(base, report_data(Role::Server, &exporter, &key));
        assert_ne!(base, report_data(Role::Client, &[8u8; 64], &key));
        assert_ne!(base, report_data(Role::Client, &exporter, &other_key));
        assert_ne!(base, ReportData::new(exporter), "not the bare exporter");
    }
}
