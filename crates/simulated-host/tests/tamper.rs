//! What an untrusted host can change in the requests that start a pod, and that each change is
//! refused.
//!
//! The pod has Chiaro's shape: the initializer and the mesh sidecar (a native sidecar) as init
//! containers, then the workload with a Secret volume, a memory and a disk emptyDir and a pod
//! sysctl. The requests are built the way the kubelet, containerd and the Kata shim build them
//! for that pod (`CreateSandbox`, then per container `CreateContainer` and `StartContainer`), so
//! the untouched ones are allowed; each test then plays one trick. The tests named `attack_…`
//! are the host's tricks of issue 12; each fails when the check it names is taken out of the
//! rules.

#![expect(clippy::unwrap_used, reason = "test")]

use std::collections::{BTreeMap, BTreeSet};

use chiaro_k8s::{ConfigSources, Workload, read_documents};
use chiaro_policy::{AgentPolicy, Evaluator, GenerateOptions, ImageConfig, PolicyData, generate};
use chiaro_simulated_host::{
    SimulatedPod, bundle_id, create_instance_request, create_sandbox_request, instance_id,
    start_container_request, volume_copy_requests,
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
      securityContext:
        sysctls: [{name: net.ipv4.ip_local_port_range, value: "1024 65000"}]
      initContainers:
      - name: chiaro-initializer
        image: registry.example/chiaro/initializer@sha256:1111111111111111111111111111111111111111111111111111111111111111
        volumeMounts: [{name: chiaro-credentials, mountPath: /chiaro}]
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
      - name: chiaro-mesh
        image: registry.example/chiaro/mesh@sha256:2222222222222222222222222222222222222222222222222222222222222222
        restartPolicy: Always
        volumeMounts: [{name: chiaro-credentials, mountPath: /chiaro, readOnly: true}]
        securityContext:
          capabilities: {drop: [ALL], add: [NET_ADMIN]}
      containers:
      - name: web
        image: registry.example/web:1.0@sha256:3333333333333333333333333333333333333333333333333333333333333333
        env:
        - {name: MODE, value: production}
        - {name: REDIS_PORT, value: "6379"}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        volumeMounts:
        - {name: chiaro-credentials, mountPath: /chiaro, readOnly: true}
        - {name: tls, mountPath: /etc/tls, readOnly: true}
        - {name: cache, mountPath: /cache}
        - {name: data, mountPath: /data}
        - {name: data, mountPath: /data2}
        - {name: scratch, mountPath: /scratch}
        livenessProbe: {exec: {command: [/bin/check, --quick]}}
        resources: {requests: {memory: 64Mi}}
      volumes:
      - name: chiaro-credentials
        emptyDir: {medium: Memory}
      - name: tls
        secret: {secretName: web-tls}
      - name: cache
        emptyDir: {medium: Memory}
      - name: data
        emptyDir: {}
      - name: scratch
        emptyDir: {}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls}
stringData: {tls.crt: certificate, tls.key: key}
"#;

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const INITIALIZER: &str = "chiaro-initializer";
const MESH: &str = "chiaro-mesh";
const WEB: &str = "web";
const SIGKILL: u32 = 9;
const SIGTERM: u32 = 15;
const SIGSTOP: u32 = 19;

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
    generated(POD).unwrap()
}

fn generated(yaml: &str) -> Result<PolicyData, chiaro_policy::PolicyError> {
    let documents = read_documents("pod.yaml", yaml).unwrap();
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
    .map(|generated| generated.data)
}

const POD_NAME: &str = "web-5d8f7c9b4-x2x7k";
/// Another pod of the same Deployment.
const OTHER_POD: &str = "web-5d8f7c9b4-aaaaa";
const NETNS: &str = "/var/run/netns/cni-1234";
/// The kubelet's data directory of the pod's volumes.
const TIMESTAMP: &str = "..2026_12_02_04_45_55.1234567890";

fn simulated() -> SimulatedPod {
    SimulatedPod {
        name: POD_NAME.to_owned(),
        namespace: "shop".to_owned(),
        netns: NETNS.to_owned(),
    }
}

fn bundle(name: &str) -> String {
    bundle_id(&simulated(), name)
}

/// The pod's policy, loaded as the agent loads it, and the instance the host is at for each
/// container (a restart is the next instance).
struct Pod {
    data: PolicyData,
    evaluator: Evaluator,
    instances: BTreeMap<String, u32>,
    /// The container instances whose volumes the runtime copied in (before creating them).
    delivered: BTreeSet<(String, u32)>,
}

impl Pod {
    /// Before CreateSandbox.
    fn new() -> Self {
        let data = policy_data();
        let evaluator = Evaluator::new(&AgentPolicy::new(&data).unwrap()).unwrap();
        Self {
            data,
            evaluator,
            instances: BTreeMap::new(),
            delivered: BTreeSet::new(),
        }
    }

    /// The denials of a `kind` request; empty when allowed. Before a container's creation the
    /// runtime copies its ConfigMap and Secret volumes in, as an honest one does.
    fn send(&mut self, kind: &str, request: &Value) -> Vec<String> {
        if kind == "CreateContainerRequest" {
            let name = request["OCI"]["Annotations"]["io.kubernetes.cri.container-name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let instance = self.instance(&name);
            if self.data.containers.contains_key(&name)
                && self.delivered.insert((name.clone(), instance))
            {
                let copies =
                    volume_copy_requests(&self.data, &simulated(), &name, instance, TIMESTAMP)
                        .unwrap();
                for copy in copies {
                    let decision = self.evaluator.evaluate("CopyFileRequest", &copy).unwrap();
                    assert!(decision.allowed, "{copy}: {:?}", decision.denials);
                }
            }
        }
        let decision = self.evaluator.evaluate(kind, request).unwrap();
        if decision.allowed {
            Vec::new()
        } else {
            assert!(!decision.denials.is_empty(), "a denial names its rule");
            decision.denials
        }
    }

    fn ok(&mut self, kind: &str, request: &Value) {
        let denials = self.send(kind, request);
        assert!(denials.is_empty(), "{kind} {request}: {denials:?}");
    }

    fn instance(&self, name: &str) -> u32 {
        self.instances.get(name).copied().unwrap_or(0)
    }

    /// The id of `name`'s current instance.
    fn id(&self, name: &str) -> String {
        instance_id(&simulated(), name, self.instance(name))
    }

    /// The CreateContainerRequest of `name`'s current instance, as the host sends it.
    fn request(&self, name: &str) -> Value {
        create_instance_request(&self.data, &simulated(), name, self.instance(name)).unwrap()
    }

    fn create(&mut self, request: &Value) -> Vec<String> {
        self.send("CreateContainerRequest", request)
    }

    fn create_ok(&mut self, name: &str) {
        let request = self.request(name);
        self.ok("CreateContainerRequest", &request);
    }

    fn start(&mut self, name: &str) -> Vec<String> {
        let request = start_container_request(&simulated(), name, self.instance(name));
        self.send("StartContainerRequest", &request)
    }

    fn start_ok(&mut self, name: &str) {
        let denials = self.start(name);
        assert!(denials.is_empty(), "start {name}: {denials:?}");
    }

    /// Created and started.
    fn run(&mut self, name: &str) {
        self.create_ok(name);
        self.start_ok(name);
    }

    /// The instance ended: containerd deletes its task, the runtime removes the container.
    fn end(&mut self, name: &str) {
        let request = json!({"container_id": self.id(name), "timeout": 0});
        self.ok("RemoveContainerRequest", &request);
    }

    /// The kubelet creates the container again: the next instance.
    fn restart(&mut self, name: &str) {
        *self.instances.entry(name.to_owned()).or_default() += 1;
    }

    fn signal(&mut self, name: &str, signal: u32, exec_id: &str) -> Vec<String> {
        let request = json!({"container_id": self.id(name), "exec_id": exec_id, "signal": signal});
        self.send("SignalProcessRequest", &request)
    }

    fn create_sandbox(&mut self) {
        let request = create_sandbox_request(&self.data, &simulated());
        self.ok("CreateSandboxRequest", &request);
    }

    /// The sandbox up, the initializer run and ended, the mesh proxy running; the workload
    /// is next.
    fn up_to_workload() -> Self {
        let mut pod = Self::new();
        pod.create_sandbox();
        pod.run("sandbox");
        pod.run(INITIALIZER);
        pod.end(INITIALIZER);
        pod.run(MESH);
        pod
    }

    /// The workload's request with `mutate` applied, and its denials.
    fn tampered_web(mutate: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut pod = Self::up_to_workload();
        let mut request = pod.request(WEB);
        mutate(&mut request);
        pod.create(&request)
    }
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

/// The storage backing the mount at `destination`.
fn storage_of<'a>(request: &'a mut Value, destination: &str) -> &'a mut Value {
    let source = mount_mut(request, destination)["source"].clone();
    request["storages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["mount_point"] == source)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// CreateContainerRequest: the fields of the pod spec and of the runtime.

#[test]
fn the_untouched_pod_starts_and_probes_run() {
    let mut pod = Pod::up_to_workload();
    pod.run(WEB);
    let exec = json!({
        "container_id": bundle(WEB),
        "exec_id": "e1",
        "process": {"Args": ["/bin/check", "--quick"], "Cwd": "/", "Env": [PATH], "Terminal": false,
                    "User": {"UID": 1000, "GID": 1000, "AdditionalGids": [1000]}, "NoNewPrivileges": false},
    });
    pod.ok("ExecProcessRequest", &exec);
    let mut shell = exec.clone();
    shell["process"]["Args"] = json!(["/bin/sh"]);
    assert_denied(
        &pod.send("ExecProcessRequest", &shell),
        "exec: process.Args",
    );
}
#[test]
fn a_changed_image_is_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = pod.request(WEB);
    request["storages"][0]["source"] = json!(
        "registry.example/web@sha256:4444444444444444444444444444444444444444444444444444444444444444"
    );
    assert_denied(&pod.create(&request), "storages:");
}

#[test]
fn changed_args_are_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = pod.request(WEB);
    request["OCI"]["Process"]["Args"] = json!(["/web", "--debug"]);
    assert_denied(&pod.create(&request), "process: OCI.Process.Args");
}

#[test]
fn changed_added_and_removed_env_are_refused() {
    let base = Pod::new().request(WEB);
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
    let mut request = pod.request(WEB);
    request["OCI"]["Mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/host", "type_": "bind", "source": "/run/kata-containers/shared/containers/x", "options": ["rbind", "rw"],
    }));
    assert_denied(&pod.create(&request), "mounts: OCI.Mounts[/host]");
}

#[test]
fn a_writable_credentials_mount_is_refused() {
    let mut pod = Pod::up_to_workload();
    let mut request = pod.request(WEB);
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
    let base = pod.request(WEB);
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
    let base = pod.request(WEB);
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
    let mut request = pod.request(WEB);
    request["OCI"]["Annotations"]["io.kubernetes.cri.container-name"] = json!("debug");
    assert_denied(
        &pod.create(&request),
        "container: OCI.Annotations[io.kubernetes.cri.container-name]",
    );
}

#[test]
fn the_workload_before_the_initializer_is_refused() {
    let mut pod = Pod::new();
    pod.create_sandbox();
    pod.run("sandbox");
    let request = pod.request(WEB);
    let denials = pod.create(&request);
    assert_denied(
        &denials,
        "order: container \"web\": must not start before \"chiaro-initializer\"",
    );
}

#[test]
fn a_skipped_sidecar_is_refused() {
    let mut pod = Pod::new();
    pod.create_sandbox();
    pod.run("sandbox");
    pod.run(INITIALIZER);
    let request = pod.request(WEB);
    assert_denied(
        &pod.create(&request),
        "order: container \"web\": must not start before \"chiaro-mesh\"",
    );
}

#[test]
fn another_pod_name_or_namespace_is_refused() {
    let mut pod = Pod::up_to_workload();
    let base = pod.request(WEB);
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
    let mut request = pod.request(WEB);
    let mesh = bundle(MESH);
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
        let mut request = pod.request(WEB);
        mutate(&mut request);
        let denials = pod.create(&request);
        assert!(
            denials.iter().any(|d| d.starts_with(rule)),
            "{what}: expected {rule:?}, got {denials:?}"
        );
    }
}

#[test]
fn attack_shared_mounts_from_another_container_are_refused() {
    let denials = Pod::tampered_web(|r| {
        r["shared_mounts"] = json!([{
            "name": "bin", "src_ctr": MESH, "src_path": "/var/run/secrets/kubernetes.io/serviceaccount",
            "dst_ctr": WEB, "dst_path": "/usr/local/bin",
        }]);
    });
    assert_denied(&denials, "mounts: shared_mounts");
}

#[test]
fn attack_foreign_seccomp_profile_is_refused() {
    // A filter that makes setuid and chmod report success without acting.
    let denials = Pod::tampered_web(|r| {
        r["OCI"]["Linux"]["Seccomp"] = json!({
            "DefaultAction": "SCMP_ACT_ALLOW",
            "Syscalls": [{"Names": ["setuid", "chmod"], "Action": "SCMP_ACT_ERRNO", "ErrnoRet": 0}],
        });
    });
    assert_denied(&denials, "linux: OCI.Linux.Seccomp");
}

#[test]
fn attack_device_cgroup_allowing_every_device_is_refused() {
    // The workload has CAP_MKNOD (containerd's default set).
    let denials = Pod::tampered_web(|r| {
        r["OCI"]["Linux"]["Resources"]["Devices"] =
            json!([{"Allow": true, "Type": "a", "Major": -1, "Minor": -1, "Access": "rwm"}]);
    });
    assert_denied(&denials, "devices: OCI.Linux.Resources.Devices");
}

#[test]
fn attack_resource_limits_are_refused() {
    let denials = Pod::tampered_web(|r| {
        r["OCI"]["Process"]["Rlimits"] = json!([{"Type": "RLIMIT_NOFILE", "Hard": 3, "Soft": 3}]);
    });
    assert_denied(&denials, "process: OCI.Process.Rlimits");
}

#[test]
fn attack_oom_score_adjustment_outside_the_pods_qos_class_is_refused() {
    // The workload requests memory: a Burstable pod (2..999), or Guaranteed (-997) when a
    // LimitRange fills in limits.
    for value in [-1000, -999, -998, -996, 0, 1, 1000] {
        let denials = Pod::tampered_web(|r| r["OCI"]["Process"]["OOMScoreAdj"] = json!(value));
        assert_denied(&denials, "process: OCI.Process.OOMScoreAdj");
    }
    let denials = Pod::tampered_web(|r| {
        r["OCI"]["Process"]
            .as_object_mut()
            .unwrap()
            .remove("OOMScoreAdj");
    });
    assert_denied(&denials, "process: OCI.Process.OOMScoreAdj: 0");
    for value in [-997, 2, 500, 999] {
        let denials = Pod::tampered_web(|r| r["OCI"]["Process"]["OOMScoreAdj"] = json!(value));
        assert!(denials.is_empty(), "{value}: {denials:?}");
    }
}

#[test]
fn attack_left_out_pod_spec_mounts_are_refused() {
    for destination in ["/chiaro", "/etc/tls", "/cache", "/data"] {
        let denials = Pod::tampered_web(|r| {
            let mounts = r["OCI"]["Mounts"].as_array_mut().unwrap();
            mounts.retain(|m| m["destination"] != destination);
        });
        assert_denied(
            &denials,
            &format!("mounts: OCI.Mounts[{destination}]: missing"),
        );
    }
}

#[test]
fn attack_credentials_volume_at_another_emptydirs_path_is_refused() {
    // The credentials volume, writable, where the workload expects its cache.
    let denials = Pod::tampered_web(|r| {
        let credentials = mount_mut(r, "/chiaro")["source"].clone();
        mount_mut(r, "/cache")["source"] = credentials;
    });
    assert_denied(&denials, "mounts: OCI.Mounts[/cache]");
}

#[test]
fn attack_memory_emptydir_at_a_dot_dot_mount_point_is_refused() {
    // `…/ephemeral/..` is the sandbox directory, not a volume.
    let denials = Pod::tampered_web(|r| {
        let point = "/run/kata-containers/sandbox/ephemeral/..";
        storage_of(r, "/chiaro")["mount_point"] = json!(point);
        mount_mut(r, "/chiaro")["source"] = json!(point);
    });
    assert_denied(&denials, "mounts: OCI.Mounts[/chiaro]");
    assert_denied(
        &denials,
        "storages: storages[/run/kata-containers/sandbox/ephemeral/..]",
    );
}

#[test]
fn attack_secret_volume_from_another_shared_entry_is_refused() {
    let denials = Pod::tampered_web(|r| {
        let hosts = mount_mut(r, "/etc/hosts")["source"].clone();
        mount_mut(r, "/etc/tls")["source"] = hosts;
    });
    assert_denied(&denials, "mounts: OCI.Mounts[/etc/tls]");
}

#[test]
fn attack_one_block_volume_shown_at_another_volumes_mount_is_refused() {
    // In one request: /scratch from the storage of /data.
    let denials = Pod::tampered_web(|r| {
        let data = mount_mut(r, "/data")["source"].clone();
        mount_mut(r, "/scratch")["source"] = data;
    });
    assert_denied(&denials, "mounts: OCI.Mounts: storage");
    // Across instances: the restarted workload with the two volumes' storages swapped.
    let mut pod = Pod::up_to_workload();
    pod.run(WEB);
    pod.end(WEB);
    pod.restart(WEB);
    let mut request = pod.request(WEB);
    let data = mount_mut(&mut request, "/data")["source"].clone();
    let scratch = mount_mut(&mut request, "/scratch")["source"].clone();
    mount_mut(&mut request, "/data")["source"] = scratch.clone();
    mount_mut(&mut request, "/data2")["source"] = scratch;
    mount_mut(&mut request, "/scratch")["source"] = data;
    assert_denied(
        &pod.create(&request),
        "mounts: OCI.Mounts: storage \"/run/kata-containers/sandbox/storage/",
    );
    assert!(
        pod.create(&request)
            .iter()
            .any(|d| d.contains("in this sandbox, not")),
        "the binding refuses it"
    );
    pod.create_ok(WEB);
    // One volume from two storages: /data2 on a device of its own.
    let denials = Pod::tampered_web(|r| {
        let device = "ff/0";
        let point = format!("/run/kata-containers/sandbox/storage/{}", "ZmYvMA==");
        let mut storage = storage_of(r, "/data2").clone();
        storage["source"] = json!(device);
        storage["mount_point"] = json!(point);
        r["storages"].as_array_mut().unwrap().push(storage);
        mount_mut(r, "/data2")["source"] = json!(point);
    });
    assert_denied(
        &denials,
        "mounts: OCI.Mounts: volume \"data\" is mounted from two storages",
    );
}

#[test]
fn attack_missing_capabilities_where_the_pinned_sets_are_empty_are_refused() {
    // The initializer drops ALL: an agent given no capabilities object keeps every one.
    let mut pod = Pod::new();
    pod.create_sandbox();
    pod.run("sandbox");
    let mut request = pod.request(INITIALIZER);
    request["OCI"]["Process"]["Capabilities"] = Value::Null;
    assert_denied(
        &pod.create(&request),
        "capabilities: OCI.Process.Capabilities: missing",
    );
    request["OCI"]["Process"]
        .as_object_mut()
        .unwrap()
        .remove("Capabilities");
    assert_denied(
        &pod.create(&request),
        "capabilities: OCI.Process.Capabilities: missing",
    );
    pod.create_ok(INITIALIZER);
}

#[test]
fn attack_container_id_of_another_container_is_refused() {
    let mut pod = Pod::up_to_workload();
    // The live mesh proxy's id (its rootfs is at /run/kata-containers/<id>/rootfs), and the
    // ended initializer's.
    for other in [pod.id(MESH), pod.id(INITIALIZER)] {
        let mut request = pod.request(WEB);
        request["container_id"] = json!(other);
        request["exec_id"] = json!(other);
        assert_denied(&pod.create(&request), "container: container_id");
    }
    let mut request = pod.request(WEB);
    request["container_id"] = json!("../chiaro-mesh");
    assert_denied(&pod.create(&request), "container: container_id");
    pod.create_ok(WEB);
}

#[test]
fn attack_shared_root_propagation_is_refused() {
    let denials = Pod::tampered_web(|r| r["OCI"]["Linux"]["RootfsPropagation"] = json!("rshared"));
    assert_denied(&denials, "linux: OCI.Linux.RootfsPropagation");
}

#[test]
fn attack_left_out_pod_sysctl_is_refused() {
    let mut pod = Pod::new();
    pod.create_sandbox();
    let mut request = pod.request("sandbox");
    request["OCI"]["Linux"]["Sysctl"]
        .as_object_mut()
        .unwrap()
        .remove("net.ipv4.ip_local_port_range");
    assert_denied(
        &pod.create(&request),
        "sysctl: OCI.Linux.Sysctl[net.ipv4.ip_local_port_range]: missing",
    );
    pod.create_ok("sandbox");
}

#[test]
fn attack_host_name_of_another_pod_is_refused() {
    // CreateSandbox comes before any container: a name that is no pod of this workload's.
    let mut pod = Pod::new();
    let mut sandbox = create_sandbox_request(&pod.data, &simulated());
    sandbox["hostname"] = json!("db-0");
    assert_denied(
        &pod.send("CreateSandboxRequest", &sandbox),
        "sandbox: hostname",
    );
    // Another pod of the workload passes there, and the first container ties it to its own.
    sandbox["hostname"] = json!(OTHER_POD);
    pod.ok("CreateSandboxRequest", &sandbox);
    let request = pod.request("sandbox");
    assert_denied(
        &pod.create(&request),
        "pod: OCI.Annotations[io.kubernetes.cri.sandbox-name]: the sandbox's host name",
    );
    // A second CreateSandbox cannot change it.
    let honest = create_sandbox_request(&pod.data, &simulated());
    assert_denied(
        &pod.send("CreateSandboxRequest", &honest),
        "sandbox: the sandbox was already created",
    );

    // The container's own host name, HOSTNAME and the downward-API pod name.
    let mut pod = Pod::new();
    pod.create_sandbox();
    let mut request = pod.request("sandbox");
    request["OCI"]["Hostname"] = json!(OTHER_POD);
    assert_denied(&pod.create(&request), "pod: OCI.Hostname");
    for variable in ["HOSTNAME", "POD_NAME"] {
        let denials = Pod::tampered_web(|r| {
            for entry in r["OCI"]["Process"]["Env"].as_array_mut().unwrap() {
                if entry.as_str().unwrap().starts_with(&format!("{variable}=")) {
                    *entry = json!(format!("{variable}={OTHER_POD}"));
                }
            }
        });
        assert_denied(
            &denials,
            &format!("env: OCI.Process.Env: {variable} is not allowed"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// StartContainerRequest and SignalProcessRequest.

#[test]
fn attack_workload_started_while_the_mesh_was_never_started_is_refused() {
    let mut pod = Pod::new();
    pod.create_sandbox();
    pod.run("sandbox");
    pod.run(INITIALIZER);
    pod.end(INITIALIZER);
    pod.create_ok(MESH);
    pod.create_ok(WEB);
    assert_denied(
        &pod.start(WEB),
        "order: container \"web\": must not start before \"chiaro-mesh\" was started and is running",
    );
    pod.start_ok(MESH);
    pod.start_ok(WEB);
}

#[test]
fn attack_containers_started_while_the_initializer_was_never_started_are_refused() {
    let mut pod = Pod::new();
    pod.create_sandbox();
    pod.run("sandbox");
    pod.create_ok(INITIALIZER);
    pod.end(INITIALIZER);
    pod.create_ok(MESH);
    assert_denied(
        &pod.start(MESH),
        "order: container \"chiaro-mesh\": must not start before \"chiaro-initializer\" was started",
    );
    pod.create_ok(WEB);
    assert_denied(
        &pod.start(WEB),
        "order: container \"web\": must not start before \"chiaro-initializer\" was started",
    );
}

#[test]
fn attack_workload_started_after_the_mesh_was_killed_or_removed_is_refused() {
    // Killed (a teardown signal the host may send) and left as it is.
    let mut pod = Pod::up_to_workload();
    let mesh = pod.id(MESH);
    assert_eq!(pod.signal(MESH, SIGKILL, &mesh), Vec::<String>::new());
    pod.create_ok(WEB);
    assert_denied(
        &pod.start(WEB),
        "order: container \"web\": must not start before \"chiaro-mesh\" was started",
    );
    // Removed without a signal.
    let mut pod = Pod::up_to_workload();
    pod.end(MESH);
    pod.create_ok(WEB);
    assert_denied(
        &pod.start(WEB),
        "order: container \"web\": must not start before \"chiaro-mesh\" was started",
    );
}

#[test]
fn attack_workload_restarted_while_a_restarted_init_container_was_not_started_is_refused() {
    for init in [MESH, INITIALIZER] {
        let mut pod = Pod::up_to_workload();
        pod.run(WEB);
        if init == MESH {
            pod.end(MESH);
        }
        pod.restart(init);
        pod.create_ok(init);
        pod.end(WEB);
        pod.restart(WEB);
        pod.create_ok(WEB);
        assert_denied(
            &pod.start(WEB),
            &format!("order: container \"web\": must not start before \"{init}\" was started"),
        );
        pod.start_ok(init);
        pod.start_ok(WEB);
    }
}

#[test]
fn attack_signals_other_than_teardown_to_the_initializer_and_mesh_are_refused() {
    let mut pod = Pod::new();
    pod.create_sandbox();
    pod.run("sandbox");
    pod.run(INITIALIZER);
    for signal in [SIGSTOP, 10, 2] {
        assert_denied(&pod.signal(INITIALIZER, signal, ""), "signal: signal: ");
    }
    let mut pod = Pod::up_to_workload();
    assert_denied(&pod.signal(MESH, SIGSTOP, ""), "signal: signal: 19");
    assert_denied(&pod.signal(MESH, SIGTERM, "probe-1"), "signal: exec_id");
    // The workload's availability is the host's anyway: any signal.
    pod.run(WEB);
    assert_eq!(pod.signal(WEB, SIGSTOP, ""), Vec::<String>::new());
    // Teardown, to all of the container's processes or its own.
    let mesh = pod.id(MESH);
    assert_eq!(pod.signal(MESH, SIGTERM, &mesh), Vec::<String>::new());
    assert_eq!(pod.signal(MESH, SIGKILL, ""), Vec::<String>::new());
}

#[test]
fn attack_start_or_signal_of_a_container_not_live_in_this_pod_is_refused() {
    let mut pod = Pod::up_to_workload();
    let unknown = json!({"container_id": bundle("debug")});
    assert_denied(
        &pod.send("StartContainerRequest", &unknown),
        "start: container_id",
    );
    // The ended initializer.
    assert_denied(&pod.start(INITIALIZER), "start: container_id");
    let signal = json!({"container_id": bundle("debug"), "exec_id": "", "signal": SIGKILL});
    assert_denied(
        &pod.send("SignalProcessRequest", &signal),
        "signal: container_id",
    );
}

// ---------------------------------------------------------------------------------------------
// Restarts.

#[test]
fn the_workload_and_the_mesh_are_created_again_after_their_instance_ended() {
    let mut pod = Pod::up_to_workload();
    pod.run(WEB);
    // The mesh proxy crashes; the kubelet restarts it in place.
    pod.end(MESH);
    pod.restart(MESH);
    pod.run(MESH);
    // The workload, twice.
    for _ in 0..2 {
        pod.end(WEB);
        pod.restart(WEB);
        pod.run(WEB);
    }
    let exec = json!({
        "container_id": pod.id(WEB),
        "exec_id": "e2",
        "process": {"Args": ["/bin/check", "--quick"], "Cwd": "/", "Env": [PATH], "Terminal": false,
                    "User": {"UID": 1000, "GID": 1000, "AdditionalGids": [1000]}, "NoNewPrivileges": false},
    });
    pod.ok("ExecProcessRequest", &exec);
}

#[test]
fn attack_second_live_instance_is_refused() {
    let mut pod = Pod::up_to_workload();
    pod.run(WEB);
    for name in [WEB, MESH] {
        pod.restart(name);
        let request = pod.request(name);
        assert_denied(
            &pod.create(&request),
            &format!("order: container \"{name}\": its instance"),
        );
    }
}

#[test]
fn attack_restart_with_a_changed_field_is_refused() {
    type Mutation = fn(&mut Value);
    let cases: [(Mutation, &str); 6] = [
        (
            |r| r["OCI"]["Process"]["Args"] = json!(["/web", "--debug"]),
            "process: OCI.Process.Args",
        ),
        (
            |r| {
                r["OCI"]["Process"]["Env"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("LD_PRELOAD=/tmp/evil.so"));
            },
            "env: OCI.Process.Env",
        ),
        (
            |r| {
                r["storages"][0]["source"] = json!(
                    "registry.example/evil@sha256:4444444444444444444444444444444444444444444444444444444444444444"
                );
            },
            "storages:",
        ),
        (
            |r| mount_mut(r, "/chiaro")["options"] = json!(["rbind", "rprivate", "rw"]),
            "mounts: OCI.Mounts[/chiaro]",
        ),
        (
            |r| {
                r["OCI"]["Mounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["destination"] != "/chiaro");
            },
            "mounts: OCI.Mounts[/chiaro]: missing",
        ),
        (
            |r| r["OCI"]["Linux"]["Seccomp"] = json!({"DefaultAction": "SCMP_ACT_ALLOW"}),
            "linux: OCI.Linux.Seccomp",
        ),
    ];
    let mut pod = Pod::up_to_workload();
    pod.run(WEB);
    pod.end(WEB);
    pod.restart(WEB);
    for (mutate, rule) in cases {
        let mut request = pod.request(WEB);
        mutate(&mut request);
        assert_denied(&pod.create(&request), rule);
    }
    // The first instance's request again: its id and bundle are used.
    let first = create_instance_request(&pod.data, &simulated(), WEB, 0).unwrap();
    assert_denied(
        &pod.create(&first),
        "root: OCI.Annotations[io.katacontainers.pkg.oci.bundle_path]",
    );
    pod.run(WEB);
}

// ---------------------------------------------------------------------------------------------
// Other requests.

#[test]
fn attack_loopback_interface_addresses_macs_and_routes_are_refused() {
    let mut pod = Pod::up_to_workload();
    let interface = |address: &str| {
        json!({"interface": {"IPAddresses": [{"address": "10.244.0.14", "family": 0, "mask": "24"},
            {"address": address, "family": 0, "mask": "8"}], "device": "eth0", "hwAddr": "66:74:9f:6a:96:01",
            "mtu": 1500, "name": "eth0", "pciPath": "", "raw_flags": 0, "type_": ""}})
    };
    for address in [
        "127.0.0.2",
        "::1",
        "::ffff:127.0.0.1",
        "0:0:0:0:0:ffff:7f00:1",
    ] {
        let denials = pod.send("UpdateInterfaceRequest", &interface(address));
        assert!(!denials.is_empty(), "{address}");
        assert_denied(&denials, "interface: interface.IPAddresses[].address");
    }
    pod.ok("UpdateInterfaceRequest", &interface("10.244.0.15"));
    // Loopback's MAC in any spelling the agent parses as the same bytes.
    for hw in ["00:00:00:00:00:00", "0:0:0:0:0:0", "000:0:00:0:0:0"] {
        let mut request = interface("10.244.0.15");
        request["interface"]["hwAddr"] = json!(hw);
        assert_denied(
            &pod.send("UpdateInterfaceRequest", &request),
            "interface: interface.hwAddr",
        );
    }
    let route = |dest: &str, gateway: &str| json!({"routes": {"Routes": [{"dest": dest, "device": "eth0", "family": 0, "gateway": gateway, "scope": 0, "source": ""}]}});
    for (dest, gateway, field) in [
        ("127.0.0.0/8", "10.244.0.1", "dest"),
        ("::1/128", "", "dest"),
        ("10.96.0.0/12", "127.0.0.1", "gateway"),
        ("", "::ffff:127.0.0.1", "gateway"),
    ] {
        assert_denied(
            &pod.send("UpdateRoutesRequest", &route(dest, gateway)),
            &format!("routes: routes.Routes[].{field}"),
        );
    }
    pod.ok("UpdateRoutesRequest", &route("", "10.244.0.1"));
    pod.ok("UpdateRoutesRequest", &route("10.96.0.0/12", "10.244.0.1"));
}

#[test]
fn attack_set_id_or_foreign_owned_copied_files_are_refused() {
    let mut pod = Pod::up_to_workload();
    // A shared entry of the runtime's own (the pinned volumes' entries are checked further:
    // tests/volume_files.rs).
    let path = format!(
        "/run/kata-containers/shared/containers/{}-0123456789abcdef-resolv.conf",
        bundle(WEB)
    );
    let copy = |file_type: &str, mode: u32, uid: u32, gid: u32| {
        json!({"path": path, "file_type": file_type, "file_mode": mode, "dir_mode": 0o750,
               "uid": uid, "gid": gid, "file_size": 0, "offset": 0, "data": ""})
    };
    for (request, rule) in [
        (
            copy("Regular", 0o104_755, 0, 0),
            "copyfile: file_mode: set-user-ID",
        ),
        (
            copy("Regular", 0o102_755, 0, 0),
            "copyfile: file_mode: set-group-ID",
        ),
        (
            copy("Directory", 0o44_755, 0, 0),
            "copyfile: file_mode: set-user-ID",
        ),
        (copy("Regular", 0o100_644, 4242, 0), "copyfile: uid"),
        (copy("Regular", 0o100_644, 0, 4242), "copyfile: gid"),
    ] {
        assert_denied(&pod.send("CopyFileRequest", &request), rule);
    }
    let mut parent = copy("Regular", 0o100_644, 0, 0);
    parent["dir_mode"] = json!(0o4750);
    assert_denied(&pod.send("CopyFileRequest", &parent), "copyfile: dir_mode");
    pod.ok("CopyFileRequest", &copy("Regular", 0o100_644, 0, 0));
    pod.ok("CopyFileRequest", &copy("Regular", 0o100_640, 1000, 1000));
    // The kubelet makes fsGroup directories set-group-ID.
    pod.ok("CopyFileRequest", &copy("Directory", 0o42_775, 0, 1000));
}

#[test]
fn the_pod_specs_host_name_is_pinned_and_an_fqdn_host_name_is_refused_at_generate_time() {
    let yaml = POD.replacen(
        "      securityContext:\n",
        "      hostname: cache\n      securityContext:\n",
        1,
    );
    let data = generated(&yaml).unwrap();
    assert_eq!(data.pod.hostname.as_deref(), Some("cache"));
    let mut evaluator = Evaluator::new(&AgentPolicy::new(&data).unwrap()).unwrap();
    let mut sandbox = create_sandbox_request(&data, &simulated());
    assert_eq!(sandbox["hostname"], "cache");
    sandbox["hostname"] = json!(POD_NAME);
    assert!(
        !evaluator
            .evaluate("CreateSandboxRequest", &sandbox)
            .unwrap()
            .allowed
    );
    sandbox["hostname"] = json!("cache");
    assert!(
        evaluator
            .evaluate("CreateSandboxRequest", &sandbox)
            .unwrap()
            .allowed
    );

    let fqdn = POD.replacen(
        "      securityContext:\n",
        "      setHostnameAsFQDN: true\n      securityContext:\n",
        1,
    );
    let error = generated(&fqdn).unwrap_err().to_string();
    assert!(error.contains("setHostnameAsFQDN"), "{error}");
}
