//! `chiaro set`, `chiaro verify` and `chiaro recover`: the user API.
//!
//! Each attests the Coordinator against its pinned reference, then checks the deployment it
//! serves before acting on it: the owner-signed history verifies for its deployment id, it is
//! the deployment this machine recorded (`--deployment`), it has not been rolled back, and it
//! is endorsed by the local manifest's owners. Only then does `set` sign an update (a signature
//! would endorse whatever deployment it is for) and `recover` send the seed.

use std::path::Path;

use anyhow::{Context, bail};
use chiaro_api::history::{WireHistory, history_from_wire, owner_to_wire};
use chiaro_api::v1::user_api_client::UserApiClient;
use chiaro_api::v1::{CoordinatorState, GetManifestsRequest, RecoverRequest, SetManifestRequest};
use chiaro_manifest::{
    DeploymentId, KeyDigest, Manifest, ManifestError, OwnerSignature, TransitionHash,
    VerifiedHistory, recovery_message, update_message, verify_history,
};
use serde_json::{Value, json};
use sha2::Digest as _;
use tonic::transport::Channel;

use crate::cli::{RecoverArgs, SetArgs, VerifyDeploymentArgs};
use crate::commands::coordinator_client::{Target, outcome_of, runtime};
use crate::commands::deployment_record::{Comparison, DeploymentRecord};
use crate::commands::keygen::{pem, read_pem};
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;
use crate::reports::{HistoryStep, SetReport, VerifyReport};

/// Why the CLI refuses the deployment a Coordinator serves (exit 3).
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("the Coordinator's latest manifest {actual} is not the local manifest {expected}")]
    Mismatch { expected: String, actual: String },
    #[error(
        "the Coordinator serves deployment {actual}, but {record} records deployment {recorded}: \
         its state was replaced (wiped, or written from another seed)"
    )]
    OtherDeployment {
        actual: String,
        recorded: String,
        record: String,
    },
    #[error(
        "the Coordinator's history does not contain transition {recorded} (step {step} in {record}): \
         it was rolled back to an older state or forked"
    )]
    RolledBack {
        recorded: String,
        step: usize,
        record: String,
    },
    #[error(
        "no step of the Coordinator's history is signed by an owner the local manifest lists: \
         this is not a deployment its owners created"
    )]
    NotEndorsed,
    #[error("the Coordinator's signed history is refused")]
    History(#[source] ManifestError),
    #[error("the Coordinator refused the manifest: {0}")]
    Manifest(String),
    #[error(
        "the Coordinator is uninitialized, but {record} records deployment {recorded}: its state \
         was wiped, or this is another Coordinator (the recorded one may still run). To create a \
         new deployment, pass another --deployment file"
    )]
    Uninitialized { record: String, recorded: String },
    #[error(
        "the Coordinator's persisted state belongs to deployment {persisted}, this seed to \
         {seed}: refusing to send the seed"
    )]
    SeedOfAnotherDeployment { persisted: String, seed: String },
}

/// What `GetManifests` returned, decoded.
struct Fetched {
    state: CoordinatorState,
    history: WireHistory,
    pub(crate) root_ca: Vec<u8>,
    pub(crate) mesh_ca: Vec<u8>,
}

async fn fetch(client: &mut UserApiClient<Channel>) -> anyhow::Result<Fetched> {
    let response = client
        .get_manifests(GetManifestsRequest {})
        .await
        .context("reading the Coordinator's history")?
        .into_inner();
    Ok(Fetched {
        state: response.state(),
        history: history_from_wire(response.history.as_ref())
            .context("the Coordinator's history does not decode")?,
        root_ca: response.root_ca,
        mesh_ca: response.mesh_ca,
    })
}

/// The CA certificates a ready Coordinator serves with its history.
pub(crate) struct Cas {
    pub(crate) root_ca: Vec<u8>,
    pub(crate) mesh_ca: Vec<u8>,
}

/// A ready Coordinator's deployment, its history verified and compared with the record
/// (a rollback refused).
pub(crate) struct ReadyDeployment {
    pub(crate) history: VerifiedHistory,
    pub(crate) cas: Cas,
}

/// Fetches the deployment `client` serves and checks it: ready, its history verified, the
/// record's deployment, not rolled back.
pub(crate) async fn ready_deployment(
    client: &mut UserApiClient<Channel>,
    record: Option<&DeploymentRecord>,
    record_path: &Path,
    notes: &mut Vec<String>,
) -> anyhow::Result<ReadyDeployment> {
    let fetched = fetch(client).await?;
    if fetched.state != CoordinatorState::Ready {
        bail!(
            "the Coordinator is {}, not ready",
            fetched.state.as_str_name()
        );
    }
    let history = checked(fetched.history, record, record_path, false, notes)?;
    Ok(ReadyDeployment {
        history,
        cas: Cas {
            root_ca: fetched.root_ca,
            mesh_ca: fetched.mesh_ca,
        },
    })
}

/// Verifies the history and compares it with the record. A rollback is refused unless
/// `allow_rollback`; another deployment always is.
fn checked(
    history: WireHistory,
    record: Option<&DeploymentRecord>,
    record_path: &Path,
    allow_rollback: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<VerifiedHistory> {
    let deployment = history.deployment;
    let verified =
        verify_history(deployment, history.with_manifests()?).map_err(Refused::History)?;
    match DeploymentRecord::compare(record, &verified) {
        Comparison::FirstContact => notes.push(format!(
            "first contact with deployment {deployment}: recorded in {}",
            record_path.display()
        )),
        Comparison::Continues { new_steps } => {
            if new_steps > 0 {
                notes.push(format!(
                    "{new_steps} step(s) since this machine last saw it"
                ));
            }
        }
        Comparison::OtherDeployment { recorded } => {
            return Err(Refused::OtherDeployment {
                actual: deployment.to_string(),
                recorded,
                record: record_path.display().to_string(),
            }
            .into());
        }
        Comparison::RolledBack {
            recorded,
            recorded_steps,
        } => {
            let refusal = Refused::RolledBack {
                recorded,
                step: recorded_steps.saturating_sub(1),
                record: record_path.display().to_string(),
            };
            if !allow_rollback {
                return Err(refusal.into());
            }
            notes.push(format!(
                "WARNING: accepted as asked (--allow-rollback): {refusal}"
            ));
        }
    }
    Ok(verified)
}

fn history_json(history: &VerifiedHistory) -> Vec<HistoryStep> {
    history
        .steps()
        .iter()
        .enumerate()
        .map(|(index, (step, manifest))| HistoryStep {
            step: index,
            transition: step.transition.hash(),
            manifest: manifest.hash(),
            signed_by: step.owner.signer(),
            policies: manifest.policies().len(),
        })
        .collect()
}

pub(crate) fn set(args: &SetArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let (notes, result) = install(args)?;
    let result = result.and_then(|report| Ok(serde_json::to_value(report)?));
    Ok(finish(printer, "manifest installed", result, notes))
}

pub(crate) fn verify(args: &VerifyDeploymentArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let (notes, result) = verified(args)?;
    let result = result.and_then(|report| Ok(serde_json::to_value(report)?));
    Ok(finish(printer, "deployment verified", result, notes))
}

/// `chiaro set` without printing: an error in the input (`Err`), or the notes and what
/// installing the manifest at the Coordinator gave.
pub(crate) fn install(args: &SetArgs) -> anyhow::Result<(Vec<String>, anyhow::Result<SetReport>)> {
    let text = String::from_utf8(input::read(&args.manifest, "manifest")?)
        .with_context(|| format!("{} is not UTF-8", args.manifest.display()))?;
    let manifest =
        Manifest::parse(&text).with_context(|| format!("manifest {}", args.manifest.display()))?;
    let Some(owner_key) = &args.workload_owner_key else {
        bail!(
            "--workload-owner-key is required: every manifest, the first included, is signed by a \
             workload owner (the first by one it lists itself)"
        );
    };
    let signer = OwnerSigner::read(owner_key)?;
    let record_path = &args.coordinator.deployment;
    let record = DeploymentRecord::read(record_path)?;
    let target = Target::from_args(&args.coordinator)?;
    let mut notes = target.warnings();
    let result = runtime()?.block_on(async {
        let mut client = target.connect().await?;
        let fetched = fetch(&mut client).await?;
        let (deployment, previous, steps) = match fetched.state {
            CoordinatorState::Uninitialized => {
                if let Some(record) = &record {
                    return Err(Refused::Uninitialized {
                        record: record_path.display().to_string(),
                        recorded: record.deployment_id.clone(),
                    }
                    .into());
                }
                (fetched.history.deployment, TransitionHash::ZERO, 0)
            }
            CoordinatorState::Ready => {
                let verified = checked(
                    fetched.history,
                    record.as_ref(),
                    record_path,
                    false,
                    &mut notes,
                )?;
                // A signature endorses the deployment it names: sign only into one a local
                // owner already signed, whatever the record says (a record can be a
                // first contact with a deployment the host made).
                if !verified.is_endorsed_by(&owners_of(&manifest, &signer.digest())) {
                    return Err(Refused::NotEndorsed.into());
                }
                (
                    *verified.deployment(),
                    verified.latest_hash(),
                    verified.steps().len(),
                )
            }
            state => bail!(
                "the Coordinator is {}: run `chiaro recover` first",
                state.as_str_name()
            ),
        };
        let owner = signer.sign(&update_message(&deployment, &previous, &manifest.hash()))?;
        let response = match client
            .set_manifest(SetManifestRequest {
                manifest: text.into_bytes(),
                owner: Some(owner_to_wire(&owner)),
            })
            .await
        {
            Ok(response) => response.into_inner(),
            // The Coordinator judged the manifest or its signature: a refusal (exit 3).
            Err(status) if refusal_code(status.code()) => {
                return Err(Refused::Manifest(status.message().to_owned()).into());
            }
            Err(status) => {
                return Err(anyhow::Error::from(status).context("installing the manifest"));
            }
        };
        let written = write_shares(&args.seed_shares_dir, &response.seed_shares)?;
        let transition = hex::encode(&response.transition_hash);
        DeploymentRecord {
            deployment_id: deployment.to_string(),
            latest_transition: transition.clone(),
            steps: if response.unchanged { steps } else { steps + 1 },
        }
        .write(record_path)?;
        Ok::<_, anyhow::Error>(SetReport {
            deployment,
            transition,
            manifest: manifest.hash(),
            seed_shares: written,
            record: record_path.display().to_string(),
            unchanged: response.unchanged,
        })
    });
    Ok((notes, result))
}

/// `chiaro verify` without printing: an error in the input (`Err`), or the notes and what
/// verifying the deployment gave.
pub(crate) fn verified(
    args: &VerifyDeploymentArgs,
) -> anyhow::Result<(Vec<String>, anyhow::Result<VerifyReport>)> {
    let expected = args
        .manifest
        .as_deref()
        .map(|path| {
            let text = String::from_utf8(input::read(path, "manifest")?)
                .with_context(|| format!("{} is not UTF-8", path.display()))?;
            Manifest::parse(&text).with_context(|| format!("manifest {}", path.display()))
        })
        .transpose()?;
    let record_path = &args.coordinator.deployment;
    let record = DeploymentRecord::read(record_path)?;
    let target = Target::from_args(&args.coordinator)?;
    let mut notes = target.warnings();
    let result = runtime()?.block_on(async {
        let mut client = target.connect().await?;
        let ready = ready_deployment(&mut client, record.as_ref(), record_path, &mut notes).await?;
        let (verified, fetched) = (ready.history, ready.cas);
        let latest = verified
            .latest_manifest()
            .context("the Coordinator has no manifest")?;
        match &expected {
            Some(expected) => {
                if expected.hash() != latest.hash() {
                    return Err(Refused::Mismatch {
                        expected: expected.hash().to_string(),
                        actual: latest.hash().to_string(),
                    }
                    .into());
                }
                if !verified.is_endorsed_by(expected.workload_owner_key_digests()) {
                    return Err(Refused::NotEndorsed.into());
                }
            }
            None if record.is_none() => notes.push(
                "nothing pins who created this deployment: pass -m manifest.json, or keep the \
                 --deployment record and verify against it; no record written"
                    .to_owned(),
            ),
            None => {}
        }
        write_verification(&args.out, &verified, &fetched.root_ca, &fetched.mesh_ca)?;
        // A record is a trust anchor for later runs: written only for a history checked
        // against the local manifest's owners, or one that continues the record.
        if expected.is_some() || record.is_some() {
            DeploymentRecord::of(&verified).write(record_path)?;
        }
        Ok(VerifyReport {
            deployment: *verified.deployment(),
            manifests: verified.steps().len(),
            latest_manifest: latest.hash(),
            latest_transition: verified.latest_hash(),
            history: history_json(&verified),
            out: args.out.display().to_string(),
        })
    });
    Ok((notes, result))
}

pub(crate) fn recover(args: &RecoverArgs, printer: Printer) -> anyhow::Result<Outcome> {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let key =
        rsa::PrivateKey::from_pkcs8_der(&read_pem(&args.seed_share_owner_key, "PRIVATE KEY")?)
            .context("the seed-share owner key is not an RSA PKCS#8 key")?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .context("encoding the public key")?
        .as_bytes()
        .to_vec();
    let share_path = args.seed_share.clone().unwrap_or_else(|| {
        args.seed_shares_dir.join(format!(
            "seed-share-{}.bin",
            hex::encode(sha2::Sha256::digest(&spki))
        ))
    });
    let share = input::read(&share_path, "seed share")?;
    let seed = zeroize::Zeroizing::new(
        key.oaep_decrypt::<sha2::Sha256>(&share)
            .map_err(|_| anyhow::anyhow!("the seed share does not decrypt with this key"))?,
    );
    let deployment = DeploymentId::from_seed(&seed);
    let record_path = &args.coordinator.deployment;
    let record = DeploymentRecord::read(record_path)?;
    let target = Target::from_args(&args.coordinator)?;
    let mut notes = target.warnings();
    let result = runtime()?.block_on(async {
        let (mut client, session) = target.connect_bound().await?;
        let fetched = fetch(&mut client).await?;
        if fetched.state != CoordinatorState::Recovery {
            bail!(
                "the Coordinator is {}, not in recovery",
                fetched.state.as_str_name()
            );
        }
        if fetched.history.deployment != deployment {
            return Err(Refused::SeedOfAnotherDeployment {
                persisted: fetched.history.deployment.to_string(),
                seed: deployment.to_string(),
            }
            .into());
        }
        let verified = checked(
            fetched.history,
            record.as_ref(),
            record_path,
            args.allow_rollback,
            &mut notes,
        )?;
        let session = session
            .current()
            .context("the connection has no session binding")?;
        let message = recovery_message(
            &deployment,
            session.as_bytes(),
            &sha2::Sha256::digest(seed.as_slice()).into(),
        );
        let signature = sign_pss(&key, &message)?;
        client
            .recover(RecoverRequest {
                seed: seed.to_vec(),
                owner_public_key: spki.clone(),
                owner_signature: signature,
            })
            .await
            .context("the Coordinator refused the seed")?;
        DeploymentRecord::of(&verified).write(record_path)?;
        Ok::<_, anyhow::Error>(json!({
            "recovered": true,
            "deployment": deployment.to_string(),
            "latest_transition": verified.latest_hash().to_string(),
            "history": history_json(&verified),
        }))
    });
    Ok(finish(printer, "Coordinator recovered", result, notes))
}

/// A workload owner's signing key.
pub(crate) struct OwnerSigner {
    key: ring::signature::EcdsaKeyPair,
    spki: Vec<u8>,
}

impl OwnerSigner {
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let pkcs8 = read_pem(path, "PRIVATE KEY")?;
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| {
            anyhow::anyhow!("the workload-owner key is not an ECDSA P-256 PKCS#8 key: {e}")
        })?;
        let spki = rcgen::KeyPair::try_from(pkcs8.as_slice())
            .map(|pair| rcgen::PublicKeyData::subject_public_key_info(&pair))
            .context("the workload-owner key does not load")?;
        Ok(Self { key, spki })
    }

    pub(crate) fn digest(&self) -> KeyDigest {
        KeyDigest::new(sha2::Sha256::digest(&self.spki).into())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> anyhow::Result<OwnerSignature> {
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), message)
            .map_err(|e| anyhow::anyhow!("signing the update: {e}"))?;
        Ok(OwnerSignature::new(
            self.spki.clone(),
            signature.as_ref().to_vec(),
        ))
    }
}

/// The owners whose signature in a history says it is ours: those the local manifest lists,
/// and the key we sign with.
fn owners_of(manifest: &Manifest, signer: &KeyDigest) -> Vec<KeyDigest> {
    let mut owners = manifest.workload_owner_key_digests().to_vec();
    owners.push(*signer);
    owners
}

fn sign_pss(key: &rsa::PrivateKey, message: &[u8]) -> anyhow::Result<Vec<u8>> {
    use rsa::signature::{RandomizedSigner, SignatureEncoding};
    let signer = rsa::pss::SigningKey::<sha2::Sha256>::new(key.clone());
    let signature = signer
        .try_sign_with_rng(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), message)
        .map_err(|e| anyhow::anyhow!("signing the recovery proof: {e}"))?;
    Ok(signature.to_vec())
}

fn write_shares(dir: &Path, shares: &[chiaro_api::v1::SeedShare]) -> anyhow::Result<Vec<String>> {
    if shares.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    shares
        .iter()
        .map(|share| {
            let path = dir.join(format!(
                "seed-share-{}.bin",
                hex::encode(&share.owner_key_digest)
            ));
            std::fs::write(&path, &share.encrypted_seed)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(path.display().to_string())
        })
        .collect()
}

fn finish(
    printer: Printer,
    kind: &str,
    result: anyhow::Result<Value>,
    notes: Vec<String>,
) -> Outcome {
    match result {
        Ok(fields) => {
            printer.show(kind, &fields, &notes);
            Outcome::Verified
        }
        Err(error) => {
            for note in &notes {
                printer.line(&format!("note: {note}"));
            }
            printer.input_error(&error);
            failure_outcome(&error)
        }
    }
}

/// Whether the Coordinator's answer `code` judged the request (the manifest, its signature, the
/// deployment's state) rather than failed to serve it.
fn refusal_code(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::InvalidArgument
            | tonic::Code::PermissionDenied
            | tonic::Code::FailedPrecondition
    )
}

/// The exit for a failed deployment command: a refused deployment or Coordinator is a
/// rejection (3), anything else a failure (1).
pub(crate) fn failure_outcome(error: &anyhow::Error) -> Outcome {
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<Refused>().is_some())
    {
        Outcome::Rejected
    } else {
        outcome_of(error)
    }
}

fn write_verification(
    out: &Path,
    history: &VerifiedHistory,
    root_ca: &[u8],
    mesh_ca: &[u8],
) -> anyhow::Result<()> {
    let manifests = out.join("manifests");
    std::fs::create_dir_all(&manifests)
        .with_context(|| format!("creating {}", manifests.display()))?;
    for (index, (_, manifest)) in history.steps().iter().enumerate() {
        let path = manifests.join(format!("{index:04}-{}.json", manifest.hash()));
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
