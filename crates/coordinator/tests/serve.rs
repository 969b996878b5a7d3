//! The Coordinator in process, served on listeners the test bound itself (port 0): nothing to
//! race for, and the addresses are the ones the kernel gave.

use std::net::SocketAddr;
use std::sync::Arc;

use chiaro_api::v1::user_api_client::UserApiClient;
use chiaro_api::v1::{CoordinatorState, GetManifestsRequest};
use chiaro_attest::insecure_simulation::InsecureSimulatedTee;
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_attest::{HostData, Measurement};
use chiaro_coordinator::app::{self, Config, Listeners};
use chiaro_guest_issuer::EvidenceSource;
use chiaro_manifest::{InsecureSimulatedReference, ReferenceValueSets};

#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_serves_on_listeners_bound_by_its_caller() {
    let dir = std::env::temp_dir().join(format!("chiaro-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tee = InsecureSimulatedTee::generate("2026-01-01T00:00:00Z".parse().unwrap()).unwrap();
    std::fs::write(dir.join("tee.json"), tee.to_insecure_json().unwrap()).unwrap();
    let host_data = HostData::new([0xc0; 32]);
    let config = Config {
        state_dir: dir.join("state"),
        evidence: EvidenceSource::InsecureSimulated {
            tee: dir.join("tee.json"),
            measurement: Measurement::new([0; 48]),
            host_data,
        },
        limits: chiaro_api::admission::Limits::DEFAULT,
        ready_file: None,
    };
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let listeners = Listeners::bind(loopback, loopback, loopback).await.unwrap();
    let user_api = listeners.user_api.local_addr().unwrap();
    assert_ne!(user_api.port(), 0);
    let coordinator = tokio::spawn(app::run(config, listeners));

    // The listener is bound before the Coordinator runs: the first connection is served, with
    // no retry while it comes up.
    let reference = ReferenceValueSets {
        insecure_simulated: vec![InsecureSimulatedReference {
            ark: tee.ark_der().to_vec(),
            values: SnpReferenceValues {
                host_data: Some(host_data),
                measurements: Some(vec![Measurement::new([0; 48])]),
                ..SnpReferenceValues::default()
            },
        }],
        ..ReferenceValueSets::default()
    };
    let validator = Arc::new(chiaro_api::validation::reference_validator(&reference).unwrap());
    let tls =
        Arc::new(chiaro_atls::ClientConfig::new(validator, None, app::system_clock()).unwrap());
    let channel = chiaro_api::transport::channel(user_api, tls).await.unwrap();
    let state = UserApiClient::new(channel)
        .get_manifests(GetManifestsRequest {})
        .await
        .unwrap()
        .into_inner()
        .state();
    assert_eq!(state, CoordinatorState::Uninitialized);
    coordinator.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
