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
    /// This side has nothing to judge the peer's evidence against yet (a Coordinator without a
    /// manifest): not the peer's fault; the peer is told to retry.
    #[error("cannot judge the peer's evidence yet: {reason}")]
    NotReady {
        /// What is missing.
        reason: String,
    },
    /// This side's own reference values are unusable (a root in its own manifest that does not
    /// load): this side's fault, not the peer's evidence; the peer is refused for good, since
    /// only a new manifest can fix it.
    #[error("this side's reference values are unusable")]
    OwnReferences(#[source] Box<dyn std::error::Error + Send + Sync>),
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

impl From<crate::ValidationError> for AtlsError {
    fn from(error: crate::ValidationError) -> Self {
        match error {
            crate::ValidationError::Evidence(error) => Self::Evidence(error),
            crate::ValidationError::NotReady { reason } => Self::NotReady { reason },
            crate::ValidationError::Unusable(source) => Self::OwnReferences(source),
        }
    }
}

impl AtlsError {
    /// Whether the peer is told it may retry after this side refused its evidence: when this
    /// side could not judge (collateral unavailable, nothing to judge against yet), not when
    /// the evidence is bad or this side's own values are.
    pub(crate) fn peer_may_retry(&self) -> bool {
        matches!(
            self,
            Self::Evidence(chiaro_attest::Error::Unavailable(_)) | Self::NotReady { .. }
        )
    }
}
