//! `chiaro set`, `chiaro verify` and `chiaro recover`: the user API.

use std::path::Path;

use anyhow::{Context, bail};
use chiaro_api::v1::{GetManifestsRequest, RecoverRequest, SetManifestRequest};
use chiaro_manifest::{Manifest, Transition, TransitionHash, update_message};
use serde_json::json;

use crate::cli::{RecoverArgs, SetArgs, VerifyDeploymentArgs};
use crate::commands::coordinator_client::{Target, outcome_of, runtime};
use crate::commands::keygen::{pem, read_pem};
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;

pub(crate) fn set(args: &SetArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let text = String::from_utf8(input::read(&args.manifest, "manifest")?)
        .with_context(|| format!("{} is not UTF-8", args.manifest.display()))?;
    let manifest =
        Manifest::parse(&text).with_context(|| format!("manifest {}", args.manifest.display()))?;
    let owner = args
        .workload_owner_key
        .as_deref()
        .map(|path| read_pem(path, "PRIVATE KEY"))
        .transpose()?;
    let target = Target::from_args(&args.coordinator)?;
    let result = runtime()?.block_on(async {
        let mut client = target.connect().await?;
        let mut request = SetManifestRequest {
            manifest: text.into_bytes(),
            ..SetManifestRequest::default()
        };
        if let Some(pkcs8) = &owner {
            let history = client
                .get_manifests(GetManifestsRequest {})
                .await
                .context("reading the current history")?
                .into_inner();
            let previous = history
                .transitions
                .last()
                .and_then(|bytes| Transition::from_bytes(bytes))
                .map_or(TransitionHash::ZERO, Transition::hash);
            let rng = ring::rand::SystemRandom::new();
            let key = ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                pkcs8,
                &rng,
            )
            .map_err(|e| {
                anyhow::anyhow!("the workload-owner key is not an ECDSA P-256 PKCS#8 key: {e}")
            })?;
            let signature = key
                .sign(&rng, &update_message(&previous, &manifest.hash()))
                .map_err(|e| anyhow::anyhow!("signing the update: {e}"))?;
            request.owner_public_key = spki_of(pkcs8)?;
            request.owner_signature = signature.as_ref().to_vec();
        }
        let response = client
            .set_manifest(request)
            .await
            .context("the Coordinator refused the manifest")?
            .into_inner();
        std::fs::create_dir_all(&args.seed_shares_dir)
            .with_context(|| format!("creating {}", args.seed_shares_dir.display()))?;
        let mut written = Vec::new();
        for share in &response.seed_shares {
            let path = args.seed_shares_dir.join(format!(
                "seed-share-{}.bin",
                hex::encode(&share.owner_key_digest)
            ));
            std::fs::write(&path, &share.encrypted_seed)
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(path.display().to_string());
        }
        Ok::<_, anyhow::Error>(json!({
            "transition": hex::encode(&response.transition_hash),
            "manifest": manifest.hash().to_string(),
            "seed_shares": written,
        }))
    });
    Ok(finish(
        printer,
        "manifest installed",
        result,
        target.warnings(),
    ))
}

pub(crate) fn verify(args: &VerifyDeploymentArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let expected = args
        .manifest
        .as_deref()
        .map(|path| {
            let text = String::from_utf8(input::read(path, "manifest")?)
                .with_context(|| format!("{} is not UTF-8", path.display()))?;
            Manifest::parse(&text).with_context(|| format!("manifest {}", path.display()))
        })
        .transpose()?;
    let target = Target::from_args(&args.coordinator)?;
    let result = runtime()?.block_on(async {
        let mut client = target.connect().await?;
        let history = client
            .get_manifests(GetManifestsRequest {})
            .await
            .context("reading the history")?
            .into_inner();
        let transitions = history
            .transitions
            .iter()
            .map(|bytes| {
                Transition::from_bytes(bytes).context("the Coordinator sent a malformed transition")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !Transition::is_chain(&transitions) || transitions.len() != history.manifests.len() {
            bail!("the Coordinator's history is not a hash chain");
        }
        let mut manifests = Vec::new();
        for (transition, bytes) in transitions.iter().zip(&history.manifests) {
            let text =
                std::str::from_utf8(bytes).context("a manifest in the history is not UTF-8")?;
            let manifest =
                Manifest::parse(text).context("a manifest in the history does not parse")?;
            if manifest.hash() != transition.manifest {
                bail!("a manifest in the history does not match its transition");
            }
            manifests.push(manifest);
        }
        let latest = manifests
            .last()
            .context("the Coordinator has no manifest")?;
        if let Some(expected) = &expected
            && expected.hash() != latest.hash()
        {
            return Err(Mismatch {
                expected: expected.hash().to_string(),
                actual: latest.hash().to_string(),
            }
            .into());
        }
        write_verification(&args.out, &manifests, &history.root_ca, &history.mesh_ca)?;
        Ok(json!({
            "manifests": manifests.len(),
            "latest_manifest": latest.hash().to_string(),
            "latest_transition": transitions.last().map(|t| t.hash().to_string()),
            "out": args.out.display().to_string(),
        }))
    });
    Ok(finish(
        printer,
        "deployment verified",
        result,
        target.warnings(),
    ))
}

pub(crate) fn recover(args: &RecoverArgs, printer: Printer) -> anyhow::Result<Outcome> {
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::PrivateKey::from_pkcs8_der(&read_pem(&args.seedshare_owner_key, "PRIVATE KEY")?)
        .context("the seed-share owner key is not an RSA PKCS#8 key")?;
    let share_path = match &args.seed_share {
        Some(path) => path.clone(),
        None => {
            use rsa::pkcs8::EncodePublicKey;
            use sha2::Digest;
            let spki = key
                .to_public_key()
                .to_public_key_der()
                .context("encoding the public key")?;
            args.seed_shares_dir.join(format!(
                "seed-share-{}.bin",
                hex::encode(sha2::Sha256::digest(spki.as_bytes()))
            ))
        }
    };
    let share = input::read(&share_path, "seed share")?;
    let seed = key
        .oaep_decrypt::<sha2::Sha256>(&share)
        .map_err(|_| anyhow::anyhow!("the seed share does not decrypt with this key"))?;
    let target = Target::from_args(&args.coordinator)?;
    let result = runtime()?.block_on(async {
        let mut client = target.connect().await?;
        client
            .recover(RecoverRequest { seed })
            .await
            .context("the Coordinator refused the seed")?;
        Ok::<_, anyhow::Error>(json!({ "recovered": true }))
    });
    Ok(finish(
        printer,
        "Coordinator recovered",
        result,
        target.warnings(),
    ))
}

/// The Coordinator's latest manifest is not the one the user holds.
#[derive(Debug, thiserror::Error)]
#[error("the Coordinator's latest manifest {actual} is not the local manifest {expected}")]
struct Mismatch {
    expected: String,
    actual: String,
}

fn finish(
    printer: Printer,
    kind: &str,
    result: anyhow::Result<serde_json::Value>,
    notes: Vec<String>,
) -> Outcome {
    match result {
        Ok(fields) => {
            printer.show(kind, &fields, &notes);
            Outcome::Verified
        }
        Err(error) => {
            printer.input_error(&error);
            if error.downcast_ref::<Mismatch>().is_some() {
                Outcome::Rejected
            } else {
                outcome_of(&error)
            }
        }
    }
}

fn write_verification(
    out: &Path,
    manifests: &[Manifest],
    root_ca: &[u8],
    mesh_ca: &[u8],
) -> anyhow::Result<()> {
    let history = out.join("manifests");
    std::fs::create_dir_all(&history).with_context(|| format!("creating {}", history.display()))?;
    for (index, manifest) in manifests.iter().enumerate() {
        let path = history.join(format!("{index:04}-{}.json", manifest.hash()));
        std::fs::write(&path, manifest.to_json_pretty())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for (name, der) in [
        ("coordinator-root-ca.pem", root_ca),
        ("mesh-ca.pem", mesh_ca),
    ] {
        let path = out.join(name);
        std::fs::write(&path, pem("CERTIFICATE", der))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn spki_of(pkcs8: &[u8]) -> anyhow::Result<Vec<u8>> {
    let key = rcgen::KeyPair::try_from(pkcs8).context("the workload-owner key does not load")?;
    Ok(rcgen::PublicKeyData::subject_public_key_info(&key))
}
