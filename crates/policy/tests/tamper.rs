//! What an untrusted host can change in a container creation, and that each change is refused.
//!
//! The pod has Chiaro's shape: the initializer and the mesh sidecar (a native sidecar) as init
//! containers, then the workload. The requests are built the way containerd and the Kata shim
//! build them for that pod (mounts, namespaces, storages, annotations), so the untouched ones are
//! allowed; each test then changes one thing.

#![expect(clippy::unwrap_used, reason = "test")]

use std::collections::BTreeMap;

use chiaro_k8s::{ConfigSources, Workload, read_documents};
use chiaro_policy::{
    AgentPolicy, Evaluator, GenerateOptions, ImageConfig, PolicyData, SimulatedPod, bundle_id,
    create_container_request, generate,
};
use serde_json::{Value, json};

const POD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - name: chiaro-initializer
        image: registry.example/chiaro/initializer@sha256:1111111111111111111111111111111111111111111111111111111111111111
        volumeMounts: [{name: chiaro-credentials, mountPath: /chiaro}]
      - name: chiaro-mesh
        image: registry.example/chiaro/mesh@sha256:2222222222222222222222222222222222222222222222222222222222222222
        restartPolicy: Always
        volumeMounts: [{name: chiaro-credentials, mountPath: /chiaro, readOnly: true}]
      containers:
      - name: web
        image: registry.example/web:1.0@sha256:3333333333333333333333333333333333333333333333333333333333333333
        env:
        - {name: MODE, value: production}
        - {name: REDIS_PORT, value: "6379"}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        volumeMounts: [{name: chiaro-credentials, mountPath: /chiaro, readOnly: true}]
        livenessProbe: {exec: {command: [/bin/check, --quick]}}
      volumes:
      - name: chiaro-credentials
        emptyDir: {medium: Memory}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2}
"#;

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn images() -> BTreeMap<String, ImageConfig> {
    let image = |reference: &str, entrypoint: &str| ImageConfig {
        reference: reference.to_owned(),
        entrypoint: vec![entrypoint.to_owned()],
        env: vec![PATH.to_owned()],
        user: "1000:1000".to_owned(),
        ..ImageConfig::default()
    };
    BTreeMap::from([
        ("registry.example/chiaro/initializer@sha256:1111111111111111111111111111111111111111111111111111111111111111".to_owned(),
         image("registry.example/chiaro/initializer@sha256:1111111111111111111111111111111111111111111111111111111111111111", "/chiaro-initializer")),
        ("registry.example/chiaro/mesh@sha256:2222222222222222222222222222222222222222222222222222222222222222".to_owned(),
         image("registry.example/chiaro/mesh@sha256:2222222222222222222222222222222222222222222222222222222222222222", "/chiaro-mesh")),
        ("registry.example/web:1.0@sha256:3333333333333333333333333333333333333333333333333333333333333333".to_owned(),
         image("registry.example/web@sha256:3333333333333333333333333333333333333333333333333333333333333333", "/web")),
    ])
}

fn policy_data() -> PolicyData {
    let documents = read_documents("pod.yaml", POD).unwrap();
    let mut config = ConfigSources::default();
    for document in &documents {
        config.add(document).unwrap();
    }
    let workload = Workload::from_document(&documents[0]).unwrap().unwrap();
    generate(
        &documents[0],
        &workload,
        &images(),
        &config,
        &GenerateOptions::default(),
    )
    .unwrap()
    .data
}

const POD_NAME: &str = "web-5d8f7c9b4-x2x7k";
const NETNS: &str = "/var/run/netns/cni-1234";

fn pod() -> SimulatedPod {
    SimulatedPod {
        name: POD_NAME.to_owned(),
        namespace: "shop".to_owned(),
        netns: NETNS.to_owned(),
    }
}

fn bundle(name: &str) -> String {
    bundle_id(&pod(), name)
}

/// A CreateContainerRequest as containerd and the Kata shim send it for `name`.
fn request(data: &PolicyData, name: &str) -> Value {
    create_container_request(data, &pod(), name).unwrap()
}

struct Pod {
    data: PolicyData,
    evaluator: Evaluator,
}

impl Pod {
    fn new() -> Self {
        let data = policy_data();
        let evaluator = Evaluator::new(&AgentPolicy::new(&data).unwrap()).unwrap();
        Self { data, evaluator }
    }

    fn create(&mut self, request: &Value) -> Vec<String> {
        let decision = self
            .evaluator
            .evaluate("CreateContainerRequest", request)
            .unwrap();
        if decision.allowed {
            Vec::new()
        } else {
            assert!(!decision.denials.is_empty(), "a denial names its rule");
            decision.denials
        }
    }

    fn start(&mut self, name: &str) {
        let request = request(&self.data, name);
        let denials = self.create(&request);
        assert!(denials.is_empty(), "{name}: {denials:?}");
    }

    /// Starts the sandbox and the init containers; the workload is next.
    fn up_to_workload() -> Self {
        let mut pod = Self::new();
        for name in ["sandbox", "chiaro-initializer", "chiaro-mesh"] {
            pod.start(name);
        }
        pod
    }
}

fn assert_denied(denials: &[String], rule: &str) {
    assert!(
        denials.iter().any(|d| d.starts_with(rule)),
        "expected a {rule:?} denial, got {denials:?}"
    );
}

#[test]
fn the_untouched_pod_starts_and_probes_run() {
    let mut pod = Pod::up_to_workload();
    pod.start("web");
    let exec = json!({
        "container_id": bundle("web"),
        "exec_id": "e1",
        "process": {"Args": ["/bin/check", "--quick"], "Cwd": "/", "Env": [PATH], "Terminal": false,
                    "User": {"UID": 1000, "GID": 1000, "AdditionalGids": [1000]}, "NoNewPrivileges": false},
    });
    assert!(
        pod.evaluator
            .evaluate("ExecProcessRequest", &exec)
            .unwrap()
            .allowed
    );
    let mut shell = exec.clone();
    shell["process"]["Args"] = json!(["/bin/sh"]);
    let decision = pod
        .evaluator
        .evaluate("ExecProcessRequest", &shell)
        .unwrap();
    assert!(!decision.allowed);
    assert_denied(&decision.denials, "exec: process.Args");
}

#[test]
fn a_changed_image_is_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = request(&pod.data, "web");
    request["storages"][0]["source"] = json!(
        "registry.example/web@sha256:4444444444444444444444444444444444444444444444444444444444444444"
    );
    assert_denied(&pod.create(&request), "storages:");
}

#[test]
fn changed_args_are_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = request(&pod.data, "web");
    request["OCI"]["Process"]["Args"] = json!(["/web", "--debug"]);
    assert_denied(&pod.create(&request), "process: OCI.Process.Args");
}

#[test]
fn changed_added_and_removed_env_are_refused() {
    let data = policy_data();
    let base = request(&data, "web");
    let env: Vec<String> = serde_json::from_value(base["OCI"]["Process"]["Env"].clone()).unwrap();
    let mut cases = Vec::new();
    cases.push(
        env.iter()
            .map(|e| {
                if e.starts_with("MODE=") {
                    "MODE=debug".to_owned()
                } else {
                    e.clone()
                }
            })
            .collect::<Vec<_>>(),
    );
    cases.push(
        env.iter()
            .filter(|e| !e.starts_with("DB_PASSWORD="))
            .cloned()
            .collect(),
    );
    let mut added = env.clone();
    added.push("LD_PRELOAD=/tmp/evil.so".to_owned());
    cases.push(added);
    // A service named "redis" makes the kubelet set REDIS_PORT=tcp://…; a pinned REDIS_PORT
    // keeps its value.
    cases.push(
        env.iter()
            .map(|e| {
                if e.starts_with("REDIS_PORT=") {
                    "REDIS_PORT=tcp://10.0.0.9:6379".to_owned()
                } else {
                    e.clone()
                }
            })
            .collect(),
    );
    for changed in cases {
        let mut pod = Pod::up_to_workload();
        let mut request = base.clone();
        request["OCI"]["Process"]["Env"] = json!(changed);
        assert_denied(&pod.create(&request), "env: OCI.Process.Env");
    }
}

#[test]
fn an_extra_mount_is_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = request(&pod.data, "web");
    request["OCI"]["Mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/host", "type_": "bind", "source": "/run/kata-containers/shared/containers/x", "options": ["rbind", "rw"],
    }));
    assert_denied(&pod.create(&request), "mounts: OCI.Mounts[/host]");
}

#[test]
fn a_writable_credentials_mount_is_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = request(&pod.data, "web");
    for mount in request["OCI"]["Mounts"].as_array_mut().unwrap() {
        if mount["destination"] == "/chiaro" {
            mount["options"] = json!(["rbind", "rprivate", "rw"]);
        }
    }
    assert_denied(&pod.create(&request), "mounts: OCI.Mounts[/chiaro]");
}

#[test]
fn more_privileges_are_refused() {
    let mut pod = Pod::up_to_workload();
    let base = request(&pod.data, "web");
    let mut request = base.clone();
    request["OCI"]["Process"]["Capabilities"]["Bounding"]
        .as_array_mut()
        .unwrap()
        .push(json!("CAP_SYS_ADMIN"));
    assert_denied(
        &pod.create(&request),
        "capabilities: OCI.Process.Capabilities.Bounding",
    );
    let mut request = base.clone();
    request["OCI"]["Process"]["User"]["UID"] = json!(0);
    assert_denied(&pod.create(&request), "user: OCI.Process.User.UID");
    let mut request = base;
    request["OCI"]["Hooks"] = json!({"Prestart": [{"Path": "/bin/sh"}]});
    assert_denied(&pod.create(&request), "hooks: OCI.Hooks.Prestart");
}

#[test]
fn other_namespaces_are_refused() {
    let mut pod = Pod::up_to_workload();
    let base = request(&pod.data, "web");
    let mut request = base.clone();
    request["OCI"]["Linux"]["Namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Type": "network", "Path": "/var/run/netns/other"}));
    assert_denied(
        &pod.create(&request),
        "namespaces: OCI.Linux.Namespaces[network]",
    );
    let mut request = base;
    request["OCI"]["Linux"]["Namespaces"][0] = json!({"Type": "ipc", "Path": "/proc/1/ns/ipc"});
    assert_denied(
        &pod.create(&request),
        "namespaces: OCI.Linux.Namespaces[ipc]",
    );
}

#[test]
fn an_extra_container_is_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = request(&pod.data, "web");
    request["OCI"]["Annotations"]["io.kubernetes.cri.container-name"] = json!("debug");
    assert_denied(
        &pod.create(&request),
        "container: OCI.Annotations[io.kubernetes.cri.container-name]",
    );
}

#[test]
fn a_repeated_container_is_refused() {
    let mut pod = Pod::up_to_workload();
    pod.start("web");
    let mut again = request(&pod.data, "web");
    again["container_id"] = json!(bundle("web2"));
    assert_denied(
        &pod.create(&again),
        "order: container \"web\": was already created",
    );
}

#[test]
fn the_workload_before_the_initializer_is_refused() {
    let mut pod = Pod::new();
    pod.start("sandbox");
    let request = request(&pod.data, "web");
    let denials = pod.create(&request);
    assert_denied(
        &denials,
        "order: container \"web\": must not start before \"chiaro-initializer\"",
    );
}

#[test]
fn a_skipped_sidecar_is_refused() {
    let mut pod = Pod::new();
    pod.start("sandbox");
    pod.start("chiaro-initializer");
    let request = request(&pod.data, "web");
    assert_denied(
        &pod.create(&request),
        "order: container \"web\": must not start before \"chiaro-mesh\"",
    );
}

#[test]
fn another_pod_name_or_namespace_is_refused() {
    let mut pod = Pod::up_to_workload();
    let base = request(&pod.data, "web");
    let mut request = base.clone();
    request["OCI"]["Annotations"]["io.kubernetes.cri.sandbox-namespace"] = json!("default");
    assert_denied(
        &pod.create(&request),
        "pod: OCI.Annotations[io.kubernetes.cri.sandbox-namespace]",
    );
    let mut request = base;
    request["OCI"]["Annotations"]["io.kubernetes.cri.sandbox-name"] = json!("web-5d8f7c9b4-aaaaa");
    assert_denied(
        &pod.create(&request),
        "pod: OCI.Annotations[io.kubernetes.cri.sandbox-name]",
    );
}

#[test]
fn a_root_file_system_is_not_shared() {
    let mut pod = Pod::up_to_workload();
    let mut request = request(&pod.data, "web");
    let mesh = bundle("chiaro-mesh");
    request["OCI"]["Annotations"]["io.katacontainers.pkg.oci.bundle_path"] = json!(format!(
        "/run/containerd/io.containerd.runtime.v2.task/k8s.io/{mesh}"
    ));
    request["OCI"]["Root"]["Path"] = json!(format!("/run/kata-containers/{mesh}/rootfs"));
    request["storages"] = json!([]);
    assert_denied(
        &pod.create(&request),
        "root: OCI.Annotations[io.katacontainers.pkg.oci.bundle_path]",
    );
}

#[test]
fn requests_that_read_or_write_the_workload_are_refused() {
    let mut pod = Pod::up_to_workload();
    for kind in [
        "ReadStreamRequest",
        "WriteStreamRequest",
        "SetPolicyRequest",
        "SetGuestDateTimeRequest",
        "SetIPTablesRequest",
        "NoSuchRequest",
    ] {
        let decision = pod.evaluator.evaluate(kind, &json!({})).unwrap();
        assert!(!decision.allowed, "{kind}");
    }
}

#[test]
fn each_remaining_container_field_is_checked() {
    type Mutation = fn(&mut Value);
    let cases: [(&str, Mutation, &str); 10] = [
        (
            "an annotation the runtime does not set",
            |r| r["OCI"]["Annotations"]["io.katacontainers.config.agent.policy"] = json!("x"),
            "annotations: OCI.Annotations[io.katacontainers.config.agent.policy]",
        ),
        (
            "another sandbox's log directory",
            |r| {
                r["OCI"]["Annotations"]["io.kubernetes.cri.sandbox-log-directory"] =
                    json!("/var/log/pods/other_x_1");
            },
            "pod: OCI.Annotations[io.kubernetes.cri.sandbox-log-directory]",
        ),
        (
            "a shared PID namespace",
            |r| r["sandbox_pidns"] = json!(true),
            "namespaces: sandbox_pidns",
        ),
        (
            "a terminal",
            |r| r["OCI"]["Process"]["Terminal"] = json!(true),
            "process: OCI.Process.Terminal",
        ),
        (
            "no_new_privileges",
            |r| r["OCI"]["Process"]["NoNewPrivileges"] = json!(true),
            "process: OCI.Process.NoNewPrivileges",
        ),
        (
            "a read-only root",
            |r| r["OCI"]["Root"]["Readonly"] = json!(true),
            "root: OCI.Root.Readonly",
        ),
        (
            "unmasked paths",
            |r| r["OCI"]["Linux"]["MaskedPaths"] = json!([]),
            "paths: OCI.Linux.MaskedPaths",
        ),
        (
            "a device node",
            |r| r["OCI"]["Linux"]["Devices"] = json!([{"Path": "/dev/sda"}]),
            "devices: OCI.Linux.Devices",
        ),
        (
            "a variable set twice",
            |r| {
                r["OCI"]["Process"]["Env"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("MODE=production"));
            },
            "env: OCI.Process.Env: MODE is set twice",
        ),
        (
            "two network namespaces",
            |r| {
                let namespaces = r["OCI"]["Linux"]["Namespaces"].as_array_mut().unwrap();
                namespaces.push(json!({"Type": "network", "Path": NETNS}));
                namespaces.push(json!({"Type": "network", "Path": NETNS}));
            },
            "namespaces: OCI.Linux.Namespaces: more than one network namespace",
        ),
    ];
    for (what, mutate, rule) in cases {
        let mut pod = Pod::up_to_workload();
        let mut request = request(&pod.data, "web");
        mutate(&mut request);
        let denials = pod.create(&request);
        assert!(
            denials.iter().any(|d| d.starts_with(rule)),
            "{what}: expected {rule:?}, got {denials:?}"
        );
    }
}
