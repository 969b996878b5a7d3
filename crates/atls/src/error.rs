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
    #[error("could not obtain this side's evidence")]
    Issuer(#[source] IssueError),
    /// The blocking task producing or judging evidence ended without an answer (it panicked
    /// or the runtime shut down).
    #[error("the evidence task did not finish")]
    Task(#[source] tokio::task::JoinError),
    /// Building the TLS configuration failed.
    #[error("TLS configuration: {detail}")]
    Config {
        /// Why.
        detail: String,
    },
}

/// Why an [`Issuer`](crate::Issuer) produced no evidence.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The issuer's bound on requests at once is reached; the request never reached the TEE.
    #[error("{in_flight} evidence requests already under way, at most {max} at once")]
    Busy {
        /// Requests under way when this one came.
        in_flight: usize,
        /// The bound.
        max: usize,
    },
    /// The evidence source (the TEE, or the collateral its evidence needs) failed. This crate
    /// names no concrete issuer (the binaries wire one in), so the cause is the issuer's own
    /// typed error behind the trait object, as rustls' `OtherError` carries a verifier's.
    #[error("the evidence source failed")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl IssueError {
    /// The issuer's own error as the cause.
    pub fn failed(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Source(Box::new(error))
    }
}
