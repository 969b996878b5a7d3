//! The one error type of the registry client.

/// What went wrong resolving an image.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The image reference is not a valid `[registry/]repository[:tag][@digest]`.
    #[error("image reference {reference:?}: {reason}")]
    Reference {
        /// The reference as written.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A digest is malformed or uses an algorithm other than SHA-256.
    #[error("digest {digest:?}: {reason}")]
    Digest {
        /// The digest as written.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Content from the registry or the cache does not hash to the digest that names it.
    #[error("{what} of {image}: content hashes to {actual}, expected {expected}")]
    DigestMismatch {
        /// The image.
        image: String,
        /// Which document (manifest, index, config).
        what: String,
        /// The digest the content should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// The registry (or its token service) could not be reached: connecting, TLS or HTTP
    /// failed, or it did not answer in time (after the client's retries).
    #[error("cannot reach {host}")]
    Unreachable {
        /// The host (`host[:port]`) asked, after mirroring.
        host: String,
        /// The last failure.
        #[source]
        source: chiaro_https::HttpError,
    },
    /// The HTTP exchange failed for a reason another attempt would not change (an oversized
    /// body, a broken redirect).
    #[error(transparent)]
    Transport(chiaro_https::HttpError),
    /// `--offline`, and resolving the image needs a registry.
    #[error("{image}: {reason}, and --offline asks no registry")]
    Offline {
        /// The image.
        image: String,
        /// What is missing.
        reason: &'static str,
    },
    /// The task resolving an image ended without an answer (it panicked or was cancelled).
    #[error("{image}: the resolving task failed")]
    TaskFailed {
        /// The image.
        image: String,
    },
    /// The registry answered with an error status.
    #[error("{url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body (registries explain errors there).
        body: String,
    },
    /// The registry asked for credentials we do not have, or refused the ones we sent.
    #[error("{host}: {reason}")]
    Auth {
        /// The registry host.
        host: String,
        /// What happened.
        reason: String,
    },
    /// Plain HTTP was needed but the host is not listed as an insecure registry.
    #[error(
        "{url}: plain HTTP refused; pass --insecure-registry {host} if this registry really has no TLS"
    )]
    PlainHttpRefused {
        /// The URL.
        url: String,
        /// The host to allow.
        host: String,
    },
    /// A manifest, index or configuration is not what the OCI image spec describes.
    #[error("{what} of {image}: {reason}")]
    Format {
        /// The image.
        image: String,
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The image has no variant for the platform confidential pods run on.
    #[error("{image}: no linux/amd64 image in its index (has: {available})")]
    NoPlatform {
        /// The image.
        image: String,
        /// The platforms the index lists.
        available: String,
    },
    /// Docker's `config.json` cannot be read or parsed, or a credential helper failed.
    #[error("{path}: {reason}")]
    Credentials {
        /// The file, or the helper program.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The on-disk cache could not be written.
    #[error("cache {path}")]
    Cache {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS configuration could not be built.
    #[error("TLS roots")]
    Roots(#[source] chiaro_https::HttpError),
}

impl RegistryError {
    /// The host that could not be reached, when this is a network failure (not an answer,
    /// not bad input): another try, a mirror or the cache may help where a fix of the input
    /// would not.
    pub fn unreachable_host(&self) -> Option<&str> {
        match self {
            Self::Unreachable { host, .. } => Some(host),
            _ => None,
        }
    }
}
