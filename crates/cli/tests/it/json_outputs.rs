//! Golden files for the CLI's JSON outputs (`--output json`), one per report type with fixed
//! values: the shape scripts and tests read. Each also parses back to the same value (the
//! commands serialise these types; readers deserialise them). `CHIARO_BLESS=1` rewrites them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chiaro::reports::{
    ContainerOutcome, ContainerRun, ForwardedConnection, GenerateSummary, HistoryStep, HttpAnswer,
    PodNetworking, PodRun, PortForwardReport, RunReport, SeedShareOwnerKey, SetReport, Shown,
    StandInServer, StoryStep, TamperDecision, TamperReport, TrafficCheck, TrafficKind,
    VerifyReport, WorkloadOwnerKey,
};
use chiaro_manifest::{DeploymentId, KeyDigest, ManifestHash, PolicyHash, TransitionHash};
use chiaro_policy::{VmSize, WorkloadReport};
use chiaro_test_support::golden;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn golden_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/json")
        .join(format!("{name}.json"))
}

/// Checks `value`'s JSON against its golden file and that it parses back to `value`.
fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: &T) {
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    golden::check(&golden_file(name), &text);
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value, "{name} parses back");
}

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn shown<T>(kind: &str, fields: T, notes: &[&str]) -> Shown<T> {
    Shown {
        kind: kind.to_owned(),
        fields,
        notes: notes.iter().map(|note| (*note).to_owned()).collect(),
    }
}

fn set_report() -> SetReport {
    SetReport {
        deployment: DeploymentId::new([0x11; 32]),
        transition: "22".repeat(32),
        manifest: ManifestHash::new([0x33; 32]),
        seed_shares: vec![format!("seed-shares/seed-share-{}.bin", "44".repeat(32))],
        record: "chiaro-deployment.json".to_owned(),
        unchanged: false,
    }
}

fn verify_report() -> VerifyReport {
    VerifyReport {
        deployment: DeploymentId::new([0x11; 32]),
        manifests: 1,
        latest_manifest: ManifestHash::new([0x33; 32]),
        latest_transition: TransitionHash::new([0x22; 32]),
        history: vec![HistoryStep {
            step: 0,
            transition: TransitionHash::new([0x22; 32]),
            manifest: ManifestHash::new([0x33; 32]),
            signed_by: KeyDigest::new([0x55; 32]),
            policies: 5,
        }],
        out: "verify".to_owned(),
    }
}

#[test]
fn keygen_outputs_are_the_golden_json() {
    check(
        "keygen-workload-owner",
        &shown(
            "workload-owner key",
            WorkloadOwnerKey {
                private_key: "workload-owner.pem".to_owned(),
                manifest_workload_owner_key_digest: KeyDigest::new([0x55; 32]),
            },
            &["add the digest to `workload_owner_key_digests` in the manifest"],
        ),
    );
    check(
        "keygen-seed-share-owner",
        &shown(
            "seed-share-owner key",
            SeedShareOwnerKey {
                private_key: "seed-share-owner.pem".to_owned(),
                public_key: vec![0x30, 0x82, 0x02, 0x22],
            },
            &[],
        ),
    );
}

#[test]
fn set_and_verify_outputs_are_the_golden_json() {
    check("set", &shown("manifest installed", set_report(), &[]));
    check(
        "verify",
        &shown(
            "deployment verified",
            verify_report(),
            &["first contact with deployment 1111…: recorded in chiaro-deployment.json"],
        ),
    );
}

#[test]
fn the_generate_summary_is_the_golden_json() {
    check(
        "generate",
        &GenerateSummary {
            workloads: vec![
                WorkloadReport {
                    at: "app.yaml:9:1".to_owned(),
                    kind: "Deployment".to_owned(),
                    name: "web".to_owned(),
                    namespace: "shop".to_owned(),
                    skipped: None,
                    policy_hash: Some(PolicyHash::new([0x66; 32])),
                    sans: vec!["web".to_owned(), "web.shop".to_owned()],
                    workload_secret_id: Some("apps/v1/Deployment/shop/web".to_owned()),
                    images: vec![("web".to_owned(), "shop/web:1.0@sha256:77".to_owned())],
                    pinned_secrets: vec!["web: DB_PASSWORD from Secret db/password".to_owned()],
                    vm_size: Some(VmSize {
                        vcpus: 2,
                        memory_mib: 2560,
                    }),
                },
                WorkloadReport {
                    at: "app.yaml:31:1".to_owned(),
                    kind: "Pod".to_owned(),
                    name: "plain".to_owned(),
                    namespace: "default".to_owned(),
                    skipped: Some(
                        "no runtimeClassName \"chiaro-cc\" (pass --all to include it)".to_owned(),
                    ),
                    policy_hash: None,
                    sans: Vec::new(),
                    workload_secret_id: None,
                    images: Vec::new(),
                    pinned_secrets: Vec::new(),
                    vm_size: None,
                },
            ],
            written: vec!["app.yaml".to_owned(), "manifest.json".to_owned()],
            warnings: vec!["manifest.json is not complete yet".to_owned()],
        },
    );
}

#[test]
fn the_local_run_report_is_the_golden_json() {
    let ok = HttpAnswer {
        status: 200,
        reason: "OK".to_owned(),
        body: "GET / on port 8080: 200".to_owned(),
    };
    check(
        "local-run",
        &RunReport {
            work_dir: ".chiaro-local".to_owned(),
            network: PodNetworking::Loopback,
            coordinator: address("127.0.0.1:30001"),
            owner_key_digest: KeyDigest::new([0x55; 32]),
            installed: set_report(),
            pods: vec![PodRun {
                workload: "web".to_owned(),
                pod: "web-7d9f8c6b5d-q8x2z".to_owned(),
                namespace: "emojivoto".to_owned(),
                policy_hash: PolicyHash::new([0x66; 32]),
                containers: vec![
                    ContainerRun {
                        container: "sandbox".to_owned(),
                        outcome: ContainerOutcome::Sandbox,
                    },
                    ContainerRun {
                        container: "chiaro-initializer".to_owned(),
                        outcome: ContainerOutcome::Initializer {
                            wrote: vec!["tls/cert.pem".to_owned()],
                        },
                    },
                    ContainerRun {
                        container: "chiaro-mesh".to_owned(),
                        outcome: ContainerOutcome::Mesh {
                            transparent: false,
                            summary: "ingress 8080 at 127.0.0.1:20001".to_owned(),
                        },
                    },
                    ContainerRun {
                        container: "web-svc".to_owned(),
                        outcome: ContainerOutcome::StandIn {
                            servers: vec![StandInServer {
                                declared: 8080,
                                address: address("127.0.0.1:40001"),
                                ingress: Some(address("127.0.0.1:20001")),
                            }],
                        },
                    },
                    ContainerRun {
                        container: "debug".to_owned(),
                        outcome: ContainerOutcome::Refused {
                            denials: vec!["is not a container of this pod".to_owned()],
                        },
                    },
                ],
            }],
            traffic: vec![
                TrafficCheck {
                    pod: "vote-bot".to_owned(),
                    kind: TrafficKind::Egress {
                        name: "web".to_owned(),
                        local: "127.0.0.1:8080".to_owned(),
                        remote: "web-svc:80".to_owned(),
                        through: address("127.0.0.1:20001"),
                    },
                    answer: Some(ok.clone()),
                    passed: true,
                },
                TrafficCheck {
                    pod: "web".to_owned(),
                    kind: TrafficKind::Plaintext {
                        address: address("127.0.0.1:20001"),
                        port: 8080,
                        redirected: false,
                    },
                    answer: None,
                    passed: true,
                },
                TrafficCheck {
                    pod: "web".to_owned(),
                    kind: TrafficKind::Probe {
                        path: "/app-health/web-svc/readyz".to_owned(),
                        status: address("198.18.1.10:15021"),
                    },
                    answer: Some(ok),
                    passed: true,
                },
            ],
            verified: verify_report(),
            refused_or_failed: 1,
            steps: vec![StoryStep {
                step: "1. An INSECURE simulated TEE".to_owned(),
                lines: vec!["wrote insecure-simulated-tee.json".to_owned()],
            }],
        },
    );
}

#[test]
fn the_local_tamper_report_is_the_golden_json() {
    check(
        "local-tamper",
        &TamperReport {
            workload: "web".to_owned(),
            change: "SkipInitializer".to_owned(),
            refused: Some("web-svc".to_owned()),
            decisions: vec![
                TamperDecision {
                    container: "sandbox (CreateSandbox)".to_owned(),
                    request: "CreateSandboxRequest".to_owned(),
                    tampered: false,
                    allowed: true,
                    denials: Vec::new(),
                },
                TamperDecision {
                    container: "web-svc".to_owned(),
                    request: "CreateContainerRequest".to_owned(),
                    tampered: false,
                    allowed: false,
                    denials: vec!["must not start before \"chiaro-initializer\"".to_owned()],
                },
            ],
        },
    );
}

#[test]
fn the_port_forward_report_and_its_connection_events_are_the_golden_json() {
    check(
        "port-forward",
        &PortForwardReport {
            listening: address("127.0.0.1:40123"),
            target: "pod/web-7d9f8c6b5d-q8x2z".to_owned(),
            namespace: "pf".to_owned(),
            server_name: "web.pf.svc.cluster.local".to_owned(),
            forwarder: "127.0.0.1:15100".to_owned(),
            routing: "10.0.3.7:8080".to_owned(),
            deployment: DeploymentId::new([0x11; 32]),
            latest_transition: TransitionHash::new([0x22; 32]),
            owner_certificate_not_after: 1_800_000_000,
            notes: vec!["WARNING: the INSECURE simulated TEE".to_owned()],
        },
    );
    check(
        "port-forward-connections",
        &vec![
            ForwardedConnection::Closed {
                connection: 1,
                bytes_up: 78,
                bytes_down: 190,
            },
            ForwardedConnection::Refused {
                connection: 2,
                error: "refused: the server's certificate is not for the target's identity"
                    .to_owned(),
            },
            ForwardedConnection::Failed {
                connection: 3,
                error: "reaching the forwarder at 127.0.0.1:15100: connection refused".to_owned(),
            },
        ],
    );
}
