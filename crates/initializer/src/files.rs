//! The files the initializer writes, for the workload and its mesh proxy.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// What the Coordinator handed out, and the key it certified.
#[derive(Debug)]
pub struct Credentials {
    /// The mesh certificate (DER).
    pub certificate: Vec<u8>,
    /// The mesh key (PKCS#8 DER).
    pub key: Vec<u8>,
    /// The mesh CA certificate (DER).
    pub mesh_ca: Vec<u8>,
    /// The root CA certificate (DER).
    pub root_ca: Vec<u8>,
    /// The workload secret, if any.
    pub workload_secret: Option<Vec<u8>>,
}

/// Writes the credentials under `out`; private material is created with mode 0600.
///
/// # Errors
/// Any file that cannot be written, named.
pub fn write(out: &Path, credentials: &Credentials) -> anyhow::Result<()> {
    let tls = out.join("tls");
    let secrets = out.join("secrets");
    fs::create_dir_all(&tls).with_context(|| format!("creating {}", tls.display()))?;
    fs::create_dir_all(&secrets).with_context(|| format!("creating {}", secrets.display()))?;
    write_file(
        &tls.join("mesh-ca.pem"),
        pem("CERTIFICATE", &credentials.mesh_ca).as_bytes(),
        false,
    )?;
    write_file(
        &tls.join("coordinator-root-ca.pem"),
        pem("CERTIFICATE", &credentials.root_ca).as_bytes(),
        false,
    )?;
    write_file(
        &tls.join("cert.pem"),
        pem("CERTIFICATE", &credentials.certificate).as_bytes(),
        false,
    )?;
    write_file(
        &tls.join("key.pem"),
        pem("PRIVATE KEY", &credentials.key).as_bytes(),
        true,
    )?;
    if let Some(secret) = &credentials.workload_secret {
        write_file(
            &secrets.join("workload-secret-seed"),
            hex::encode(secret).as_bytes(),
            true,
        )?;
    }
    Ok(())
}

/// PEM text of one DER block (the labels used here are valid, so encoding cannot fail).
pub fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("writing {}", path.display()))
}
