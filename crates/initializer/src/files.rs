//! The files the initializer writes, for the workload and its mesh proxy.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chiaro_pod::CredentialsDir;
use chiaro_pod::layout::START_GATE_NAME;

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
pub fn write(out: &CredentialsDir, credentials: &Credentials) -> anyhow::Result<()> {
    let (tls, secrets) = (out.tls(), out.secrets());
    fs::create_dir_all(&tls).with_context(|| format!("creating {}", tls.display()))?;
    fs::create_dir_all(&secrets).with_context(|| format!("creating {}", secrets.display()))?;
    write_file(
        &out.mesh_ca(),
        pem("CERTIFICATE", &credentials.mesh_ca).as_bytes(),
        PUBLIC,
    )?;
    write_file(
        &out.root_ca(),
        pem("CERTIFICATE", &credentials.root_ca).as_bytes(),
        PUBLIC,
    )?;
    write_file(
        &out.certificate(),
        pem("CERTIFICATE", &credentials.certificate).as_bytes(),
        PUBLIC,
    )?;
    write_file(
        &out.key(),
        pem("PRIVATE KEY", &credentials.key).as_bytes(),
        PRIVATE,
    )?;
    if let Some(secret) = &credentials.workload_secret {
        write_file(
            &out.workload_secret_seed(),
            hex::encode(secret).as_bytes(),
            PRIVATE,
        )?;
    }
    Ok(())
}

/// Copies the `chiaro-start` binary to `out/bin/chiaro-start` (mode 0755) under a temporary
/// name and renames it into place, so a workload container sees the whole binary or none.
/// Returns where it is.
///
/// # Errors
/// The binary cannot be read or the copy cannot be written, named.
pub fn install_start_gate(out: &CredentialsDir, binary: &Path) -> anyhow::Result<PathBuf> {
    let bin = out.bin();
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let bytes = fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let target = out.start_gate();
    let temporary = bin.join(format!(".{START_GATE_NAME}.partial"));
    write_file(&temporary, &bytes, EXECUTABLE)?;
    fs::rename(&temporary, &target)
        .with_context(|| format!("renaming into {}", target.display()))?;
    Ok(target)
}

/// PEM text of one DER block (the labels used here are valid, so encoding cannot fail).
pub fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// The mode of a file only the pod's own user may read.
const PRIVATE: u32 = 0o600;
/// The mode of a file anyone in the pod may read.
const PUBLIC: u32 = 0o644;
/// The mode of a program anyone in the pod may run.
const EXECUTABLE: u32 = 0o755;

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests;
