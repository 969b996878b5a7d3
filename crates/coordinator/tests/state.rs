//! The Coordinator's state machine through its operations: first manifest, mesh certificates,
//! authorised and unauthorised manifests, restart into recovery, recovery with a seed share
//! and its owner's proof, and workload owners' client certificates.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::PathBuf;
use std::sync::OnceLock;

use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_attest::{Claims, HostData, UnixTime, Verified};
use chiaro_coordinator::seed::Seed;
use chiaro_coordinator::state::{
    Coordinator, CoreError, OWNER_CERT_MAX_LIFETIME_SECS, OwnerCertRequest, RecoveryProof,
};
use chiaro_coordinator::store::DirStore;
use chiaro_manifest::{
    DeploymentId, Manifest, OwnerSignature, PolicyHash, TransitionHash, owner_client_cert_message,
    recovery_message, update_message,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use rsa::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};

const WEB: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const API: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const DB: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

fn tee() -> &'static InsecureSimulatedTee {
    static TEE: OnceLock<InsecureSimulatedTee> = OnceLock::new();
    TEE.get_or_init(|| InsecureSimulatedTee::generate(now()).unwrap())
}

fn share_owner() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), 3072).unwrap()
    })
}

/// The deployment's workload owner.
fn the_owner() -> &'static (Vec<u8>, EcdsaKeyPair) {
    static OWNER: OnceLock<(Vec<u8>, EcdsaKeyPair)> = OnceLock::new();
    OWNER.get_or_init(owner)
}

/// A workload owner's P-256 key: (SubjectPublicKeyInfo DER, signing key).
fn owner() -> (Vec<u8>, EcdsaKeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let signer = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.serialize_der(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    (rcgen::PublicKeyData::subject_public_key_info(&key), signer)
}

/// A manifest listing the owners `owner_spkis` (the deployment's owner when `None`).
fn manifest(owner_spki: Option<&[u8]>, web_san: &str) -> String {
    let owners: Vec<String> = vec![hex::encode(Sha256::digest(
        owner_spki.unwrap_or(&the_owner().0),
    ))];
    serde_json::json!({
        "version": 1,
        "policies": {
            WEB: { "sans": [web_san], "workload_secret_id": "shared" },
            API: { "sans": ["api"], "workload_secret_id": "shared" },
            DB: { "sans": ["db"], "workload_secret_id": "db" },
        },
        "reference_values": { "insecure_simulated": [{ "ark": hex::encode(tee().ark_der()), "values": { "measurements": ["0".repeat(96)] } }] },
        "workload_owner_key_digests": owners,
        "seed_share_owner_keys": [hex::encode(share_owner().to_public_key().to_public_key_der().unwrap().as_bytes())],
    })
    .to_string()
}

/// Verified claims of a simulated workload launched with `policy`.
fn workload(policy: &str) -> Verified<Claims> {
    let host_data = HostData::new(*PolicyHash::from_hex(policy).unwrap().as_bytes());
    let report = tee()
        .report(
            &SimulatedLaunch {
                host_data,
                ..SimulatedLaunch::default()
            },
            &chiaro_attest::ReportData::new([0; 64]),
        )
        .unwrap();
    chiaro_attest::snp::verify(
        &report,
        &tee().collateral(),
        &tee().trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap()
}

fn workload_key() -> Vec<u8> {
    rcgen::KeyPair::generate()
        .unwrap()
        .public_key_raw()
        .to_vec()
}

fn store(name: &str) -> DirStore {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("chiaro-state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    DirStore::open(dir).unwrap()
}

/// `signer`'s signature of `text` as the next manifest of `coordinator`'s deployment.
fn sign(
    signer: &EcdsaKeyPair,
    spki: &[u8],
    coordinator: &Coordinator,
    text: &str,
) -> OwnerSignature {
    let snapshot = coordinator.snapshot();
    let previous = snapshot
        .steps
        .last()
        .map_or(TransitionHash::ZERO, |(step, _)| step.transition.hash());
    sign_for(signer, spki, &snapshot.deployment, &previous, text)
}

fn sign_for(
    signer: &EcdsaKeyPair,
    spki: &[u8],
    deployment: &DeploymentId,
    previous: &TransitionHash,
    text: &str,
) -> OwnerSignature {
    let manifest = Manifest::parse(text).unwrap();
    let message = update_message(deployment, previous, &manifest.hash());
    let signature = signer
        .sign(&ring::rand::SystemRandom::new(), &message)
        .unwrap();
    OwnerSignature::new(spki.to_vec(), signature.as_ref().to_vec())
}

/// The owner's signature of `text` as the next manifest.
fn by_owner(coordinator: &Coordinator, text: &str) -> OwnerSignature {
    sign(&the_owner().1, &the_owner().0, coordinator, text)
}

/// Installs `text`, signed by the deployment's owner.
fn install(coordinator: &Coordinator, text: &str) -> chiaro_coordinator::state::Installed {
    let owner = by_owner(coordinator, text);
    coordinator.set_manifest(text, Some(&owner), now()).unwrap()
}

/// Mesh credentials for `policy`, judged under the current manifest.
fn issue(
    coordinator: &Coordinator,
    policy: &str,
) -> Result<chiaro_coordinator::state::MeshCredentials, CoreError> {
    let judged_under = coordinator.current().map(|(transition, _)| transition);
    coordinator.new_mesh_cert(&workload(policy), judged_under, &workload_key(), now())
}

const SESSION: [u8; 32] = [9; 32];

/// The seed-share owner's proof for `seed` over the session [`SESSION`].
fn proof(key: &rsa::PrivateKey, deployment: &DeploymentId, seed: &[u8]) -> RecoveryProof {
    use rsa::signature::{RandomizedSigner, SignatureEncoding};
    let message = recovery_message(deployment, &SESSION, &Sha256::digest(seed).into());
    let signature = rsa::pss::SigningKey::<Sha256>::new(key.clone())
        .try_sign_with_rng(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), &message)
        .unwrap();
    RecoveryProof {
        public_key: key
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec(),
        signature: signature.to_vec(),
        session: SESSION,
    }
}

#[test]
fn the_first_manifest_makes_the_coordinator_ready_and_returns_seed_shares() {
    let coordinator = Coordinator::open(store("first")).unwrap();
    assert_eq!(coordinator.state_name(), "uninitialized");
    assert!(matches!(
        issue(&coordinator, WEB),
        Err(CoreError::NotReady(_))
    ));
    let installed = install(&coordinator, &manifest(None, "web"));
    assert_eq!(coordinator.state_name(), "ready");
    assert_eq!(installed.seed_shares.len(), 1);
    let seed = Seed::from_share(&installed.seed_shares[0].encrypted_seed, share_owner()).unwrap();
    assert_eq!(
        coordinator.snapshot().deployment,
        seed.deployment_id(),
        "the deployment id is the seed's"
    );
    let credentials = issue(&coordinator, WEB).unwrap();
    assert_eq!(
        credentials.workload_secret.unwrap(),
        seed.workload_secret("shared").unwrap()
    );
}

#[test]
fn workloads_get_secrets_by_id_and_unknown_policies_nothing() {
    let coordinator = Coordinator::open(store("secrets")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let web = issue(&coordinator, WEB).unwrap();
    let api = issue(&coordinator, API).unwrap();
    let db = issue(&coordinator, DB).unwrap();
    assert_eq!(
        web.workload_secret, api.workload_secret,
        "same secret id, same secret"
    );
    assert_ne!(
        web.workload_secret, db.workload_secret,
        "another id, another secret"
    );
    let unknown = "44".repeat(32);
    assert!(matches!(
        issue(&coordinator, &unknown),
        Err(CoreError::UnknownPolicy)
    ));
}

#[test]
fn attack_pod_under_the_coordinators_policy_gets_no_mesh_certificate_or_secret() {
    // The Coordinator's entry (role `coordinator`) names the policy a Coordinator runs under,
    // which pods and the CLI pin it by. A pod launched under that policy that asks for mesh
    // credentials would otherwise get a certificate with the entry's names and its secret.
    let coordinator = Coordinator::open(store("coordinator-role")).unwrap();
    let coordinator_policy = "c0".repeat(32);
    let mut text: serde_json::Value = serde_json::from_str(&manifest(None, "web")).unwrap();
    text["policies"][&coordinator_policy] = serde_json::json!({
        "sans": ["chiaro-coordinator"], "role": "coordinator", "workload_secret_id": "shared"
    });
    install(&coordinator, &text.to_string());
    assert!(
        matches!(
            issue(&coordinator, &coordinator_policy),
            Err(CoreError::CoordinatorPolicy)
        ),
        "the Coordinator's own entry got mesh credentials"
    );
    assert!(issue(&coordinator, WEB).is_ok(), "workloads still do");
}

#[test]
fn the_first_manifest_must_be_signed_by_an_owner_it_lists_for_this_deployment() {
    let coordinator = Coordinator::open(store("first-signed")).unwrap();
    let first = manifest(None, "web");
    assert!(matches!(
        coordinator.set_manifest(&first, None, now()),
        Err(CoreError::Unauthorised(_))
    ));
    let (stranger_spki, stranger) = owner();
    let by_stranger = sign(&stranger, &stranger_spki, &coordinator, &first);
    assert!(matches!(
        coordinator.set_manifest(&first, Some(&by_stranger), now()),
        Err(CoreError::Unauthorised(_))
    ));
    assert_eq!(coordinator.state_name(), "uninitialized");
    install(&coordinator, &first);
    assert_eq!(coordinator.state_name(), "ready");
}

#[test]
fn attack_owner_signature_replayed_into_another_deployment_is_refused() {
    // Two deployments with the same first manifest: the owner's signature of one is worthless
    // in the other, because it names the deployment id.
    let first = manifest(None, "web");
    let one = Coordinator::open(store("replay-one")).unwrap();
    let other = Coordinator::open(store("replay-other")).unwrap();
    let signature = by_owner(&one, &first);
    assert!(matches!(
        other.set_manifest(&first, Some(&signature), now()),
        Err(CoreError::Unauthorised(_))
    ));
    one.set_manifest(&first, Some(&signature), now()).unwrap();
    // An update signed for one is refused by the other too, at the same place in the history.
    install(&other, &first);
    let next = manifest(None, "www");
    let update = by_owner(&one, &next);
    assert!(matches!(
        other.set_manifest(&next, Some(&update), now()),
        Err(CoreError::Unauthorised(_))
    ));
    one.set_manifest(&next, Some(&update), now()).unwrap();
}

#[test]
fn attack_credentials_on_a_connection_judged_under_an_older_manifest_are_refused() {
    let coordinator = Coordinator::open(store("stale")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let (judged_under, _) = coordinator.current().unwrap();
    install(&coordinator, &manifest(None, "www"));
    assert!(matches!(
        coordinator.new_mesh_cert(&workload(WEB), Some(judged_under), &workload_key(), now()),
        Err(CoreError::ManifestChanged)
    ));
    assert!(matches!(
        coordinator.new_mesh_cert(&workload(WEB), None, &workload_key(), now()),
        Err(CoreError::ManifestChanged)
    ));
    issue(&coordinator, WEB).unwrap();
}

#[test]
fn updates_need_a_listed_owner_signature_and_rotate_only_the_mesh_ca() {
    let (spki, signer) = owner();
    let coordinator = Coordinator::open(store("update")).unwrap();
    let first_text = manifest(Some(&spki), "web");
    let first_owner = sign(&signer, &spki, &coordinator, &first_text);
    let first = coordinator
        .set_manifest(&first_text, Some(&first_owner), now())
        .unwrap();
    let next = manifest(Some(&spki), "www");

    assert!(matches!(
        coordinator.set_manifest(&next, None, now()),
        Err(CoreError::Unauthorised(_))
    ));
    let (stranger_spki, stranger) = owner();
    let forged = sign(&stranger, &stranger_spki, &coordinator, &next);
    assert!(matches!(
        coordinator.set_manifest(&next, Some(&forged), now()),
        Err(CoreError::Unauthorised(_))
    ));
    let honest = sign(&signer, &spki, &coordinator, &next);
    let mut bytes = honest.signature().to_vec();
    bytes[10] ^= 1;
    let tampered = OwnerSignature::new(spki.clone(), bytes);
    assert!(matches!(
        coordinator.set_manifest(&next, Some(&tampered), now()),
        Err(CoreError::Unauthorised(_))
    ));
    let for_other_manifest = sign(
        &signer,
        &spki,
        &coordinator,
        &manifest(Some(&spki), "other"),
    );
    assert!(matches!(
        coordinator.set_manifest(&next, Some(&for_other_manifest), now()),
        Err(CoreError::Unauthorised(_))
    ));

    let signature = sign(&signer, &spki, &coordinator, &next);
    let second = coordinator
        .set_manifest(&next, Some(&signature), now())
        .unwrap();
    assert_eq!(second.root_ca, first.root_ca, "the root CA stays");
    assert_ne!(second.mesh_ca, first.mesh_ca, "the mesh CA rotates");
    assert!(second.seed_shares.is_empty(), "shares are handed out once");
    assert_eq!(coordinator.snapshot().steps.len(), 2);
}

/// `set` of the manifest that is already the latest, signed by an owner: a no-op. No
/// transition is appended (the history does not grow with repeated deploys) and no mesh CA is
/// rotated (which would make every workload fetch new credentials); unsigned it is refused as
/// any update is.
#[test]
fn setting_the_latest_manifest_again_adds_no_transition_and_rotates_nothing() {
    let coordinator = Coordinator::open(store("unchanged")).unwrap();
    let text = manifest(Some(&the_owner().0), "web");
    let first = install(&coordinator, &text);
    assert!(!first.unchanged);
    assert!(matches!(
        coordinator.set_manifest(&text, None, now()),
        Err(CoreError::Unauthorised(_))
    ));
    let (stranger_spki, stranger) = owner();
    let forged = sign(&stranger, &stranger_spki, &coordinator, &text);
    assert!(matches!(
        coordinator.set_manifest(&text, Some(&forged), now()),
        Err(CoreError::Unauthorised(_))
    ));
    let again = install(&coordinator, &text);
    assert!(again.unchanged);
    assert_eq!(again.transition, first.transition, "no new transition");
    assert_eq!(again.mesh_ca, first.mesh_ca, "the mesh CA stays");
    assert!(again.seed_shares.is_empty(), "shares are handed out once");
    assert_eq!(coordinator.snapshot().steps.len(), 1);
}

#[test]
fn a_manifest_without_owners_is_immutable() {
    let coordinator = Coordinator::open(store("immutable")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let mut value: serde_json::Value = serde_json::from_str(&manifest(None, "www")).unwrap();
    value["workload_owner_key_digests"] = serde_json::json!([]);
    let immutable = value.to_string();
    install(&coordinator, &immutable);
    let next = manifest(None, "web");
    let signature = by_owner(&coordinator, &next);
    assert!(matches!(
        coordinator.set_manifest(&next, Some(&signature), now()),
        Err(CoreError::Unauthorised(_))
    ));
}

#[test]
fn a_restart_enters_recovery_and_the_seed_share_restores_everything() {
    let directory = store("restart");
    let root = directory.root().to_path_buf();
    let (before, installed, secret_before) = {
        let coordinator = Coordinator::open(directory).unwrap();
        let installed = install(&coordinator, &manifest(None, "web"));
        let secret = issue(&coordinator, WEB).unwrap().workload_secret.unwrap();
        (coordinator.snapshot(), installed, secret)
    };

    let restarted = Coordinator::open(DirStore::open(&root).unwrap()).unwrap();
    assert_eq!(restarted.state_name(), "recovery");
    assert!(matches!(
        issue(&restarted, WEB),
        Err(CoreError::NotReady(_))
    ));
    assert!(matches!(
        restarted.set_manifest(
            &manifest(None, "web"),
            Some(&by_owner(&restarted, &manifest(None, "web"))),
            now()
        ),
        Err(CoreError::NotReady(_))
    ));
    let deployment = restarted.snapshot().deployment;
    assert_eq!(deployment, before.deployment, "the persisted deployment id");
    let wrong = [7; 32];
    assert!(matches!(
        restarted.recover(&wrong, &proof(share_owner(), &deployment, &wrong)),
        Err(CoreError::WrongSeed(_))
    ));
    assert_eq!(restarted.state_name(), "recovery");

    // The seed-share owner decrypts its share; the seed then travels over attested TLS with its
    // proof, here it is handed over directly.
    let seed_bytes = seed_bytes_of(&installed.seed_shares[0].encrypted_seed);
    let stranger =
        rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), 3072).unwrap();
    assert!(matches!(
        restarted.recover(&seed_bytes, &proof(&stranger, &deployment, &seed_bytes)),
        Err(CoreError::RecoveryUnauthorised(_))
    ));
    let mut replayed = proof(share_owner(), &deployment, &seed_bytes);
    replayed.session = [8; 32];
    assert!(
        matches!(
            restarted.recover(&seed_bytes, &replayed),
            Err(CoreError::RecoveryUnauthorised(_))
        ),
        "a proof made on another connection"
    );
    assert!(
        matches!(
            restarted.recover(&seed_bytes, &proof(share_owner(), &deployment, &wrong)),
            Err(CoreError::RecoveryUnauthorised(_))
        ),
        "a proof for another seed"
    );
    assert_eq!(restarted.state_name(), "recovery");
    restarted
        .recover(&seed_bytes, &proof(share_owner(), &deployment, &seed_bytes))
        .unwrap();
    assert_eq!(restarted.state_name(), "ready");
    let after = restarted.snapshot();
    assert_eq!(after.root_ca, before.root_ca, "same root CA");
    assert_eq!(after.steps, before.steps, "same history");
    let secret_after = issue(&restarted, WEB).unwrap().workload_secret.unwrap();
    assert_eq!(secret_after, secret_before, "same workload secrets");
    assert!(matches!(
        restarted.recover(&seed_bytes, &proof(share_owner(), &deployment, &seed_bytes)),
        Err(CoreError::NotInRecovery)
    ));
}

/// The plaintext seed of a share, as `chiaro recover` decrypts it.
fn seed_bytes_of(share: &[u8]) -> Vec<u8> {
    share_owner().oaep_decrypt::<Sha256>(share).unwrap()
}

#[test]
fn the_seed_share_owners_cannot_change() {
    let (spki, signer) = owner();
    let coordinator = Coordinator::open(store("owners")).unwrap();
    let first = manifest(Some(&spki), "web");
    let signature = sign(&signer, &spki, &coordinator, &first);
    coordinator
        .set_manifest(&first, Some(&signature), now())
        .unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&manifest(Some(&spki), "web")).unwrap();
    value["seed_share_owner_keys"] = serde_json::json!([]);
    let next = value.to_string();
    let signature = sign(&signer, &spki, &coordinator, &next);
    assert!(matches!(
        coordinator.set_manifest(&next, Some(&signature), now()),
        Err(CoreError::SeedShareOwnersChanged)
    ));
}

#[test]
fn attack_failed_first_install_never_reuses_its_seed() {
    // The host makes the owner's first install fail after the signature is written (a planted
    // symlink at the mesh CA's file), hoping to install its own first manifest on the same seed.
    let directory = store("failed-first");
    let root = directory.root().to_path_buf();
    let coordinator = Coordinator::open(directory).unwrap();
    let first = manifest(None, "web");
    let transition = chiaro_manifest::Transition {
        manifest: Manifest::parse(&first).unwrap().hash(),
        previous: TransitionHash::ZERO,
    };
    std::fs::create_dir_all(root.join("mesh-ca")).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent",
        root.join(format!("mesh-ca/{}.der", transition.hash())),
    )
    .unwrap();
    let before = coordinator.snapshot().deployment;
    let owner = by_owner(&coordinator, &first);
    assert!(
        coordinator
            .set_manifest(&first, Some(&owner), now())
            .is_err()
    );
    assert_eq!(coordinator.state_name(), "uninitialized");
    assert_ne!(
        coordinator.snapshot().deployment,
        before,
        "a fresh seed after a failed first install"
    );
}

/// The evidence a simulated workload launched with `policy` sends in its handshake.
fn evidence(policy: &str) -> chiaro_atls::EvidenceBundle {
    let host_data = HostData::new(*PolicyHash::from_hex(policy).unwrap().as_bytes());
    let launch = SimulatedLaunch {
        host_data,
        ..SimulatedLaunch::default()
    };
    let report = tee()
        .report(&launch, &chiaro_attest::ReportData::new([0; 64]))
        .unwrap();
    let collateral = tee().collateral();
    let mut certificates: Vec<Vec<u8>> = collateral.vek.into_iter().collect();
    certificates.extend(collateral.intermediates);
    chiaro_atls::EvidenceBundle::Snp {
        report,
        certificates,
    }
}

#[test]
fn without_a_manifest_the_coordinator_cannot_judge_yet_which_is_not_the_workloads_fault() {
    use chiaro_atls::{ValidationError, Validator};
    let coordinator = std::sync::Arc::new(Coordinator::open(store("judge-none")).unwrap());
    let validator = chiaro_coordinator::service::ManifestValidator::new(coordinator);
    let judged = validator.validate(&evidence(WEB), now());
    assert!(
        matches!(judged, Err(ValidationError::NotReady { .. })),
        "{judged:?}"
    );
}

#[test]
fn a_manifest_becomes_a_validator_once_and_workloads_are_judged_under_its_transition() {
    use chiaro_atls::Validator;
    let coordinator = std::sync::Arc::new(Coordinator::open(store("judge-once")).unwrap());
    install(&coordinator, &manifest(None, "web"));
    let first = coordinator.judge().unwrap();
    let again = coordinator.judge().unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.references, &again.references));
    let validator =
        chiaro_coordinator::service::ManifestValidator::new(std::sync::Arc::clone(&coordinator));
    let judgement = validator.validate(&evidence(WEB), now()).unwrap();
    assert_eq!(
        judgement.basis().map(|basis| *basis.as_bytes()),
        Some(*first.transition.as_bytes())
    );

    install(&coordinator, &manifest(None, "web.example"));
    let updated = coordinator.judge().unwrap();
    assert!(!std::sync::Arc::ptr_eq(
        &first.references,
        &updated.references
    ));
    assert_ne!(updated.transition, first.transition);
    let judgement = validator.validate(&evidence(WEB), now()).unwrap();
    assert_eq!(
        judgement.basis().map(|basis| *basis.as_bytes()),
        Some(*updated.transition.as_bytes())
    );
}

/// A session key's point, as the CLI generates one per port-forward session.
fn session_point() -> [u8; 65] {
    rcgen::KeyPair::generate()
        .unwrap()
        .public_key_raw()
        .try_into()
        .unwrap()
}

/// `signer`'s request for a client certificate for `point` until `not_after`, over `session`,
/// signed for `coordinator`'s latest transition.
fn owner_request(
    coordinator: &Coordinator,
    (spki, signer): (&[u8], &EcdsaKeyPair),
    point: [u8; 65],
    not_after: u64,
) -> OwnerCertRequest {
    let snapshot = coordinator.snapshot();
    let latest = snapshot.steps.last().unwrap().0.transition.hash();
    let message =
        owner_client_cert_message(&snapshot.deployment, &latest, &SESSION, &point, not_after);
    let signature = signer
        .sign(&ring::rand::SystemRandom::new(), &message)
        .unwrap();
    OwnerCertRequest {
        public_key: point,
        not_after,
        owner: OwnerSignature::new(spki.to_vec(), signature.as_ref().to_vec()),
        session: SESSION,
    }
}

fn the_owners_request(coordinator: &Coordinator, not_after: u64) -> OwnerCertRequest {
    owner_request(
        coordinator,
        (&the_owner().0, &the_owner().1),
        session_point(),
        not_after,
    )
}

fn refused_for(result: Result<impl std::fmt::Debug, CoreError>) -> &'static str {
    let got = format!("expected an owner-certificate refusal, got {result:?}");
    match result {
        Err(CoreError::OwnerCertUnauthorised(reason)) => Ok(reason),
        _ => Err(got),
    }
    .unwrap()
}

const TEN_MINUTES: u64 = 600;

#[test]
fn an_owner_gets_a_short_lived_client_certificate_with_the_reserved_identity() {
    use der::Decode as _;
    use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName, name::GeneralName};
    let coordinator = Coordinator::open(store("owner-cert")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let not_after = now().as_secs() + TEN_MINUTES;
    let request = the_owners_request(&coordinator, not_after);
    let issued = coordinator.new_owner_client_cert(&request, now()).unwrap();
    assert_eq!(issued.mesh_ca, coordinator.snapshot().mesh_ca);
    let cert = x509_cert::Certificate::from_der(&issued.certificate).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(
        tbs.validity().not_after.to_unix_duration().as_secs(),
        not_after
    );
    assert_eq!(
        tbs.subject_public_key_info().subject_public_key.raw_bytes(),
        request.public_key.as_slice(),
        "for the session key"
    );
    let (_, sans) = tbs.get_extension::<SubjectAltName>().unwrap().unwrap();
    assert_eq!(
        sans.0,
        vec![GeneralName::DnsName(
            der::asn1::Ia5String::new(chiaro_names::reserved::WORKLOAD_OWNER).unwrap()
        )],
        "the reserved identity and nothing else"
    );
    let (_, usages) = tbs.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
    assert_eq!(
        usages.0,
        vec![der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2")],
        "client authentication only: it cannot serve"
    );
    assert!(
        tbs.subject()
            .to_string()
            .contains(&request.owner.signer().to_string()),
        "the owner's key digest names the subject: {}",
        tbs.subject()
    );
}

#[test]
fn attack_owner_cert_for_a_key_the_current_manifest_does_not_list_is_refused() {
    let coordinator = Coordinator::open(store("owner-cert-stranger")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let (spki, stranger) = owner();
    let request = owner_request(
        &coordinator,
        (&spki, &stranger),
        session_point(),
        now().as_secs() + TEN_MINUTES,
    );
    assert!(
        refused_for(coordinator.new_owner_client_cert(&request, now()))
            .contains("not a workload-owner key")
    );
}

#[test]
fn attack_owner_cert_request_with_a_bad_or_moved_signature_is_refused() {
    // The host, which saw the owner's request, asks with its own key or its own lifetime, on
    // its own connection: the signature covers each.
    let coordinator = Coordinator::open(store("owner-cert-signature")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let honest = the_owners_request(&coordinator, now().as_secs() + TEN_MINUTES);
    let mut tampered = honest.clone();
    let mut bytes = honest.owner.signature().to_vec();
    bytes[10] ^= 1;
    tampered.owner = OwnerSignature::new(the_owner().0.clone(), bytes);
    let other_key = OwnerCertRequest {
        public_key: session_point(),
        ..honest.clone()
    };
    let longer = OwnerCertRequest {
        not_after: honest.not_after + 1,
        ..honest.clone()
    };
    let other_connection = OwnerCertRequest {
        session: [7; 32],
        ..honest.clone()
    };
    for request in [tampered, other_key, longer, other_connection] {
        assert!(
            refused_for(coordinator.new_owner_client_cert(&request, now()))
                .contains("does not verify"),
            "{request:?}"
        );
    }
    assert!(coordinator.new_owner_client_cert(&honest, now()).is_ok());
}

#[test]
fn attack_owner_cert_request_signed_before_the_manifest_changed_is_refused() {
    // An owner removed by an update: a request it signed before is for the old transition.
    let coordinator = Coordinator::open(store("owner-cert-stale")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let before = the_owners_request(&coordinator, now().as_secs() + TEN_MINUTES);
    install(&coordinator, &manifest(None, "www"));
    assert!(
        refused_for(coordinator.new_owner_client_cert(&before, now())).contains("does not verify")
    );
    let after = the_owners_request(&coordinator, now().as_secs() + TEN_MINUTES);
    assert!(coordinator.new_owner_client_cert(&after, now()).is_ok());
}

#[test]
fn attack_owner_cert_lifetime_longer_than_an_hour_or_already_over_is_refused() {
    let coordinator = Coordinator::open(store("owner-cert-lifetime")).unwrap();
    install(&coordinator, &manifest(None, "web"));
    let at = now().as_secs();
    let too_long = the_owners_request(&coordinator, at + OWNER_CERT_MAX_LIFETIME_SECS + 1);
    assert!(
        refused_for(coordinator.new_owner_client_cert(&too_long, now()))
            .contains("longer than an hour")
    );
    let over = the_owners_request(&coordinator, at);
    assert!(refused_for(coordinator.new_owner_client_cert(&over, now())).contains("already ended"));
    let an_hour = the_owners_request(&coordinator, at + OWNER_CERT_MAX_LIFETIME_SECS);
    assert!(coordinator.new_owner_client_cert(&an_hour, now()).is_ok());
}

#[test]
fn an_owner_cert_needs_a_ready_coordinator() {
    let coordinator = Coordinator::open(store("owner-cert-unready")).unwrap();
    let request = OwnerCertRequest {
        public_key: session_point(),
        not_after: now().as_secs() + TEN_MINUTES,
        owner: OwnerSignature::new(the_owner().0.clone(), vec![1]),
        session: SESSION,
    };
    assert!(matches!(
        coordinator.new_owner_client_cert(&request, now()),
        Err(CoreError::NotReady(_))
    ));
}
