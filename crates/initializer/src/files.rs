//! The files the initializer writes, for the workload and its mesh proxy.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chiaro_atomic_file::Mode;
use chiaro_pod::CredentialsDir;

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

/// Copies the `chiaro-start` binary to `out/bin/chiaro-start` (mode 0755), atomically like every
/// file here, so a workload container sees the whole binary or none.
/// Returns where it is.
///
/// # Errors
/// The binary cannot be read or the copy cannot be written, named.
pub fn install_start_gate(out: &CredentialsDir, binary: &Path) -> anyhow::Result<PathBuf> {
    let bin = out.bin();
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let bytes = fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let target = out.start_gate();
    write_file(&target, &bytes, Mode::EXECUTABLE)?;
    Ok(target)
}

/// PEM text of one DER block (the labels used here are valid, so encoding cannot fail).
pub fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// The mode of a file only the pod's own user may read.
const PRIVATE: Mode = Mode::PRIVATE;
/// The mode of a file anyone in the pod may read.
const PUBLIC: Mode = Mode::PUBLIC;

/// Every file here is written atomically (`chiaro-atomic-file`): a reader, or a restart after a
/// crash, sees the old file or the whole new one, and a private file is never readable by
/// others at any instant (it is created with its mode).
fn write_file(path: &Path, bytes: &[u8], mode: Mode) -> anyhow::Result<()> {
    chiaro_atomic_file::write(path, bytes, mode)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests;
