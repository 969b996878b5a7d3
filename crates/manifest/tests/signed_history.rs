//! The owner-signed history and the anchors: each check refuses what it is for.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use chiaro_manifest::{
    CoordinatorReference, DeploymentAnchor, DeploymentId, KeyDigest, Manifest, ManifestError,
    OwnerSignature, SignedStep, Transition, TransitionHash, update_message, verify_endorsement,
    verify_history,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde_json::json;
use sha2::{Digest, Sha256};

const COORDINATOR: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

struct Owner {
    spki: Vec<u8>,
    key: EcdsaKeyPair,
}

impl Owner {
    fn new() -> Self {
        let pair = rcgen::KeyPair::generate().unwrap();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &pair.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        Self {
            spki: rcgen::PublicKeyData::subject_public_key_info(&pair),
            key,
        }
    }

    fn digest(&self) -> String {
        hex::encode(Sha256::digest(&self.spki))
    }

    fn sign(&self, message: &[u8]) -> OwnerSignature {
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), message)
            .unwrap();
        OwnerSignature::new(self.spki.clone(), signature.as_ref().to_vec())
    }
}

fn manifest(san: &str, owners: &[&Owner]) -> Manifest {
    let text = json!({
        "version": 1,
        "policies": {
            "11".repeat(32): { "sans": [san] },
            COORDINATOR: { "sans": ["coordinator"], "role": "coordinator" },
        },
        "reference_values": {
            "snp": [{ "measurements": ["ab".repeat(48)] }],
            "tdx": [{ "mrtd": ["cd".repeat(48)], "rtmrs": ["01".repeat(48), "02".repeat(48), "03".repeat(48), null] }],
        },
        "workload_owner_key_digests": owners.iter().map(|o| o.digest()).collect::<Vec<_>>(),
    });
    Manifest::parse(&text.to_string()).unwrap()
}

/// A history of `manifests`, step i signed by `signers[i]`.
fn history(
    deployment: &DeploymentId,
    manifests: &[Manifest],
    signers: &[&Owner],
) -> Vec<(SignedStep, Manifest)> {
    let mut previous = TransitionHash::ZERO;
    let mut steps = Vec::new();
    for (manifest, signer) in manifests.iter().zip(signers) {
        let transition = Transition {
            manifest: manifest.hash(),
            previous,
        };
        let owner = signer.sign(&update_message(deployment, &previous, &manifest.hash()));
        previous = transition.hash();
        steps.push((SignedStep { transition, owner }, manifest.clone()));
    }
    steps
}

#[test]
fn a_history_signed_by_its_owners_verifies_and_is_endorsed_by_them() {
    let (alice, bob) = (Owner::new(), Owner::new());
    let deployment = DeploymentId::from_seed(&[1; 32]);
    // Alice creates it and hands it to Bob, who signs the third manifest.
    let manifests = [
        manifest("a", &[&alice]),
        manifest("b", &[&bob]),
        manifest("c", &[&bob]),
    ];
    let steps = history(&deployment, &manifests, &[&alice, &alice, &bob]);
    let verified = verify_history(deployment, steps.clone()).unwrap();
    assert_eq!(verified.latest_hash(), steps[2].0.transition.hash());
    let bob_digest = KeyDigest::from_hex(&bob.digest()).unwrap();
    assert!(verified.is_endorsed_by(&[bob_digest]));
    assert!(!verified.is_endorsed_by(&[KeyDigest::new([0; 32])]));
    let signed: Vec<SignedStep> = steps.iter().map(|(s, _)| s.clone()).collect();
    let endorsement = verify_endorsement(&deployment, &signed, &[bob_digest]).unwrap();
    assert_eq!(endorsement.step, 2);
    assert!(matches!(
        verify_endorsement(&deployment, &signed, &[KeyDigest::new([0; 32])]),
        Err(ManifestError::HistoryNotEndorsed)
    ));
}

#[test]
fn each_broken_step_is_refused_and_named() {
    let (alice, mallory) = (Owner::new(), Owner::new());
    let deployment = DeploymentId::from_seed(&[1; 32]);
    let manifests = [manifest("a", &[&alice]), manifest("b", &[&alice])];

    let steps = history(&deployment, &manifests, &[&alice, &mallory]);
    assert!(matches!(
        verify_history(deployment, steps),
        Err(ManifestError::HistorySignerNotOwner { step: 1, .. })
    ));
    // A first manifest that does not list its signer.
    let steps = history(&deployment, &[manifest("a", &[&alice])], &[&mallory]);
    assert!(matches!(
        verify_history(deployment, steps),
        Err(ManifestError::HistorySignerNotOwner { step: 0, .. })
    ));
    // Signed for another deployment.
    let other = DeploymentId::from_seed(&[2; 32]);
    let steps = history(&other, &manifests, &[&alice, &alice]);
    assert!(matches!(
        verify_history(deployment, steps.clone()),
        Err(ManifestError::HistorySignatureInvalid { step: 0 })
    ));
    let signed: Vec<SignedStep> = steps.iter().map(|(s, _)| s.clone()).collect();
    let alice_digest = KeyDigest::from_hex(&alice.digest()).unwrap();
    assert!(matches!(
        verify_endorsement(&deployment, &signed, &[alice_digest]),
        Err(ManifestError::HistorySignatureInvalid { step: 0 })
    ));
    // A step left out, a manifest swapped.
    let steps = history(&deployment, &manifests, &[&alice, &alice]);
    assert!(matches!(
        verify_history(deployment, steps[1..].to_vec()),
        Err(ManifestError::HistoryNotAChain { step: 0 })
    ));
    let mut swapped = steps.clone();
    swapped[1].1 = manifest("z", &[&alice]);
    assert!(matches!(
        verify_history(deployment, swapped),
        Err(ManifestError::HistoryManifestMismatch { step: 1 })
    ));
    assert!(matches!(
        verify_history(deployment, Vec::new()),
        Err(ManifestError::EmptyHistory)
    ));
    // A flipped signature byte.
    let mut flipped = steps;
    let mut bytes = flipped[0].0.owner.signature().to_vec();
    bytes[12] ^= 1;
    flipped[0].0.owner = OwnerSignature::new(alice.spki, bytes);
    assert!(matches!(
        verify_history(deployment, flipped),
        Err(ManifestError::HistorySignatureInvalid { step: 0 })
    ));
}

#[test]
fn deployment_ids_are_per_seed_and_signatures_round_trip() {
    assert_eq!(
        DeploymentId::from_seed(&[1; 32]),
        DeploymentId::from_seed(&[1; 32])
    );
    assert_ne!(
        DeploymentId::from_seed(&[1; 32]),
        DeploymentId::from_seed(&[2; 32])
    );
    let signature = Owner::new().sign(b"x");
    assert_eq!(
        OwnerSignature::from_bytes(&signature.to_bytes()),
        Some(signature)
    );
    assert_eq!(OwnerSignature::from_bytes(&[0, 5, 1]), None);
}

#[test]
fn a_coordinator_reference_must_pin_the_launch_binding() {
    let guest = "ab".repeat(48);
    let error =
        CoordinatorReference::parse(&format!(r#"{{"snp": [{{"measurements": ["{guest}"]}}]}}"#))
            .unwrap_err();
    assert!(
        error.to_string().contains("snp[0]: pins no host_data"),
        "{error}"
    );
    let rtmrs = format!(r#"["{guest}", "{guest}", "{guest}", null]"#);
    let error = CoordinatorReference::parse(&format!(
        r#"{{"tdx": [{{"mrtd": ["{guest}"], "rtmrs": {rtmrs}}}]}}"#
    ))
    .unwrap_err();
    assert!(
        error.to_string().contains("tdx[0]: pins no mr_config_id"),
        "{error}"
    );
    CoordinatorReference::parse(&format!(
        r#"{{"snp": [{{"host_data": "{COORDINATOR}", "measurements": ["{guest}"]}}]}}"#
    ))
    .unwrap();
}

#[test]
fn attack_a_coordinator_reference_that_does_not_pin_the_guest_is_refused() {
    // The host launches a guest of its own with the Coordinator's (public) policy hash.
    let error =
        CoordinatorReference::parse(&format!(r#"{{"snp": [{{"host_data": "{COORDINATOR}"}}]}}"#))
            .unwrap_err();
    assert!(
        matches!(error, ManifestError::UnpinnedGuest { .. })
            && error.to_string().starts_with("snp[0]: measurements"),
        "{error}"
    );
}

#[test]
fn an_anchor_pins_the_coordinator_entry_and_the_owners() {
    let alice = Owner::new();
    let manifest = manifest("a", &[&alice]);
    let anchor = DeploymentAnchor::of_manifest(&manifest).unwrap();
    let sets = anchor.coordinator.reference_values();
    assert_eq!(
        hex::encode(sets.snp[0].host_data.unwrap().as_bytes()),
        COORDINATOR
    );
    assert_eq!(
        hex::encode(sets.tdx[0].mr_config_id.unwrap().as_bytes()),
        format!("{COORDINATOR}{}", "00".repeat(16))
    );
    assert_eq!(DeploymentAnchor::parse(&anchor.to_json()).unwrap(), anchor);

    let mut without: serde_json::Value =
        serde_json::from_str(&String::from_utf8(manifest.canonical_json()).unwrap()).unwrap();
    without["policies"][COORDINATOR]["role"] = json!("workload");
    let without = Manifest::parse(&without.to_string()).unwrap();
    assert!(matches!(
        DeploymentAnchor::of_manifest(&without),
        Err(ManifestError::NoCoordinatorPolicy)
    ));
    let mut conflicting: serde_json::Value =
        serde_json::from_str(&String::from_utf8(manifest.canonical_json()).unwrap()).unwrap();
    conflicting["reference_values"]["snp"][0]["host_data"] = json!("ab".repeat(32));
    let conflicting = Manifest::parse(&conflicting.to_string()).unwrap();
    assert!(matches!(
        DeploymentAnchor::of_manifest(&conflicting),
        Err(ManifestError::ConflictingPin { .. })
    ));
    let no_owners = json!({"coordinator": {"snp": [{"host_data": COORDINATOR, "measurements": ["ab".repeat(48)]}]}, "owner_key_digests": []});
    assert!(matches!(
        DeploymentAnchor::parse(&no_owners.to_string()),
        Err(ManifestError::NoOwners)
    ));
}
