//! The persisted history: hash- and owner-signature-checked on load, checked against the seed,
//! atomic under crashes, refusing every corrupted or truncated file.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chiaro_attest::UnixTime;
use chiaro_coordinator::ca::{MeshCa, RootCa};
use chiaro_coordinator::history::{History, HistoryError};
use chiaro_coordinator::seed::Seed;
use chiaro_coordinator::store::DirStore;
use chiaro_manifest::{Manifest, OwnerSignature, TransitionHash, update_message};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use sha2::{Digest, Sha256};

/// The workload owner: (SubjectPublicKeyInfo DER, signing key).
fn owner() -> &'static (Vec<u8>, EcdsaKeyPair) {
    static OWNER: OnceLock<(Vec<u8>, EcdsaKeyPair)> = OnceLock::new();
    OWNER.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        (rcgen::PublicKeyData::subject_public_key_info(&key), signer)
    })
}

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-history-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn manifest(san: &str) -> Manifest {
    let text = serde_json::json!({
        "version": 1,
        "policies": { "11".repeat(32): { "sans": [san] } },
        "reference_values": { "snp": [{ "measurements": ["ab".repeat(48)] }] },
        "workload_owner_key_digests": [hex::encode(Sha256::digest(&owner().0))],
    });
    Manifest::parse(&text.to_string()).unwrap()
}

/// Appends `manifest` to the history in `store`, creating the CAs as the Coordinator does.
fn append(store: &DirStore, seed: &Seed, manifest: &Manifest) {
    let previous = History::load(store)
        .unwrap()
        .map_or(TransitionHash::ZERO, |history| history.latest_hash());
    let root = match History::load(store).unwrap() {
        Some(history) => RootCa::restore(seed, &history.root_ca).unwrap(),
        None => RootCa::create(seed, now()).unwrap(),
    };
    let message = update_message(&seed.deployment_id(), &previous, &manifest.hash());
    let signature = owner()
        .1
        .sign(&ring::rand::SystemRandom::new(), &message)
        .unwrap();
    History::append(
        store,
        seed,
        previous,
        manifest,
        &OwnerSignature::new(owner().0.clone(), signature.as_ref().to_vec()),
        root.certificate(),
        |transition| {
            Ok(MeshCa::create(seed, transition, &root, now())
                .unwrap()
                .certificate()
                .to_vec())
        },
    )
    .unwrap();
}

/// A store with two manifests; returns it with its seed.
fn two_manifests(name: &str) -> (DirStore, Seed) {
    let store = DirStore::open(scratch(name)).unwrap();
    let seed = Seed::generate().unwrap();
    append(&store, &seed, &manifest("first"));
    append(&store, &seed, &manifest("second"));
    (store, seed)
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in walk(root) {
        if entry.is_file() {
            out.push(entry);
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_empty_store_has_no_history() {
    let store = DirStore::open(scratch("empty")).unwrap();
    assert!(History::load(&store).unwrap().is_none());
}

#[test]
fn the_history_loads_in_order_and_its_signature_needs_the_seed() {
    let (store, seed) = two_manifests("order");
    let history = History::load(&store).unwrap().unwrap();
    let steps = history.verified.steps();
    let sans: Vec<&str> = steps
        .iter()
        .map(|(_, m)| m.policies().values().next().unwrap().sans[0].as_str())
        .collect();
    assert_eq!(sans, ["first", "second"]);
    assert_eq!(steps[0].0.transition.previous, TransitionHash::ZERO);
    assert_eq!(steps[1].0.transition.previous, steps[0].0.transition.hash());
    history.verify_seed(&seed).unwrap();
    let other = Seed::generate().unwrap();
    assert!(matches!(
        history.verify_seed(&other),
        Err(HistoryError::OtherDeployment)
    ));
    std::fs::remove_dir_all(store.root()).unwrap();
}

#[test]
fn attack_state_forged_from_another_seed_is_refused_on_recovery() {
    // The host copies the public history (manifests, transitions, owner signatures, the
    // deployment id) and writes a root CA, mesh CA and signed `latest` from a seed it chose.
    let (store, _) = two_manifests("forged");
    let forged = DirStore::open(scratch("forged-host")).unwrap();
    let host_seed = Seed::generate().unwrap();
    append(&forged, &host_seed, &manifest("first"));
    for file in files(store.root()) {
        let name = file
            .strip_prefix(store.root())
            .unwrap()
            .display()
            .to_string();
        if !matches!(name.as_str(), "latest" | "root-ca.der") && !name.starts_with("mesh-ca/") {
            let target = forged.root().join(&name);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&file, target).unwrap();
        }
    }
    // Its own first step is signed for its own deployment id, which the copied file replaced:
    // the owner signatures refuse the load, or the seed does not fit the id.
    match History::load(&forged) {
        Err(HistoryError::Corrupt { key, .. }) if key.starts_with("signatures/") => {}
        Ok(Some(history)) => assert!(matches!(
            history.verify_seed(&host_seed),
            Err(HistoryError::OtherDeployment)
        )),
        other => panic!("{other:?}"),
    }
    // With the host's own deployment id kept, the copied owner signatures do not verify.
    std::fs::write(
        forged.root().join("deployment-id"),
        host_seed.deployment_id().as_bytes(),
    )
    .unwrap();
    std::fs::copy(store.root().join("latest"), forged.root().join("latest")).unwrap();
    assert!(matches!(
        History::load(&forged),
        Err(HistoryError::Corrupt { key, .. }) if key.starts_with("signatures/")
    ));
    std::fs::remove_dir_all(forged.root()).unwrap();
    std::fs::remove_dir_all(store.root()).unwrap();
}

#[test]
fn every_corrupted_or_truncated_file_is_refused_or_caught_by_the_signature() {
    let (store, seed) = two_manifests("corrupt");
    for file in files(store.root()) {
        let original = std::fs::read(&file).unwrap();
        let name = file
            .strip_prefix(store.root())
            .unwrap()
            .display()
            .to_string();
        let mutations: Vec<Vec<u8>> = vec![original[..original.len() / 2].to_vec(), Vec::new(), {
            let mut flipped = original.clone();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x01;
            flipped
        }];
        for mutated in mutations {
            std::fs::write(&file, &mutated).unwrap();
            match History::load(&store) {
                Err(_) => {}
                Ok(Some(history)) => {
                    // Only the signature part of `latest` can change without failing the load,
                    // and then the signature check fails; an old manifest's mesh CA is not read.
                    let caught = history.verify_seed(&seed).is_err();
                    let unread = name.starts_with("mesh-ca/") && history.mesh_ca != mutated;
                    assert!(caught || unread, "{name}: a corrupted file was accepted");
                }
                Ok(None) => panic!("{name}: the history vanished"),
            }
        }
        std::fs::write(&file, &original).unwrap();
    }
    History::load(&store)
        .unwrap()
        .unwrap()
        .verify_seed(&seed)
        .unwrap();
    std::fs::remove_dir_all(store.root()).unwrap();
}

#[test]
fn a_missing_file_is_named() {
    let (store, _) = two_manifests("missing");
    std::fs::remove_file(store.root().join("root-ca.der")).unwrap();
    match History::load(&store) {
        Err(HistoryError::Missing { key }) => assert_eq!(key, "root-ca.der"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(store.root()).unwrap();
}

#[test]
fn a_crash_before_latest_is_written_leaves_the_previous_state() {
    let (store, seed) = two_manifests("crash");
    let before = History::load(&store).unwrap().unwrap().latest_hash();
    // Everything of a third append except `latest`, as if the process died just before it.
    let third = manifest("third");
    store
        .put(
            &format!("manifests/{}.json", third.hash()),
            &third.canonical_json(),
        )
        .unwrap();
    std::fs::write(store.root().join(".tmp-123-latest"), b"torn").unwrap();
    let after = History::load(&store).unwrap().unwrap();
    assert_eq!(after.latest_hash(), before);
    after.verify_seed(&seed).unwrap();
    std::fs::remove_dir_all(store.root()).unwrap();
}

#[test]
fn keys_cannot_escape_the_state_directory() {
    let store = DirStore::open(scratch("keys")).unwrap();
    for key in ["../x", "/etc/passwd", "a//b", ".hidden", "UPPER", ""] {
        assert!(store.put(key, b"x").is_err(), "{key:?}");
        assert!(store.get(key).is_err(), "{key:?}");
    }
    std::fs::remove_dir_all(store.root()).unwrap();
}
