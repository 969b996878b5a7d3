//! `chiaro keygen`: workload-owner (ECDSA P-256) and seed-share-owner (RSA-4096) keys.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use chiaro_manifest::{KeyDigest, ManifestDraft};
use sha2::{Digest, Sha256};

use crate::cli::KeygenArgs;
use crate::commands::generate::{manifest, write_atomically};
use crate::commands::private_key_file;
use crate::exit::Outcome;
use crate::output::Printer;
use crate::reports::{SeedShareOwnerKey, WorkloadOwnerKey};

pub(crate) fn workload_owner(args: &KeygenArgs, printer: Printer) -> anyhow::Result<Outcome> {
    readable_manifest(args)?;
    let key = new_workload_owner(&args.out)?;
    let note = match &args.manifest {
        Some(path) => {
            add_to_manifest(path, |draft| {
                draft.with_workload_owner(key.manifest_workload_owner_key_digest)
            })?;
            format!(
                "added to `workload_owner_key_digests` in {}",
                path.display()
            )
        }
        None => "add the digest to `workload_owner_key_digests` in the manifest".to_owned(),
    };
    printer.show("workload-owner key", &serde_json::to_value(&key)?, &[note]);
    Ok(Outcome::Verified)
}

pub(crate) fn seed_share_owner(args: &KeygenArgs, printer: Printer) -> anyhow::Result<Outcome> {
    readable_manifest(args)?;
    let key = new_seed_share_owner(&args.out)?;
    let note = match &args.manifest {
        Some(path) => {
            add_to_manifest(path, |draft| draft.with_seed_share_owner(&key.public_key))?;
            format!(
                "added to `seed_share_owner_keys` in {}; keep the private key offline",
                path.display()
            )
        }
        None => "add the public key to `seed_share_owner_keys` in the manifest; keep the private key offline".to_owned(),
    };
    printer.show(
        "seed-share-owner key",
        &serde_json::to_value(&key)?,
        &[note],
    );
    Ok(Outcome::Verified)
}

/// Refuses a `--manifest` that is not a manifest before any key is made.
fn readable_manifest(args: &KeygenArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.manifest {
        manifest::read(path)?;
    }
    Ok(())
}

/// Rewrites the manifest at `path` (a skeleton when there is none) with `change`.
fn add_to_manifest(
    path: &Path,
    change: impl FnOnce(ManifestDraft) -> ManifestDraft,
) -> anyhow::Result<()> {
    let draft = manifest::read(path)?.unwrap_or_else(ManifestDraft::skeleton);
    write_atomically(path, change(draft).to_json_pretty().as_bytes())
}

/// A new workload-owner key (ECDSA P-256) written to `out` and `out.pub`.
pub(crate) fn new_workload_owner(out: &Path) -> anyhow::Result<WorkloadOwnerKey> {
    let key = rcgen::KeyPair::generate().context("generating an ECDSA P-256 key")?;
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    write_key_pair(out, &key.serialize_der(), &spki)?;
    Ok(WorkloadOwnerKey {
        private_key: out.display().to_string(),
        manifest_workload_owner_key_digest: KeyDigest::new(Sha256::digest(&spki).into()),
    })
}

/// A new seed-share-owner key (RSA-4096) written to `out` and `out.pub`.
pub(crate) fn new_seed_share_owner(out: &Path) -> anyhow::Result<SeedShareOwnerKey> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let key = rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), 4096)
        .context("generating an RSA-4096 key")?;
    let private = key.to_pkcs8_der().context("encoding the private key")?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .context("encoding the public key")?;
    write_key_pair(out, private.as_bytes(), public.as_bytes())?;
    Ok(SeedShareOwnerKey {
        private_key: out.display().to_string(),
        public_key: public.as_bytes().to_vec(),
    })
}

fn write_key_pair(out: &Path, private_pkcs8: &[u8], public_spki: &[u8]) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} exists; not overwriting a key", out.display());
    }
    let mut file = private_key_file::create(out)?;
    file.write_all(pem("PRIVATE KEY", private_pkcs8).as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let public_path = out.with_extension("pub");
    std::fs::write(&public_path, pem("PUBLIC KEY", public_spki))
        .with_context(|| format!("writing {}", public_path.display()))
}

/// PEM text of one DER block (`label` is one of the fixed labels used here, so encoding cannot
/// fail).
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// The DER of the `label` block in a PEM file.
pub(crate) fn read_pem(path: &Path, label: &str) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body: String = text
        .split(&begin)
        .nth(1)
        .and_then(|rest| rest.split(&end).next())
        .with_context(|| format!("{} has no {label} block", path.display()))?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .with_context(|| format!("{}: the PEM body is not base64", path.display()))
}
