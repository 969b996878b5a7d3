//! Where the system's root certificates come from.
//!
//! - **Linux and Windows**: `rustls-native-certs`: the distribution's bundle (`SSL_CERT_FILE`
//!   and `SSL_CERT_DIR` first), or the Windows certificate store.
//! - **macOS**: the PEM bundle the system keeps at `/etc/ssl/cert.pem`, or the file
//!   `SSL_CERT_FILE` names. Reading the Keychain would link Apple's Security framework, which
//!   only Apple's SDK provides (the CLI is built for macOS without it, `docs/cross-platform.md`);
//!   a root that an administrator added to the Keychain is therefore not trusted unless it is
//!   exported into a bundle that `SSL_CERT_FILE` names.

use rustls::pki_types::CertificateDer;

/// The system's root certificates, those that parse.
#[cfg(not(target_os = "macos"))]
pub(crate) fn system_certificates() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// The system's root certificates, those that parse.
#[cfg(target_os = "macos")]
pub(crate) fn system_certificates() -> Vec<CertificateDer<'static>> {
    let bundle = std::env::var_os("SSL_CERT_FILE").map_or_else(
        || std::path::PathBuf::from(MACOS_BUNDLE),
        std::path::PathBuf::from,
    );
    bundle_certificates(&bundle)
}

/// The bundle macOS keeps current with the system's roots.
#[cfg(any(target_os = "macos", test))]
const MACOS_BUNDLE: &str = "/etc/ssl/cert.pem";

/// The certificates of the PEM bundle at `path` (none when it cannot be read; a block that does
/// not parse is left out).
#[cfg(any(target_os = "macos", test))]
fn bundle_certificates(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_file_iter(path)
        .map(|certificates| certificates.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_gives_its_certificates_and_a_missing_one_none() {
        let directory = std::env::temp_dir().join(format!("chiaro-roots-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let bundle = directory.join("cert.pem");
        // Two blocks (base64 of "first" and "second") with text between them, as bundles have.
        std::fs::write(
            &bundle,
            "-----BEGIN CERTIFICATE-----\nZmlyc3Q=\n-----END CERTIFICATE-----\n\
             # a comment\n\
             -----BEGIN CERTIFICATE-----\nc2Vjb25k\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let certificates = bundle_certificates(&bundle);
        assert_eq!(
            certificates
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect::<Vec<_>>(),
            [b"first".to_vec(), b"second".to_vec()]
        );
        assert!(bundle_certificates(&directory.join("missing.pem")).is_empty());
        assert_eq!(MACOS_BUNDLE, "/etc/ssl/cert.pem");
        std::fs::remove_dir_all(directory).unwrap();
    }
}
