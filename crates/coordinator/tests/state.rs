//! The Coordinator's state machine through its operations: first manifest, mesh certificates,
//! authorised and unauthorised updates, restart into recovery, and recovery with a seed share.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::PathBuf;
use std::sync::OnceLock;

use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_attest::{Claims, HostData, UnixTime, Verified};
use chiaro_coordinator::seed::Seed;
use chiaro_coordinator::state::{Coordinator, CoreError, OwnerSignature};
use chiaro_coordinator::store::DirStore;
use chiaro_manifest::{Manifest, PolicyHash, update_message};
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

fn manifest(owner_spki: Option<&[u8]>, web_san: &str) -> String {
    let owners: Vec<String> = owner_spki
        .map(|spki| hex::encode(Sha256::digest(spki)))
        .into_iter()
        .collect();
    serde_json::json!({
        "version": 1,
        "policies": {
            WEB: { "sans": [web_san], "workload_secret_id": "shared" },
            API: { "sans": ["api"], "workload_secret_id": "shared" },
            DB: { "sans": ["db"], "workload_secret_id": "db" },
        },
        "reference_values": { "insecure_simulated": [{ "ark": hex::encode(tee().ark_der()), "values": {} }] },
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

fn sign(
    signer: &EcdsaKeyPair,
    spki: &[u8],
    coordinator: &Coordinator,
    text: &str,
) -> OwnerSignature {
    let (history, _, _) = coordinator.history().unwrap();
    let manifest = Manifest::parse(text).unwrap();
    let message = update_message(&history.latest_hash(), &manifest.hash());
    let signature = signer
        .sign(&ring::rand::SystemRandom::new(), &message)
        .unwrap();
    OwnerSignature {
        public_key: spki.to_vec(),
        signature: signature.as_ref().to_vec(),
    }
}

#[test]
fn the_first_manifest_makes_the_coordinator_ready_and_returns_seed_shares() {
    let coordinator = Coordinator::open(store("first")).unwrap();
    assert_eq!(coordinator.state_name(), "uninitialized");
    assert!(matches!(
        coordinator.new_mesh_cert(&workload(WEB), &workload_key(), now()),
        Err(CoreError::NotReady(_))
    ));
    let installed = coordinator
        .set_manifest(&manifest(None, "web"), None, now())
        .unwrap();
    assert_eq!(coordinator.state_name(), "ready");
    assert_eq!(installed.seed_shares.len(), 1);
    let seed = Seed::from_share(&installed.seed_shares[0].encrypted_seed, share_owner()).unwrap();
    let credentials = coordinator
        .new_mesh_cert(&workload(WEB), &workload_key(), now())
        .unwrap();
    assert_eq!(
        credentials.workload_secret.unwrap(),
        seed.workload_secret("shared").unwrap()
    );
}

#[test]
fn workloads_get_secrets_by_id_and_unknown_policies_nothing() {
    let coordinator = Coordinator::open(store("secrets")).unwrap();
    coordinator
        .set_manifest(&manifest(None, "web"), None, now())
        .unwrap();
    let web = coordinator
        .new_mesh_cert(&workload(WEB), &workload_key(), now())
        .unwrap();
    let api = coordinator
        .new_mesh_cert(&workload(API), &workload_key(), now())
        .unwrap();
    let db = coordinator
        .new_mesh_cert(&workload(DB), &workload_key(), now())
        .unwrap();
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
        coordinator.new_mesh_cert(&workload(&unknown), &workload_key(), now()),
        Err(CoreError::UnknownPolicy)
    ));
}

#[test]
fn updates_need_a_listed_owner_signature_and_rotate_only_the_mesh_ca() {
    let (spki, signer) = owner();
    let coordinator = Coordinator::open(store("update")).unwrap();
    let first = coordinator
        .set_manifest(&manifest(Some(&spki), "web"), None, now())
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
    let mut tampered = sign(&signer, &spki, &coordinator, &next);
    tampered.signature[10] ^= 1;
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
    assert_eq!(coordinator.history().unwrap().0.entries.len(), 2);
}

#[test]
fn a_manifest_without_owners_is_immutable() {
    let coordinator = Coordinator::open(store("immutable")).unwrap();
    coordinator
        .set_manifest(&manifest(None, "web"), None, now())
        .unwrap();
    let (spki, signer) = owner();
    let next = manifest(None, "www");
    let signature = sign(&signer, &spki, &coordinator, &next);
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
        let installed = coordinator
            .set_manifest(&manifest(None, "web"), None, now())
            .unwrap();
        let secret = coordinator
            .new_mesh_cert(&workload(WEB), &workload_key(), now())
            .unwrap()
            .workload_secret
            .unwrap();
        (coordinator.history().unwrap(), installed, secret)
    };

    let restarted = Coordinator::open(DirStore::open(&root).unwrap()).unwrap();
    assert_eq!(restarted.state_name(), "recovery");
    assert!(matches!(
        restarted.new_mesh_cert(&workload(WEB), &workload_key(), now()),
        Err(CoreError::NotReady(_))
    ));
    assert!(matches!(
        restarted.set_manifest(&manifest(None, "web"), None, now()),
        Err(CoreError::NotReady(_))
    ));
    assert!(matches!(
        restarted.recover(&[7; 32]),
        Err(CoreError::WrongSeed)
    ));
    assert_eq!(restarted.state_name(), "recovery");

    // The seed-share owner decrypts its share; the seed then travels over attested TLS, here
    // it is handed over directly.
    let seed_bytes = seed_bytes_of(&installed.seed_shares[0].encrypted_seed);
    restarted.recover(&seed_bytes).unwrap();
    assert_eq!(restarted.state_name(), "ready");
    let after = restarted.history().unwrap();
    assert_eq!(after.1, before.1, "same root CA");
    assert_eq!(
        after.0.latest_hash(),
        before.0.latest_hash(),
        "same history"
    );
    let secret_after = restarted
        .new_mesh_cert(&workload(WEB), &workload_key(), now())
        .unwrap()
        .workload_secret
        .unwrap();
    assert_eq!(secret_after, secret_before, "same workload secrets");
    assert!(matches!(
        restarted.recover(&seed_bytes),
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
    coordinator
        .set_manifest(&manifest(Some(&spki), "web"), None, now())
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
