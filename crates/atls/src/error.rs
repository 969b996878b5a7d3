//! Why an attested connection failed.

/// An attested-TLS failure.
#[derive(Debug, thiserror::Error)]
pub enum AtlsError {
    /// The TLS handshake failed (not TLS 1.3, no certificate where one is required, ...).
    #[error("TLS handshake failed")]
    Handshake(#[source] std::io::Error),
    /// Reading or writing the connection failed.
    #[error("connection failed during attestation")]
    Io(#[source] std::io::Error),
    /// The peer did not finish the attestation exchange in time.
    #[error("peer did not complete attestation within {seconds} s")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
    /// The peer sent something that is not an attestation frame.
    #[error("peer does not speak the attestation protocol: {detail}")]
    Protocol {
        /// What was wrong.
        detail: String,
    },
    /// The peer sent no evidence, but this side requires it.
    #[error("peer sent no evidence, and this connection requires an attested peer")]
    PeerNotAttested,
    /// The peer's evidence did not verify.
    #[error("peer evidence refused")]
    Evidence(#[source] chiaro_attest::Error),
    /// The evidence verified, but its report data does not bind this TLS session and the
    /// certificate key the peer authenticated the handshake with: it was replayed from another
    /// session or made for another key (or the peer presented no certificate to bind it to).
    #[error(
        "peer evidence is not bound to this TLS session and the peer's certificate key (replayed or made for another key)"
    )]
    EvidenceNotBound,
    /// The peer refused our evidence (or our lack of it). `retryable` when the peer could not
    /// check it right now (e.g. a Coordinator without a manifest yet), not because it is bad.
    #[error("peer refused this side's attestation{}", if *retryable { " for now (it cannot verify yet)" } else { "" })]
    RefusedByPeer {
        /// Whether trying again later may succeed.
        retryable: bool,
    },
    /// This side could not produce its own evidence.
    #[error("could not obtain this side's evidence: {detail}")]
    Issuer {
        /// Why.
        detail: String,
    },
    /// Building the TLS configuration failed.
    #[error("TLS configuration: {detail}")]
    Config {
        /// Why.
        detail: String,
    },
}
