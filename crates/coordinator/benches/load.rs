//! Load on one Coordinator (`bench/coordinator-load`): concurrent initializers, each a full
//! mutually attested TLS connection plus `NewMeshCert`, with the INSECURE simulated TEE. Prints
//! attestations per second and latency percentiles per concurrency, next to the crypto one
//! attestation needs (one evidence verification + one certificate signature) timed in the same
//! run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiaro_api::admission::Limits;
use chiaro_api::v1::mesh_api_client::MeshApiClient;
use chiaro_api::v1::user_api_client::UserApiClient;
use chiaro_api::v1::{GetManifestsRequest, NewMeshCertRequest, SetManifestRequest};
use chiaro_atls::{ClientConfig, Clock, TlsIdentity};
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_attest::{HostData, ReportData, UnixTime};
use chiaro_attest_guest::InsecureSimulatedIssuer;
use chiaro_coordinator::app::{Config, Listeners, system_clock};
use chiaro_coordinator::ca::{MeshCa, RootCa};
use chiaro_coordinator::seed::Seed;
use chiaro_guest_issuer::AtlsIssuer;
use chiaro_guest_issuer::EvidenceSource;
use chiaro_manifest::{
    DeploymentId, Manifest, OwnerSignature, ReferenceValueSets, TransitionHash, update_message,
};
use sha2::Digest as _;

const POLICY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const COORDINATOR_POLICY: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]
#[expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark stops on broken set-up"
)]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("chiaro-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let now: UnixTime = "2026-01-01T00:00:00Z".parse().unwrap();
    let tee = InsecureSimulatedTee::generate(now).unwrap();
    std::fs::write(dir.join("tee.json"), tee.to_insecure_json().unwrap()).unwrap();
    let ark = hex::encode(tee.ark_der());
    let reference = ReferenceValueSets::parse(
        &serde_json::json!({ "insecure_simulated": [{ "ark": ark, "values": { "host_data": COORDINATOR_POLICY } }] }).to_string(),
    )
    .unwrap();
    let owner = rcgen::KeyPair::generate().unwrap();
    let owner_spki = rcgen::PublicKeyData::subject_public_key_info(&owner);
    let manifest = serde_json::json!({
        "version": 1,
        "policies": { POLICY: { "sans": ["web"], "workload_secret_id": "web" } },
        "reference_values": { "insecure_simulated": [{ "ark": ark, "values": {} }] },
        "workload_owner_key_digests": [hex::encode(sha2::Sha256::digest(&owner_spki))],
    })
    .to_string();

    // The crypto bound: one simulated SNP verification (chain included) + one certificate.
    let anchors = tee.trust_anchors().unwrap();
    let report = tee
        .report(&SimulatedLaunch::default(), &ReportData::new([0; 64]))
        .unwrap();
    let seed = Seed::generate().unwrap();
    let root = RootCa::create(&seed, now).unwrap();
    let mesh = MeshCa::create(&seed, &TransitionHash::new([1; 32]), &root, now).unwrap();
    let entry = chiaro_manifest::PolicyEntry {
        sans: vec!["web".to_owned()],
        role: chiaro_manifest::Role::Workload,
        workload_secret_id: None,
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        chiaro_attest::snp::verify(
            &report,
            &tee.collateral(),
            &anchors,
            &SnpReferenceValues::default(),
            now,
        )
        .unwrap();
        mesh.issue(key.public_key_raw(), &entry, now).unwrap();
    }
    let crypto = start.elapsed() / rounds;
    println!(
        "crypto bound: one SNP verification + one P-384 certificate signature = {crypto:.2?} ({:.0}/s on one core)",
        1.0 / crypto.as_secs_f64()
    );

    let config = Config {
        state_dir: dir.join("state"),
        evidence: EvidenceSource::InsecureSimulated {
            tee: dir.join("tee.json"),
            measurement: chiaro_attest::Measurement::new([0; 48]),
            host_data: HostData::new(
                *chiaro_manifest::PolicyHash::from_hex(COORDINATOR_POLICY)
                    .unwrap()
                    .as_bytes(),
            ),
        },
        // Every initializer here comes from 127.0.0.1: one source may use the listener's whole
        // caps (the admission checks still run on every connection).
        limits: Limits {
            connections_per_source: Limits::DEFAULT.connections,
            pre_auth_per_source: Limits::DEFAULT.pre_auth,
            ..Limits::DEFAULT
        },
        ready_file: None,
    };
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let listeners = runtime
        .block_on(Listeners::bind(loopback, loopback, loopback))
        .unwrap();
    let (user_api, mesh_api) = (
        listeners.user_api.local_addr().unwrap(),
        listeners.mesh_api.local_addr().unwrap(),
    );
    runtime.spawn(async move { chiaro_coordinator::app::run(config, listeners).await });
    let validator = Arc::new(chiaro_api::validation::reference_validator(&reference).unwrap());
    let clock: Clock = system_clock();

    runtime.block_on(async {
        let user_tls = Arc::new(ClientConfig::new(validator.clone(), None, clock.clone()).unwrap());
        let mut attempts = 0;
        let channel = loop {
            match chiaro_api::transport::channel(user_api, user_tls.clone()).await {
                Ok(channel) => break channel,
                Err(_) if attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("the Coordinator did not come up: {error}"),
            }
        };
        let mut user = UserApiClient::new(channel);
        let history = user.get_manifests(GetManifestsRequest {}).await.unwrap().into_inner().history.unwrap();
        let deployment = DeploymentId::new(history.deployment_id.as_slice().try_into().unwrap());
        let message = update_message(&deployment, &TransitionHash::ZERO, &Manifest::parse(&manifest).unwrap().hash());
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &owner.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let signature = signer.sign(&ring::rand::SystemRandom::new(), &message).unwrap();
        let owner = OwnerSignature::new(owner_spki, signature.as_ref().to_vec());
        user.set_manifest(SetManifestRequest {
            manifest: manifest.into_bytes(),
            owner: Some(chiaro_api::history::owner_to_wire(&owner)),
        })
        .await
        .expect("installing the manifest");

        let tee_text = std::fs::read_to_string(dir.join("tee.json")).unwrap();
        for concurrency in [1usize, 4, 16, 64] {
            let per_task = (256 / concurrency).max(4);
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let validator = validator.clone();
                let clock = clock.clone();
                let tee_text = tee_text.clone();
                tasks.push(tokio::spawn(async move {
                    let launch = SimulatedLaunch {
                        host_data: HostData::new(*chiaro_manifest::PolicyHash::from_hex(POLICY).unwrap().as_bytes()),
                        ..SimulatedLaunch::default()
                    };
                    let issuer = Arc::new(AtlsIssuer::new(InsecureSimulatedIssuer::new(InsecureSimulatedTee::from_insecure_json(&tee_text).unwrap(), launch)));
                    let mut latencies = Vec::with_capacity(per_task);
                    for _ in 0..per_task {
                        let begin = Instant::now();
                        let key = rcgen::KeyPair::generate().unwrap();
                        let identity = TlsIdentity::from_pkcs8(&key.serialize_der()).unwrap();
                        let tls = Arc::new(ClientConfig::with_identity(validator.clone(), issuer.clone(), &identity, clock.clone()).unwrap());
                        let channel = chiaro_api::transport::channel(mesh_api, tls).await.unwrap();
                        MeshApiClient::new(channel).new_mesh_cert(NewMeshCertRequest {}).await.unwrap();
                        latencies.push(begin.elapsed());
                    }
                    latencies
                }));
            }
            let mut latencies = Vec::new();
            for task in tasks {
                latencies.extend(task.await.unwrap());
            }
            let elapsed = started.elapsed();
            latencies.sort();
            println!(
                "{concurrency:>3} concurrent initializers: {:>6.1} attestations/s   p50 {:>8.2?}   p99 {:>8.2?}   ({} attestations)",
                latencies.len() as f64 / elapsed.as_secs_f64(),
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                latencies.len()
            );
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
