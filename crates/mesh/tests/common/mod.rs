//! Test helpers shared by the mesh tests: a certificate authority and scratch directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A certificate authority for tests.
pub(crate) struct Ca {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    pub(crate) pem: String,
}

impl Ca {
    pub(crate) fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Names of their own for the CA and each leaf: OpenSSL (the Python clients and servers
        // of the namespace tests) takes a leaf named like its issuer for self-signed.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "chiaro test mesh CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Self { params, key, pem }
    }

    /// Writes `dir/tls/{cert,key,mesh-ca}.pem` for a workload with `names`.
    pub(crate) fn credentials(&self, dir: &Path, names: &[&str]) {
        self.credentials_for(dir, names, &[]);
    }

    /// Writes `dir/tls/{cert,key,mesh-ca}.pem` for a certificate with `names` and the
    /// extended key usages `usages` (none: any).
    pub(crate) fn credentials_for(
        &self,
        dir: &Path,
        names: &[&str],
        usages: &[rcgen::ExtendedKeyUsagePurpose],
    ) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.extended_key_usages = usages.to_vec();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("leaf"),
        );
        let certificate = params
            .signed_by(&key, &rcgen::Issuer::from_params(&self.params, &self.key))
            .unwrap();
        let files = chiaro_pod::CredentialsDir::new(dir);
        std::fs::create_dir_all(files.tls()).unwrap();
        std::fs::write(files.certificate(), certificate.pem()).unwrap();
        std::fs::write(files.key(), key.serialize_pem()).unwrap();
        std::fs::write(files.mesh_ca(), &self.pem).unwrap();
    }
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "chiaro-mesh-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
