//! The CAs and seed shares, checked with rustls's own WebPKI verifiers (what the mesh proxy and
//! clients will use).

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::{Arc, OnceLock};

use chiaro_attest::UnixTime;
use chiaro_coordinator::ca::{CaError, MeshCa, RootCa};
use chiaro_coordinator::seed::{Seed, SeedError};
use chiaro_manifest::{Manifest, PolicyEntry, Role, TransitionHash};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

fn pki_now() -> rustls::pki_types::UnixTime {
    rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        now().as_secs() + 60,
    ))
}

fn entry() -> PolicyEntry {
    PolicyEntry {
        sans: vec![
            "web".to_owned(),
            "web.default.svc.cluster.local".to_owned(),
            "10.0.0.7".to_owned(),
            "spiffe://chiaro/web".to_owned(),
        ],
        role: Role::Workload,
        workload_secret_id: None,
    }
}

/// A workload's key: an uncompressed P-256 point from rcgen.
fn workload_key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate().unwrap()
}

fn roots(anchor: &[u8]) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    store.add(CertificateDer::from(anchor.to_vec())).unwrap();
    Arc::new(store)
}

fn client_chain_ok(anchor: &[u8], leaf: &[u8], intermediates: &[&[u8]]) -> bool {
    let verifier = WebPkiClientVerifier::builder_with_provider(
        roots(anchor),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.to_vec()))
        .collect();
    verifier
        .verify_client_cert(
            &CertificateDer::from(leaf.to_vec()),
            &intermediates,
            pki_now(),
        )
        .is_ok()
}

fn server_name_ok(anchor: &[u8], leaf: &[u8], name: &str) -> bool {
    let verifier = WebPkiServerVerifier::builder_with_provider(
        roots(anchor),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf.to_vec()),
            &[],
            &name,
            &[],
            pki_now(),
        )
        .is_ok()
}

#[test]
fn mesh_certificates_chain_to_the_mesh_ca_and_through_it_to_the_root() {
    let seed = Seed::generate().unwrap();
    let root = RootCa::create(&seed, now()).unwrap();
    let mesh = MeshCa::create(&seed, &TransitionHash::new([1; 32]), &root, now()).unwrap();
    let leaf = mesh
        .issue(workload_key().public_key_raw(), &entry(), now())
        .unwrap();
    assert!(client_chain_ok(mesh.certificate(), &leaf, &[]));
    assert!(client_chain_ok(
        root.certificate(),
        &leaf,
        &[mesh.certificate()]
    ));
    assert!(
        !client_chain_ok(root.certificate(), &leaf, &[]),
        "the root alone does not sign leaves"
    );
}

#[test]
fn mesh_certificates_carry_exactly_the_manifest_sans() {
    let seed = Seed::generate().unwrap();
    let root = RootCa::create(&seed, now()).unwrap();
    let mesh = MeshCa::create(&seed, &TransitionHash::new([1; 32]), &root, now()).unwrap();
    let leaf = mesh
        .issue(workload_key().public_key_raw(), &entry(), now())
        .unwrap();
    for name in ["web", "web.default.svc.cluster.local", "10.0.0.7"] {
        assert!(server_name_ok(mesh.certificate(), &leaf, name), "{name}");
    }
    assert!(!server_name_ok(mesh.certificate(), &leaf, "db"));
}

#[test]
fn a_manifest_update_rotates_the_mesh_ca_and_keeps_the_root() {
    let seed = Seed::generate().unwrap();
    let root = RootCa::create(&seed, now()).unwrap();
    let first = MeshCa::create(&seed, &TransitionHash::new([1; 32]), &root, now()).unwrap();
    let second = MeshCa::create(&seed, &TransitionHash::new([2; 32]), &root, now()).unwrap();
    let old_leaf = first
        .issue(workload_key().public_key_raw(), &entry(), now())
        .unwrap();
    assert!(
        !client_chain_ok(second.certificate(), &old_leaf, &[]),
        "the new mesh CA does not accept old certificates"
    );
    assert!(client_chain_ok(
        root.certificate(),
        &old_leaf,
        &[first.certificate()]
    ));
}

#[test]
fn the_same_seed_restores_the_cas_and_another_seed_does_not() {
    let seed = Seed::generate().unwrap();
    let transition = TransitionHash::new([3; 32]);
    let root = RootCa::create(&seed, now()).unwrap();
    let mesh = MeshCa::create(&seed, &transition, &root, now()).unwrap();

    let restored_root = RootCa::restore(&seed, root.certificate()).unwrap();
    let restored_mesh = MeshCa::restore(&seed, &transition, mesh.certificate()).unwrap();
    let leaf = restored_mesh
        .issue(workload_key().public_key_raw(), &entry(), now())
        .unwrap();
    assert!(client_chain_ok(
        restored_root.certificate(),
        &leaf,
        &[mesh.certificate()]
    ));

    let other = Seed::generate().unwrap();
    assert!(matches!(
        RootCa::restore(&other, root.certificate()),
        Err(CaError::KeyMismatch("root CA"))
    ));
    assert!(matches!(
        MeshCa::restore(&other, &transition, mesh.certificate()),
        Err(CaError::KeyMismatch("mesh CA"))
    ));
    assert!(matches!(
        MeshCa::restore(&seed, &TransitionHash::new([4; 32]), mesh.certificate()),
        Err(CaError::KeyMismatch("mesh CA"))
    ));
    assert!(matches!(
        RootCa::restore(&seed, &root.certificate()[..100]),
        Err(CaError::Malformed(_))
    ));
}

#[test]
fn bad_keys_and_sans_are_refused() {
    let seed = Seed::generate().unwrap();
    let root = RootCa::create(&seed, now()).unwrap();
    let mesh = MeshCa::create(&seed, &TransitionHash::new([1; 32]), &root, now()).unwrap();
    assert!(matches!(
        mesh.issue(&[4; 64], &entry(), now()),
        Err(CaError::UnsupportedKey(64))
    ));
    let bad = PolicyEntry {
        sans: vec!["not a name!".to_owned()],
        ..entry()
    };
    assert!(matches!(
        mesh.issue(workload_key().public_key_raw(), &bad, now()),
        Err(CaError::InvalidSan { .. })
    ));
}

fn owner_key() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), 3072).unwrap()
    })
}

fn manifest_with_owner(key: &rsa::PrivateKey) -> Manifest {
    use rsa::pkcs8::EncodePublicKey;
    let der = key.to_public_key().to_public_key_der().unwrap();
    let text = serde_json::json!({
        "version": 1,
        "policies": { "11".repeat(32): { "sans": ["web"] } },
        "reference_values": { "snp": [{ "measurements": ["ab".repeat(48)] }] },
        "seed_share_owner_keys": [hex::encode(der.as_bytes())],
    });
    Manifest::parse(&text.to_string()).unwrap()
}

#[test]
fn a_seed_share_decrypts_only_with_its_owner_key() {
    let seed = Seed::generate().unwrap();
    let manifest = manifest_with_owner(owner_key());
    let share = seed
        .share_for(&manifest.seed_share_owner_keys()[0])
        .unwrap();
    let recovered = Seed::from_share(&share, owner_key()).unwrap();
    assert_eq!(
        recovered.workload_secret("web").unwrap(),
        seed.workload_secret("web").unwrap()
    );

    let stranger =
        rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), 3072).unwrap();
    assert_eq!(
        Seed::from_share(&share, &stranger).unwrap_err(),
        SeedError::ShareDecryption
    );
    let mut corrupted = share;
    corrupted[10] ^= 1;
    assert_eq!(
        Seed::from_share(&corrupted, owner_key()).unwrap_err(),
        SeedError::ShareDecryption
    );
}
