//! What an untrusted host can change in the requests that start a pod with an encrypted
//! volume, and that each change is refused. The pod is a StatefulSet whose claim template
//! `data` is marked for encryption, rewritten by `chiaro_k8s::inject` as generate rewrites it:
//! the volume owner (`chiaro-volumes`, privileged, the device, the directory with
//! `Bidirectional` propagation) and the workload mounting the directory `HostToContainer`.
//! The untouched requests are allowed; each `attack_…` test plays one trick.

#![expect(clippy::unwrap_used, reason = "test")]

use std::collections::BTreeMap;

use chiaro_k8s::{
    ConfigSources, Document, INITIALIZER_NAME, Injection, VOLUME_OWNER_NAME, VolumeOwner, Workload,
    inject, read_documents,
};
use chiaro_pod::{InitializerEnv, VolumeName};
use chiaro_policy::{AgentPolicy, Evaluator, GenerateOptions, ImageConfig, PolicyData, generate};
use chiaro_simulated_host::{
    SimulatedPod, create_instance_request, create_sandbox_request, start_container_request,
};
use serde_json::Value;

const INITIALIZER_IMAGE: &str = "registry.example/chiaro/initializer@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DB_IMAGE: &str =
    "registry.example/db@sha256:3333333333333333333333333333333333333333333333333333333333333333";

const STATEFUL_SET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata:
      labels: {app: db}
      annotations: {chiaro.dev/encrypted-volumes: data}
    spec:
      containers:
      - name: db
        image: registry.example/db@sha256:3333333333333333333333333333333333333333333333333333333333333333
        command: [/db]
        volumeMounts: [{name: data, mountPath: /var/lib/db}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOncePod]
      volumeMode: Block
      resources: {requests: {storage: 1Gi}}
"#;

const DEVICE: &str = "/dev/chiaro-volumes/data";

/// The StatefulSet as generate rewrites it.
fn rewritten() -> Document {
    let mut document = read_documents("db.yaml", STATEFUL_SET).unwrap().remove(0);
    let workload = Workload::from_document(&document).unwrap().unwrap();
    let injection = Injection {
        initializer_image: INITIALIZER_IMAGE.to_owned(),
        initializer_env: InitializerEnv {
            coordinator: "chiaro-coordinator-ready:7777".to_owned(),
            deployment_anchor: None,
        },
        mesh: None,
        volume_owner: Some(VolumeOwner {
            image: INITIALIZER_IMAGE.to_owned(),
            volumes: vec![VolumeName::parse("data").unwrap()],
            per_replica: true,
        }),
        runtime_class: "chiaro-cc".to_owned(),
        images: BTreeMap::new(),
        verified_files: BTreeMap::new(),
    };
    inject(&mut document.value, workload.kind, &injection, &document.id).unwrap();
    document
}

fn policy_data() -> PolicyData {
    generated(&[]).unwrap()
}

/// The policy, with the database image declaring `volumes` (`VOLUME` in its Dockerfile).
fn generated(volumes: &[&str]) -> Result<PolicyData, chiaro_policy::PolicyError> {
    let document = rewritten();
    let workload = Workload::from_document(&document).unwrap().unwrap();
    let image = |reference: &str| ImageConfig {
        reference: reference.to_owned(),
        entrypoint: vec!["/entrypoint".to_owned()],
        ..ImageConfig::default()
    };
    let mut db = image(DB_IMAGE);
    db.volumes = volumes.iter().map(|v| (*v).to_owned()).collect();
    let images = BTreeMap::from([
        (INITIALIZER_IMAGE.to_owned(), image(INITIALIZER_IMAGE)),
        (DB_IMAGE.to_owned(), db),
    ]);
    generate(
        &document,
        &workload,
        &images,
        &ConfigSources::default(),
        &GenerateOptions::default(),
    )
    .map(|generated| generated.data)
}

#[test]
fn attack_an_image_volume_inside_an_encrypted_mount_is_refused_at_generate() {
    let error = generated(&["/var/lib/db/pgdata"]).unwrap_err().to_string();
    assert!(
        error.contains("image VOLUME /var/lib/db/pgdata") && error.contains("in plain"),
        "{error}"
    );
    assert!(
        generated(&["/var/lib/db"]).is_ok(),
        "the encrypted volume mounted at the image's VOLUME covers it"
    );
    assert!(generated(&["/var/lib/dbx"]).is_ok(), "not under the mount");
}

fn simulated() -> SimulatedPod {
    SimulatedPod {
        name: "db-0".to_owned(),
        namespace: "shop".to_owned(),
        netns: "/var/run/netns/cni-1".to_owned(),
    }
}

/// A pod under its policy, as the host drives it.
struct Pod {
    data: PolicyData,
    evaluator: Evaluator,
}

impl Pod {
    /// The sandbox and the containers in `names` created and started, in order.
    fn running(names: &[&str]) -> Self {
        let data = policy_data();
        let evaluator = Evaluator::new(&AgentPolicy::new(&data).unwrap()).unwrap();
        let mut pod = Self { data, evaluator };
        let sandbox = create_sandbox_request(&pod.data, &simulated());
        pod.ok("CreateSandboxRequest", &sandbox);
        for name in ["sandbox"].iter().chain(names) {
            let request = pod.request(name);
            pod.ok("CreateContainerRequest", &request);
            pod.ok(
                "StartContainerRequest",
                &start_container_request(&simulated(), name, 0),
            );
        }
        pod
    }

    /// Up to the volume owner's creation: sandbox and initializer.
    fn up_to_owner() -> Self {
        Self::running(&[INITIALIZER_NAME])
    }

    /// Up to the workload's creation: sandbox, initializer, volume owner.
    fn up_to_workload() -> Self {
        Self::running(&[INITIALIZER_NAME, VOLUME_OWNER_NAME])
    }

    fn request(&self, name: &str) -> Value {
        create_instance_request(&self.data, &simulated(), name, 0).unwrap()
    }

    fn send(&mut self, kind: &str, request: &Value) -> Vec<String> {
        let decision = self.evaluator.evaluate(kind, request).unwrap();
        if decision.allowed {
            Vec::new()
        } else {
            decision.denials
        }
    }

    fn ok(&mut self, kind: &str, request: &Value) {
        let denials = self.send(kind, request);
        assert!(denials.is_empty(), "{kind} {request}: {denials:?}");
    }
}

/// The denials of the volume owner's creation (after the initializer) with `mutate` applied.
fn tampered_owner(mutate: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut pod = Pod::up_to_owner();
    let mut request = pod.request(VOLUME_OWNER_NAME);
    mutate(&mut request);
    pod.send("CreateContainerRequest", &request)
}

/// The denials of the workload's creation with `mutate` applied.
fn tampered_db(mutate: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut pod = Pod::up_to_workload();
    let mut request = pod.request("db");
    mutate(&mut request);
    pod.send("CreateContainerRequest", &request)
}

fn assert_denied(denials: &[String], rule: &str) {
    assert!(
        denials.iter().any(|d| d.starts_with(rule)),
        "expected a {rule:?} denial, got {denials:?}"
    );
}

fn mount_mut<'a>(request: &'a mut Value, destination: &str) -> &'a mut Value {
    request["OCI"]["Mounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["destination"] == destination)
        .unwrap()
}

#[test]
fn the_untouched_pod_with_an_encrypted_volume_starts() {
    let mut pod = Pod::up_to_workload();
    let request = pod.request("db");
    assert_eq!(request["devices"][0]["container_path"], DEVICE);
    assert_eq!(request["OCI"]["Linux"]["RootfsPropagation"], "rslave");
    pod.ok("CreateContainerRequest", &request);
    let owner = pod.request(VOLUME_OWNER_NAME);
    assert_eq!(owner["OCI"]["Linux"]["RootfsPropagation"], "rshared");
    assert_eq!(owner["OCI"]["Linux"]["MaskedPaths"], serde_json::json!([]));
}

#[test]
fn attack_the_device_at_another_path_is_refused() {
    let denials = tampered_owner(|request| {
        request["devices"][0]["container_path"] = "/dev/sda".into();
    });
    assert_denied(&denials, "devices: devices[/dev/sda]");
}

#[test]
fn attack_a_device_node_the_container_does_not_have_is_refused() {
    let denials = tampered_owner(|request| {
        request["OCI"]["Linux"]["Devices"][0]["Path"] = "/dev/mem".into();
    });
    assert_denied(&denials, "devices: OCI.Linux.Devices[/dev/mem]");
    let denials = tampered_owner(|request| {
        request["OCI"]["Linux"]["Devices"][0]["Type"] = "c".into();
    });
    assert_denied(&denials, "devices: OCI.Linux.Devices");
}

#[test]
fn attack_the_owners_mount_without_propagation_is_refused() {
    let denials = tampered_owner(|request| {
        mount_mut(request, "/chiaro-volumes/data")["options"] =
            serde_json::json!(["rbind", "rprivate", "rw"]);
    });
    assert_denied(&denials, "mounts: OCI.Mounts[/chiaro-volumes/data]");
    let denials = tampered_owner(|request| {
        request["OCI"]["Linux"]["RootfsPropagation"] = "".into();
    });
    assert_denied(&denials, "linux: OCI.Linux.RootfsPropagation");
}

#[test]
fn attack_the_workloads_mount_made_shared_or_private_is_refused() {
    for propagation in ["rshared", "rprivate"] {
        let denials = tampered_db(|request| {
            mount_mut(request, "/var/lib/db")["options"] =
                serde_json::json!(["rbind", propagation, "rw"]);
        });
        assert_denied(&denials, "mounts: OCI.Mounts[/var/lib/db]");
    }
    let denials = tampered_db(|request| {
        request["OCI"]["Linux"]["RootfsPropagation"] = "rshared".into();
    });
    assert_denied(&denials, "linux: OCI.Linux.RootfsPropagation");
}

#[test]
fn attack_the_workload_with_the_owners_privileges_is_refused() {
    let owner_capabilities =
        Pod::up_to_workload().request(VOLUME_OWNER_NAME)["OCI"]["Process"]["Capabilities"].clone();
    let denials = tampered_db(|request| {
        request["OCI"]["Process"]["Capabilities"] = owner_capabilities;
    });
    assert_denied(&denials, "capabilities: OCI.Process.Capabilities");
    let denials = tampered_db(|request| {
        request["OCI"]["Linux"]["MaskedPaths"] = serde_json::json!([]);
    });
    assert_denied(&denials, "paths: OCI.Linux.MaskedPaths");
    let owner_device_rules =
        Pod::up_to_workload().request(VOLUME_OWNER_NAME)["OCI"]["Linux"]["Resources"]["Devices"]
            .clone();
    assert_eq!(
        owner_device_rules[0]["Allow"], true,
        "the owner's allow-all"
    );
    let denials = tampered_db(|request| {
        request["OCI"]["Linux"]["Resources"]["Devices"] = owner_device_rules;
    });
    assert_denied(&denials, "devices: OCI.Linux.Resources.Devices");
}

#[test]
fn attack_the_owners_device_rules_beyond_the_allow_all_are_refused() {
    let denials = tampered_owner(|request| {
        request["OCI"]["Linux"]["Resources"]["Devices"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"Allow": true, "Type": "c", "Major": 1, "Minor": 1, "Access": "rwm"}));
    });
    assert_denied(&denials, "devices: OCI.Linux.Resources.Devices");
}

#[test]
fn attack_the_owner_with_another_command_is_refused() {
    let denials = tampered_owner(|request| {
        request["OCI"]["Process"]["Args"]
            .as_array_mut()
            .unwrap()
            .push("--insecure-file-stand-in".into());
    });
    assert_denied(&denials, "process: OCI.Process.Args");
}

#[test]
fn attack_the_workload_created_before_the_owner_started_is_refused() {
    let mut pod = Pod::up_to_owner();
    let request = pod.request("db");
    let denials = pod.send("CreateContainerRequest", &request);
    assert_denied(&denials, "order:");
}

#[test]
fn attack_the_owner_with_masked_or_read_only_paths_is_refused() {
    for kind in ["MaskedPaths", "ReadonlyPaths"] {
        let denials = tampered_owner(|request| {
            request["OCI"]["Linux"][kind] =
                serde_json::json!(["/chiaro/secrets/workload-secret-seed"]);
        });
        assert_denied(&denials, &format!("paths: OCI.Linux.{kind}"));
    }
}

#[test]
fn attack_pausing_a_container_is_refused() {
    let mut pod = Pod::up_to_workload();
    for kind in ["PauseContainerRequest", "ResumeContainerRequest"] {
        let request = serde_json::json!({"container_id": chiaro_simulated_host::instance_id(&simulated(), VOLUME_OWNER_NAME, 0)});
        assert!(
            !pod.evaluator.evaluate(kind, &request).unwrap().allowed,
            "{kind} is refused"
        );
    }
}

#[test]
fn attack_a_device_node_without_its_hot_plugged_device_is_refused() {
    let denials = tampered_owner(|request| {
        request["devices"] = serde_json::json!([]);
    });
    assert_denied(
        &denials,
        "devices: OCI.Linux.Devices[/dev/chiaro-volumes/data]",
    );
    assert_denied(
        &denials,
        "devices: devices[/dev/chiaro-volumes/data]: missing",
    );
    let denials = tampered_owner(|request| {
        let node = request["OCI"]["Linux"]["Devices"][0].clone();
        request["OCI"]["Linux"]["Devices"]
            .as_array_mut()
            .unwrap()
            .push(node);
    });
    assert_denied(
        &denials,
        "devices: OCI.Linux.Devices[/dev/chiaro-volumes/data]: listed twice",
    );
    let denials = tampered_db(|request| {
        request["devices"] = serde_json::json!([]);
        request["OCI"]["Linux"]["Devices"] = serde_json::json!([]);
    });
    assert_denied(
        &denials,
        "devices: devices[/dev/chiaro-volumes/data]: missing",
    );
}
