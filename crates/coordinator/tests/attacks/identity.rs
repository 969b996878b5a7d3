//! The host attacks the deployment's identity, with real processes (Coordinator, CLI,
//! initializer): it wipes or forges the Coordinator's state, runs a Coordinator under its own
//! policy, and rolls the state back. Each test shows the attack succeeding at what the host
//! controls and failing where the pods and the owner check (`docs/invariants.md`, threat table).

use std::path::Path;
use std::process::Stdio;

use crate::harness::{
    API, COORDINATOR_POLICY, Deployment, SIMULATED_GUEST, WEB, http_get, keys_named, ok,
    ok_process, owner_keys, read, start_command, start_on,
};

/// Copies the directory tree `from` to `to` (replacing it).
fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn message(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The owner's deployment, installed, with one pod started; the Coordinator is running.
/// Returns it, its manifest, and the owner's key digest and seed-share key.
fn owners_deployment() -> (Deployment, std::path::PathBuf, String, String) {
    owners_deployment_in(Deployment::new())
}

/// As [`owners_deployment`], in `deployment` (with its Coordinator flags and log).
fn owners_deployment_in(
    mut deployment: Deployment,
) -> (Deployment, std::path::PathBuf, String, String) {
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    ok(&deployment.set(&manifest, "owner.pem"));
    ok_process(&deployment.initializer(WEB, "tee.json", "web", "20"));
    (deployment, manifest, owner_digest, share_owner)
}

/// The host's `chiaro set` of its own first manifest listing the victims' policies, signed by its
/// own key, with its own seed shares and record.
fn host_set(deployment: &Deployment) -> std::process::Output {
    let (host_digest, host_share) = keys_named(deployment, "host-owner.pem", "host-share.pem");
    let host_manifest = deployment.manifest("host-manifest.json", "web", &host_digest, &host_share);
    deployment.set_as(
        &host_manifest,
        "host-owner.pem",
        "host-shares",
        "host-record.json",
    )
}

/// What the pods and the owner see of a deployment the host made: no pod gets credentials, the
/// owner's `verify` and `set` refuse it (exit 3).
fn pods_and_owner_refuse(deployment: &Deployment, manifest: &Path, out: &str) {
    let refused = deployment.initializer(WEB, "tee.json", out, "5");
    assert!(
        !refused.status.success(),
        "a pod accepted the host's deployment"
    );
    assert!(
        message(&refused).contains("not this pod's deployment"),
        "{}",
        message(&refused)
    );
    assert!(!deployment.path(out).join("tls/cert.pem").exists());
    let verify = deployment.chiaro(&[
        "verify",
        "-m",
        manifest.to_str().unwrap(),
        "--out",
        deployment.path("verify-attacked").to_str().unwrap(),
    ]);
    assert_eq!(verify.status.code(), Some(3), "{}", message(&verify));
    // Without the record too: the local manifest's owners signed nothing in that history.
    let verify = deployment.chiaro_with_record(
        &[
            "verify",
            "-m",
            manifest.to_str().unwrap(),
            "--out",
            deployment.path("verify-attacked-2").to_str().unwrap(),
        ],
        "fresh-record.json",
    );
    assert_eq!(verify.status.code(), Some(3), "{}", message(&verify));
    let set = deployment.set(manifest, "owner.pem");
    assert_eq!(set.status.code(), Some(3), "{}", message(&set));
}

#[test]
fn attack_wiped_state_and_host_first_set_is_refused_by_pods_and_owner() {
    let (mut deployment, manifest, _, _) = owners_deployment();
    deployment.kill_coordinator();
    std::fs::remove_dir_all(deployment.path("state")).unwrap();
    deployment.start_coordinator();
    // The owner's CLI notices the wipe before the host acts.
    let set = deployment.set(&manifest, "owner.pem");
    assert_eq!(set.status.code(), Some(3), "{}", message(&set));
    assert!(message(&set).contains("uninitialized"), "{}", message(&set));
    ok(&host_set(&deployment));
    pods_and_owner_refuse(&deployment, &manifest, "web-wiped");
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_host_chosen_seed_recovered_by_the_host_is_refused_by_pods_and_owner() {
    let (mut deployment, manifest, _, _) = owners_deployment();
    deployment.kill_coordinator();
    // The host makes a consistent state from a seed it knows (a genuine Coordinator it ran on
    // its own disk, first set by itself) and puts it in place of the victim's.
    let host_state = deployment.path("host-state");
    let mut host = start_on(&host_state, &mut deployment).unwrap();
    ok(&host_set(&deployment));
    host.kill().unwrap();
    host.wait().unwrap();
    copy_tree(&host_state, &deployment.path("state"));
    deployment.start_coordinator();
    // The owner's seed share is not this state's: recover refuses to send the seed.
    let recover = deployment.recover();
    assert_eq!(recover.status.code(), Some(3), "{}", message(&recover));
    // The host recovers it with its own seed share: authorised, the state is its own.
    ok(&deployment.recover_as("host-share.pem", "host-shares", "host-record.json", &[]));
    pods_and_owner_refuse(&deployment, &manifest, "web-forged");
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_coordinator_under_the_hosts_own_policy_is_refused() {
    let (mut deployment, manifest, _, _) = owners_deployment();
    deployment.kill_coordinator();
    // The genuine image with the host's own initdata: genuine evidence, another policy hash.
    let other_policy = "ba".repeat(32);
    let mut impostor = start_command(
        deployment.coordinator_command_as(
            &deployment.path("host-state"),
            Stdio::piped(),
            &other_policy,
        ),
        &mut deployment,
    )
    .unwrap();
    // The impostor is not the Coordinator the CLI pins: even the host's own `set` is refused
    // before anything is sent.
    let set = host_set(&deployment);
    assert_eq!(set.status.code(), Some(3), "{}", message(&set));
    let refused = deployment.initializer(WEB, "tee.json", "web-impostor", "5");
    assert!(!refused.status.success());
    assert!(!deployment.path("web-impostor/tls/cert.pem").exists());
    let verify = deployment.chiaro(&[
        "verify",
        "-m",
        manifest.to_str().unwrap(),
        "--out",
        deployment.path("verify-impostor").to_str().unwrap(),
    ]);
    assert_eq!(verify.status.code(), Some(3), "{}", message(&verify));
    let recover = deployment.recover();
    assert_eq!(
        recover.status.code(),
        Some(3),
        "the seed went to an impostor: {}",
        message(&recover)
    );
    impostor.kill().unwrap();
    impostor.wait().unwrap();
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn a_coordinator_reference_or_anchor_that_pins_no_policy_hash_is_refused() {
    let deployment = Deployment::new();
    let (owner_digest, _) = owner_keys(&deployment);
    let reference: serde_json::Value =
        serde_json::from_str(&read(&deployment.path("coordinator-reference.json"))).unwrap();
    let mut unpinned = reference;
    unpinned["insecure_simulated"][0]["values"] =
        serde_json::json!({ "measurements": [SIMULATED_GUEST] });
    std::fs::write(
        deployment.path("coordinator-reference.json"),
        unpinned.to_string(),
    )
    .unwrap();
    let verify = deployment.chiaro(&["verify"]);
    assert_eq!(verify.status.code(), Some(64), "{}", message(&verify));
    assert!(
        message(&verify).contains("pins no host_data"),
        "{}",
        message(&verify)
    );
    deployment.write_anchor(&owner_digest);
    let initializer = deployment.initializer(WEB, "tee.json", "web", "1");
    assert!(!initializer.status.success());
    assert!(
        message(&initializer).contains("pins no host_data"),
        "{}",
        message(&initializer)
    );
    assert_eq!(COORDINATOR_POLICY.len(), 64);
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_rollback_to_an_older_state_is_refused_by_recover() {
    let (mut deployment, _, owner_digest, share_owner) = owners_deployment();
    // The host keeps a copy of the state as it is now (genuine, signed).
    deployment.kill_coordinator();
    copy_tree(&deployment.path("state"), &deployment.path("old-state"));
    deployment.start_coordinator();
    ok(&deployment.recover());
    // The owner installs an update (say, one that revokes a policy) ...
    let update = deployment.manifest("manifest-2.json", "www", &owner_digest, &share_owner);
    ok(&deployment.set(&update, "owner.pem"));
    // ... and the host restores the old state and restarts the Coordinator.
    deployment.kill_coordinator();
    copy_tree(&deployment.path("old-state"), &deployment.path("state"));
    deployment.start_coordinator();
    let refused = deployment.recover();
    assert_eq!(refused.status.code(), Some(3), "{}", message(&refused));
    assert!(
        message(&refused).contains("rolled back"),
        "{}",
        message(&refused)
    );
    assert_eq!(http_get(deployment.status, "/readyz").1, "recovery\n");
    // Only when told so explicitly does the owner restore it, and it says what it restored.
    let restored = ok(&deployment.recover_as(
        "share-owner.pem",
        "shares",
        "record.json",
        &["--allow-rollback"],
    ));
    assert_eq!(
        restored["fields"]["history"].as_array().unwrap().len(),
        1,
        "{restored}"
    );
    assert!(
        restored["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|note| note.as_str().unwrap_or_default().contains("rolled back")),
        "{restored}"
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_connection_held_across_a_manifest_update_gets_no_certificate() {
    use std::sync::Arc;

    use chiaro_api::v1::NewMeshCertRequest;
    use chiaro_api::v1::mesh_api_client::MeshApiClient;
    use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};

    let (deployment, _, owner_digest, share_owner) = owners_deployment();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The host relays a genuine pod's attested connection and holds it open: its evidence was
    // judged under the first manifest.
    let validator = coordinator_validator(&deployment);
    let tee =
        InsecureSimulatedTee::from_insecure_json(&read(&deployment.path("tee.json"))).unwrap();
    let launch = SimulatedLaunch {
        host_data: chiaro_attest::HostData::new(
            *chiaro_manifest::PolicyHash::from_hex(WEB)
                .unwrap()
                .as_bytes(),
        ),
        ..SimulatedLaunch::default()
    };
    let issuer = Arc::new(chiaro_guest_issuer::AtlsIssuer::new(
        chiaro_attest_guest::InsecureSimulatedIssuer::new(tee, launch),
    ));
    let clock: chiaro_atls::Clock = chiaro_coordinator::app::system_clock();
    let connect = || {
        let key = rcgen::KeyPair::generate().unwrap();
        let identity = chiaro_atls::TlsIdentity::from_pkcs8(&key.serialize_der()).unwrap();
        let tls = Arc::new(
            chiaro_atls::ClientConfig::with_identity(
                validator.clone(),
                issuer.clone(),
                &identity,
                clock.clone(),
            )
            .unwrap(),
        );
        runtime
            .block_on(chiaro_api::transport::channel(deployment.mesh_api, tls))
            .map(MeshApiClient::new)
            .unwrap()
    };
    let mut held = connect();
    runtime
        .block_on(held.new_mesh_cert(NewMeshCertRequest {}))
        .unwrap();
    // The owner updates the manifest (the web pod's identity changes) while it is held.
    let update = deployment.manifest("manifest-2.json", "www", &owner_digest, &share_owner);
    ok(&deployment.set(&update, "owner.pem"));
    let refused = runtime
        .block_on(held.new_mesh_cert(NewMeshCertRequest {}))
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("manifest changed"),
        "{refused:?}"
    );
    // A new connection is judged under the new manifest and served under it.
    let fresh = runtime
        .block_on(connect().new_mesh_cert(NewMeshCertRequest {}))
        .unwrap();
    assert!(!fresh.into_inner().certificate.is_empty());
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_host_deployment_listing_the_owner_gets_no_record_and_no_signature() {
    // The host's own deployment lists the owner as a co-owner and the owner's seed-share key,
    // hoping the owner's CLI takes it as the owner's and signs an update into it.
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    let (host_digest, _) = keys_named(&deployment, "host-owner.pem", "host-share.pem");
    let host_manifest =
        deployment.manifest("host-manifest.json", "web", &host_digest, &share_owner);
    let mut value: serde_json::Value = serde_json::from_str(&read(&host_manifest)).unwrap();
    value["workload_owner_key_digests"] = serde_json::json!([host_digest, owner_digest]);
    std::fs::write(&host_manifest, value.to_string()).unwrap();
    ok(&deployment.set_as(
        &host_manifest,
        "host-owner.pem",
        "host-shares",
        "host-record.json",
    ));
    // A first-contact `verify` without the manifest writes no record ...
    let verify = ok(&deployment.chiaro(&[
        "verify",
        "--out",
        deployment.path("verify-first-contact").to_str().unwrap(),
    ]));
    assert!(!deployment.path("record.json").exists(), "{verify}");
    // ... and `set` refuses to sign into a history no local owner signed, with or without a
    // record naming it.
    let set = deployment.set(&manifest, "owner.pem");
    assert_eq!(set.status.code(), Some(3), "{}", message(&set));
    std::fs::write(
        deployment.path("record.json"),
        serde_json::json!({
            "deployment_id": verify["fields"]["deployment"],
            "latest_transition": verify["fields"]["latest_transition"],
            "steps": 1,
        })
        .to_string(),
    )
    .unwrap();
    let set = deployment.set(&manifest, "owner.pem");
    assert_eq!(set.status.code(), Some(3), "{}", message(&set));
    let refused = deployment.initializer(WEB, "tee.json", "web-co-owned", "3");
    assert!(
        !refused.status.success(),
        "the owner never signed this deployment"
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

/// A validator of the deployment's Coordinator, from the reference values it was given
/// (`coordinator-reference.json`), as a client of the user or mesh API builds it.
fn coordinator_validator(
    deployment: &Deployment,
) -> std::sync::Arc<chiaro_atls::ReferenceValidator> {
    let reference = chiaro_manifest::CoordinatorReference::parse(&read(
        &deployment.path("coordinator-reference.json"),
    ))
    .unwrap();
    std::sync::Arc::new(
        chiaro_api::validation::reference_validator(reference.reference_values()).unwrap(),
    )
}

/// The deployment's owner's signing key (`owner.pem`, as `chiaro keygen` wrote it): its
/// SubjectPublicKeyInfo and the key.
fn owner_signer(deployment: &Deployment) -> (Vec<u8>, ring::signature::EcdsaKeyPair) {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;

    let pkcs8 = PrivatePkcs8KeyDer::from_pem_file(deployment.path("owner.pem")).unwrap();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.secret_pkcs8_der(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(
        &rcgen::KeyPair::try_from(pkcs8.secret_pkcs8_der()).unwrap(),
    );
    (spki, key)
}

#[test]
fn attack_hand_edited_manifest_giving_two_workloads_one_san_is_refused_by_the_coordinator() {
    use std::sync::Arc;

    use chiaro_api::v1::user_api_client::UserApiClient;
    use chiaro_api::v1::{CoordinatorState, GetManifestsRequest, SetManifestRequest};
    use chiaro_manifest::{ManifestHash, TransitionHash};
    use sha2::Digest;

    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    // The web entry is edited to carry the api workload's name: a web pod could then answer
    // for api, wherever the host sends api's connections.
    let manifest = deployment.manifest("manifest.json", "api", &owner_digest, &share_owner);
    deployment.start_coordinator();
    let field = format!("policies[{API:?}].sans: SAN \"api\" is also a SAN of policies[{WEB:?}]");

    // The owner's CLI refuses it before sending it.
    let set = deployment.set(&manifest, "owner.pem");
    assert_eq!(set.status.code(), Some(64), "{}", message(&set));
    let said = crate::harness::json(&set)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(said.contains(&field), "{said}");

    // A client of the owner's own making sends it anyway, signed by the owner: the Coordinator
    // refuses it itself.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let validator = coordinator_validator(&deployment);
    let tls = Arc::new(
        chiaro_atls::ClientConfig::new(validator, None, chiaro_coordinator::app::system_clock())
            .unwrap(),
    );
    let mut client = runtime
        .block_on(chiaro_api::transport::channel(deployment.user_api, tls))
        .map(UserApiClient::new)
        .unwrap();
    let state = |client: &mut UserApiClient<_>| {
        let fetched = runtime
            .block_on(client.get_manifests(GetManifestsRequest {}))
            .unwrap()
            .into_inner();
        (
            fetched.state(),
            chiaro_api::history::history_from_wire(fetched.history.as_ref()).unwrap(),
        )
    };
    let (before, history) = state(&mut client);
    assert_eq!(before, CoordinatorState::Uninitialized);
    let text = read(&manifest);
    // Signed as `chiaro set` signs. Where validation refuses the manifest it has no hash; the
    // signature is then over the text's digest, and the refusal must be for the shared name.
    let hash = chiaro_manifest::Manifest::parse(&text).map_or_else(
        |_| ManifestHash::new(sha2::Sha256::digest(text.as_bytes()).into()),
        |parsed| parsed.hash(),
    );
    let (spki, key) = owner_signer(&deployment);
    let signature = key
        .sign(
            &ring::rand::SystemRandom::new(),
            &chiaro_manifest::update_message(&history.deployment, &TransitionHash::ZERO, &hash),
        )
        .unwrap();
    let owner = chiaro_manifest::OwnerSignature::new(spki, signature.as_ref().to_vec());
    let Err(refused) = runtime.block_on(client.set_manifest(SetManifestRequest {
        manifest: text.into_bytes(),
        owner: Some(chiaro_api::history::owner_to_wire(&owner)),
    })) else {
        panic!("the Coordinator installed a manifest giving two workloads one name");
    };
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains(&field), "{refused:?}");
    let (after, _) = state(&mut client);
    assert_eq!(
        after,
        CoordinatorState::Uninitialized,
        "nothing was installed"
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_pod_under_the_coordinators_policy_gets_no_credentials() {
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let path = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    let mut manifest: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    manifest["policies"][COORDINATOR_POLICY] = serde_json::json!({
        "sans": ["chiaro-coordinator"], "role": "coordinator", "workload_secret_id": "shared"
    });
    std::fs::write(&path, manifest.to_string()).unwrap();
    deployment.start_coordinator();
    ok(&deployment.set(&path, "owner.pem"));
    // The host launches a pod whose evidence carries the Coordinator's policy hash (which
    // pods and the CLI pin the Coordinator by) and asks for mesh credentials with it.
    let refused = deployment.initializer(COORDINATOR_POLICY, "tee.json", "posing", "5");
    assert!(
        !refused.status.success(),
        "a pod under the Coordinator's policy got credentials"
    );
    assert!(
        message(&refused).contains("the Coordinator's own entry"),
        "{}",
        message(&refused)
    );
    assert!(!deployment.path("posing").join("tls/cert.pem").exists());
    ok_process(&deployment.initializer(WEB, "tee.json", "web", "20"));
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

/// `NewOwnerClientCert` over the real user API (attested TLS, gRPC): the owner's request on
/// its own connection gets a certificate; the same signed request replayed by the host on a
/// connection of its own is refused (the signature names the owner's session binding), and so
/// is a request signed by a key the manifest does not list (the host's).
#[test]
fn attack_owner_cert_request_replayed_on_another_connection_or_by_a_stranger_is_refused_over_grpc()
{
    use std::sync::Arc;

    use chiaro_api::v1::user_api_client::UserApiClient;
    use chiaro_api::v1::{GetManifestsRequest, NewOwnerClientCertRequest};

    // The Coordinator's JSON log, to read its owner-certificate audit events back.
    let (sender, log) = std::sync::mpsc::channel();
    let mut logged = Deployment::new();
    logged.log = Some(sender);
    logged.coordinator_flags = vec!["--log-format".to_owned(), "json".to_owned()];
    let (deployment, _, owner_digest, _) = owners_deployment_in(logged);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let validator = coordinator_validator(&deployment);
    let connect = || {
        let tls = Arc::new(
            chiaro_atls::ClientConfig::new(
                validator.clone(),
                None,
                chiaro_coordinator::app::system_clock(),
            )
            .unwrap(),
        );
        let (channel, session) = runtime
            .block_on(chiaro_api::transport::bound_channel(
                deployment.user_api,
                tls,
            ))
            .unwrap();
        (UserApiClient::new(channel), session)
    };
    let (mut owner_client, owner_session) = connect();
    let fetched = runtime
        .block_on(owner_client.get_manifests(GetManifestsRequest {}))
        .unwrap()
        .into_inner();
    let history = chiaro_api::history::history_from_wire(fetched.history.as_ref()).unwrap();
    let latest = history.steps.last().unwrap().0.transition.hash();
    let session_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point: [u8; 65] = session_key.public_key_raw().try_into().unwrap();
    #[expect(clippy::disallowed_methods, reason = "the test's clock, as the CLI's")]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let not_after = now + 600;
    let signed_by = |spki: Vec<u8>, key: &ring::signature::EcdsaKeyPair, session: [u8; 32]| {
        let message = chiaro_manifest::owner_client_cert_message(
            &history.deployment,
            &latest,
            &session,
            &point,
            not_after,
        );
        let signature = key
            .sign(&ring::rand::SystemRandom::new(), &message)
            .unwrap();
        NewOwnerClientCertRequest {
            public_key: point.to_vec(),
            not_after,
            owner: Some(chiaro_api::history::owner_to_wire(
                &chiaro_manifest::OwnerSignature::new(spki, signature.as_ref().to_vec()),
            )),
        }
    };
    let (spki, key) = owner_signer(&deployment);
    let owners_request = signed_by(spki, &key, *owner_session.current().unwrap().as_bytes());

    // The host replays the owner's signed request on its own attested connection.
    let (mut host_client, host_session) = connect();
    let Err(replayed) = runtime.block_on(host_client.new_owner_client_cert(owners_request.clone()))
    else {
        panic!("the owner's request was honoured on the host's connection");
    };
    assert_eq!(
        replayed.code(),
        tonic::Code::PermissionDenied,
        "{replayed:?}"
    );

    // The host signs with a key of its own, over its own connection.
    let (host_digest, _) = keys_named(&deployment, "host-owner.pem", "host-share.pem");
    let host_key = chiaro_manifest::KeyDigest::from_hex(&host_digest).unwrap();
    assert!(
        !deployment_lists(&fetched, &host_key),
        "the host's key is not the manifest's"
    );
    let host_pkcs8 =
        rustls::pki_types::pem::PemObject::from_pem_file(deployment.path("host-owner.pem"))
            .map(|der: rustls::pki_types::PrivatePkcs8KeyDer<'static>| der)
            .unwrap();
    let host_signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        host_pkcs8.secret_pkcs8_der(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let host_spki = rcgen::PublicKeyData::subject_public_key_info(
        &rcgen::KeyPair::try_from(host_pkcs8.secret_pkcs8_der()).unwrap(),
    );
    let strangers = signed_by(
        host_spki,
        &host_signer,
        *host_session.current().unwrap().as_bytes(),
    );
    let Err(stranger) = runtime.block_on(host_client.new_owner_client_cert(strangers)) else {
        panic!("a key the manifest does not list got an owner certificate");
    };
    assert_eq!(
        stranger.code(),
        tonic::Code::PermissionDenied,
        "{stranger:?}"
    );

    // The owner, on the connection it signed for, gets one.
    let issued = runtime
        .block_on(owner_client.new_owner_client_cert(owners_request))
        .unwrap()
        .into_inner();
    assert_eq!(issued.mesh_ca, fetched.mesh_ca);
    assert_eq!(issued.transition_hash, latest.as_bytes());
    assert!(!issued.certificate.is_empty());

    // Audited: both refusals (with the signer's digest and the reason), then the issue (with
    // the owner's digest, the certificate's serial and end).
    let serial = hex::encode(chiaro_coordinator::ca::serial(&issued.certificate).unwrap());
    let mut refusals = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let issued_event = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let raw = log
            .recv_timeout(left)
            .expect("no owner_cert_issued audit event");
        let line: OwnerCertLine = serde_json::from_str(&raw).unwrap();
        if line.target != chiaro_coordinator::audit::TARGET {
            continue;
        }
        match line.event.as_deref() {
            Some(chiaro_coordinator::audit::event::OWNER_CERT_REFUSED) => refusals.push(line),
            Some(chiaro_coordinator::audit::event::OWNER_CERT_ISSUED) => break line,
            _ => {}
        }
    };
    assert_eq!(
        issued_event.owner_key_digest.as_deref(),
        Some(owner_digest.as_str())
    );
    assert_eq!(issued_event.serial.as_deref(), Some(serial.as_str()));
    assert_eq!(issued_event.not_after, Some(not_after));
    let refused_by: Vec<_> = refusals
        .iter()
        .map(|line| line.owner_key_digest.as_deref())
        .collect();
    assert_eq!(
        refused_by,
        [Some(owner_digest.as_str()), Some(host_digest.as_str())],
        "{refusals:?}"
    );
    assert!(
        refusals.iter().all(|line| line.reason.is_some()),
        "{refusals:?}"
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

/// The fields of the owner-certificate audit events (`docs/observability.md`).
#[derive(Debug, serde::Deserialize)]
struct OwnerCertLine {
    target: String,
    event: Option<String>,
    owner_key_digest: Option<String>,
    serial: Option<String>,
    not_after: Option<u64>,
    reason: Option<String>,
}

/// Whether the latest manifest of `fetched` lists `owner`.
fn deployment_lists(
    fetched: &chiaro_api::v1::GetManifestsResponse,
    owner: &chiaro_manifest::KeyDigest,
) -> bool {
    let history = chiaro_api::history::history_from_wire(fetched.history.as_ref()).unwrap();
    let (_, latest) = history.steps.last().unwrap();
    latest
        .as_ref()
        .unwrap()
        .workload_owner_key_digests()
        .contains(owner)
}
