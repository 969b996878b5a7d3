//! The one error type of the mesh proxy's library.

/// What went wrong configuring or running the proxy.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A configuration entry is malformed (`--ingress-port`; the annotations' and the probe
    /// table's own errors are [`chiaro_pod::PodError`]).
    #[error("{annotation}: entry {entry:?}: {reason}")]
    Config {
        /// Which annotation.
        annotation: String,
        /// The entry as written.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A credentials file is missing or malformed.
    #[error("credentials {path}")]
    Credentials {
        /// The file.
        path: String,
        /// What is wrong.
        #[source]
        source: CredentialsFault,
    },
    /// A listener could not be opened.
    #[error("listening on {address}")]
    Listen {
        /// The address.
        address: String,
        /// The error.
        source: std::io::Error,
    },
    /// The ready file could not be written or its stale copy removed.
    #[error("ready file {path}")]
    ReadyFile {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What is wrong with a credentials file.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsFault {
    /// It cannot be read.
    #[error("cannot be read")]
    Read(#[from] std::io::Error),
    /// It is not PEM of the expected kind.
    #[error("not PEM")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// The certificate file holds no certificate.
    #[error("no certificate")]
    NoCertificate,
    /// The CA file holds no certificate.
    #[error("no CA certificate")]
    NoCaCertificate,
    /// rustls refuses the certificate, the key or the CA.
    #[error("refused for TLS")]
    Tls(#[from] rustls::Error),
    /// No client verifier can be built from the CA.
    #[error("no client verifier from it")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}
