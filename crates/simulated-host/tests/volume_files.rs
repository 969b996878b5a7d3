//! ConfigMap and Secret volumes as the host delivers them (`CopyFileRequest`s into the
//! container's shared entries, `shared_fs = none`), and each trick with them refused.
//!
//! The pod's container mounts a ConfigMap (text and binary keys), two Secrets and a ConfigMap
//! with remapped `items`. The requests are the Go runtime's for the kubelet's layout
//! (`chiaro_simulated_host::volume_copy_requests`), in the form the agent hands its policy: no
//! `data`, so the policy sees a file's path, type, size and mode, never its bytes
//! (`docs/policy.md`, "Volume files").

#![expect(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::collections::BTreeMap;

use chiaro_k8s::{ConfigSources, Workload, read_documents};
use chiaro_policy::{
    AgentPolicy, Evaluator, FileRule, GenerateOptions, GeneratedPolicy, ImageConfig, PolicyData,
    PolicyError, generate,
};
use chiaro_simulated_host::{
    SimulatedPod, create_container_request, create_sandbox_request, start_container_request,
    volume_copy_requests, volume_update_requests,
};
use serde_json::{Value, json};

const IMAGE: &str =
    "registry.example/app@sha256:4444444444444444444444444444444444444444444444444444444444444444";

const POD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: shop}
spec:
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: registry.example/app@sha256:4444444444444444444444444444444444444444444444444444444444444444
        volumeMounts:
        - {name: config, mountPath: /etc/app, readOnly: true}
        - {name: creds, mountPath: /etc/creds, readOnly: true}
        - {name: backup-creds, mountPath: /etc/backup, readOnly: true}
        - {name: remapped, mountPath: /etc/remapped, readOnly: true}
      volumes:
      - name: config
        configMap: {name: app-config}
      - name: creds
        secret: {secretName: db, defaultMode: 0400}
      - name: backup-creds
        secret: {secretName: backup}
      - name: remapped
        configMap:
          name: app-config
          items: [{key: app.conf, path: conf.d/main.conf, mode: 0600}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {app.conf: "listen 8080\n", log.level: info}
binaryData: {logo.png: iVBORw0KGgo=}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {username: app, password: hunter2}
---
apiVersion: v1
kind: Secret
metadata: {name: backup}
stringData: {token: a-much-longer-backup-token}
"#;

const APP: &str = "app";
const POD_NAME: &str = "app-5d8f7c9b4-x2x7k";
const TIMESTAMP: &str = "..2026_12_02_04_45_55.1234567890";
const LATER: &str = "..2026_12_02_05_10_00.987654321";

fn images() -> BTreeMap<String, ImageConfig> {
    BTreeMap::from([(
        IMAGE.to_owned(),
        ImageConfig {
            reference: IMAGE.to_owned(),
            entrypoint: vec!["/app".to_owned()],
            user: "1000:1000".to_owned(),
            ..ImageConfig::default()
        },
    )])
}

fn generated_with(yaml: &str, options: &GenerateOptions) -> Result<GeneratedPolicy, PolicyError> {
    let documents = read_documents("pod.yaml", yaml).unwrap();
    let mut config = ConfigSources::default();
    for document in &documents {
        config.add(document).unwrap();
    }
    let workload = Workload::from_document(&documents[0]).unwrap().unwrap();
    generate(&documents[0], &workload, &images(), &config, options)
}

fn generated(yaml: &str) -> PolicyData {
    generated_with(yaml, &GenerateOptions::default())
        .unwrap()
        .data
}

fn simulated() -> SimulatedPod {
    SimulatedPod {
        name: POD_NAME.to_owned(),
        namespace: "shop".to_owned(),
        netns: "/var/run/netns/cni-1234".to_owned(),
    }
}

/// The pod's policy as the agent runs it, with the sandbox up.
struct Pod {
    data: PolicyData,
    evaluator: Evaluator,
}

impl Pod {
    fn new(yaml: &str) -> Self {
        let data = generated(yaml);
        let mut pod = Self {
            evaluator: Evaluator::new(&AgentPolicy::new(&data).unwrap()).unwrap(),
            data,
        };
        let sandbox = create_sandbox_request(&pod.data, &simulated());
        pod.ok("CreateSandboxRequest", &sandbox);
        let pause = create_container_request(&pod.data, &simulated(), "sandbox").unwrap();
        pod.ok("CreateContainerRequest", &pause);
        pod
    }

    fn send(&mut self, kind: &str, request: &Value) -> Vec<String> {
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

    fn copy(&mut self, request: &Value) -> Vec<String> {
        self.send("CopyFileRequest", request)
    }

    /// The runtime's copies of the app's volumes, as an honest one sends them.
    fn copies(&self) -> Vec<Value> {
        volume_copy_requests(&self.data, &simulated(), APP, 0, TIMESTAMP).unwrap()
    }

    fn deliver(&mut self, copies: &[Value]) {
        for copy in copies {
            self.ok("CopyFileRequest", copy);
        }
    }

    fn create(&mut self) -> Vec<String> {
        let request = create_container_request(&self.data, &simulated(), APP).unwrap();
        self.send("CreateContainerRequest", &request)
    }

    /// The app delivered, created and started.
    fn running(yaml: &str) -> Self {
        let mut pod = Self::new(yaml);
        let copies = pod.copies();
        pod.deliver(&copies);
        assert_eq!(pod.create(), Vec::<String>::new());
        let start = start_container_request(&simulated(), APP, 0);
        pod.ok("StartContainerRequest", &start);
        pod
    }
}

fn assert_denied(denials: &[String], rule: &str) {
    assert!(
        denials.iter().any(|d| d.starts_with(rule)),
        "expected a {rule:?} denial, got {denials:?}"
    );
}

/// The copy of `path` below the shared entry `entry` (`-app`, `-creds`, …).
fn position(copies: &[Value], entry: &str, path: &str) -> usize {
    let suffix = format!("{entry}{path}");
    copies
        .iter()
        .position(|copy| copy["path"].as_str().unwrap().ends_with(&suffix))
        .unwrap_or_else(|| panic!("no copy of {suffix}"))
}

#[test]
fn the_policy_pins_each_files_size_mode_and_layout() {
    let data = generated(POD);
    assert!(
        data.copy_volumes.volumes["config"]
            .files
            .values()
            .all(|file| file.sha256.as_ref().is_some_and(|hex| hex.len() == 64)),
        "each ConfigMap file's digest, for the start gate"
    );
    assert!(data.copy_volumes.volumes["config"].content_pinned);
    // The policy's data carries sizes and modes (no digest: the agent shows it no content).
    let mut volumes = data.copy_volumes.volumes.clone();
    for volume in volumes.values_mut() {
        for file in volume.files.values_mut() {
            file.sha256 = None;
        }
    }
    let rule = |size: u64, mode: u32| FileRule {
        size: Some(size),
        modes: vec![mode],
        sha256: None,
    };
    assert_eq!(
        volumes["config"].files,
        BTreeMap::from([
            ("app.conf".to_owned(), rule(12, 0o644)),
            ("log.level".to_owned(), rule(4, 0o644)),
            ("logo.png".to_owned(), rule(8, 0o644)),
        ])
    );
    assert_eq!(volumes["creds"].files["password"], rule(7, 0o400));
    assert_eq!(
        volumes["remapped"].files,
        BTreeMap::from([("conf.d/main.conf".to_owned(), rule(12, 0o600))])
    );
    assert_eq!(volumes["remapped"].dirs, ["conf.d"]);
    assert_eq!(volumes["remapped"].top, ["conf.d"]);
    assert_eq!(
        data.copy_volumes.entries["backup"],
        ["backup-creds".to_owned()]
    );
}

#[test]
fn the_honest_sequence_is_allowed() {
    let pod = Pod::running(POD);
    let copies = pod.copies();
    // The layout as the runtime walks it: the entry, the data directory and its files, `..data`,
    // then the user-visible names.
    let app: Vec<&str> = copies
        .iter()
        .filter_map(|copy| copy["path"].as_str().unwrap().split("-app").nth(1))
        .collect();
    assert_eq!(
        app,
        [
            "",
            "/..2026_12_02_04_45_55.1234567890",
            "/..2026_12_02_04_45_55.1234567890/app.conf",
            "/..2026_12_02_04_45_55.1234567890/log.level",
            "/..2026_12_02_04_45_55.1234567890/logo.png",
            "/..data",
            "/app.conf",
            "/log.level",
            "/logo.png",
        ]
    );
}

/// A value of another size. One of the same size is beyond the agent's policy, which is shown no
/// content (`docs/policy.md`, "Known limits").
#[test]
fn a_changed_configmap_value_is_refused() {
    let mut pod = Pod::new(POD);
    let mut copies = pod.copies();
    let file = position(&copies, "-app", &format!("/{TIMESTAMP}/app.conf"));
    copies[file]["file_size"] = json!(13);
    assert_denied(&pod.copy(&copies[file]), "volumes: file_size");
    // Without it the data directory is incomplete: `..data` and the container are refused.
    let data = position(&copies, "-app", "/..data");
    for (index, copy) in copies.iter().enumerate() {
        if index != file && index != data {
            pod.ok("CopyFileRequest", copy);
        }
    }
    assert_denied(&pod.copy(&copies[data]), "volumes: symlink_target");
    assert_denied(&pod.create(), "volumes: OCI.Mounts[/etc/app]");
}

#[test]
fn a_changed_mode_is_refused() {
    let mut pod = Pod::new(POD);
    let mut copies = pod.copies();
    let file = position(&copies, "-creds", &format!("/{TIMESTAMP}/password"));
    copies[file]["file_mode"] = json!(0o100_644);
    assert_denied(&pod.copy(&copies[file]), "volumes: file_mode");
}

#[test]
fn an_extra_key_is_refused() {
    let mut pod = Pod::new(POD);
    let copies = pod.copies();
    let file = position(&copies, "-app", &format!("/{TIMESTAMP}/app.conf"));
    let mut extra = copies[file].clone();
    extra["path"] = json!(
        copies[file]["path"]
            .as_str()
            .unwrap()
            .replace("app.conf", "extra.conf")
    );
    assert_denied(&pod.copy(&extra), "volumes: path");
    let name = position(&copies, "-app", "/app.conf");
    let mut visible = copies[name].clone();
    visible["path"] = json!(
        copies[name]["path"]
            .as_str()
            .unwrap()
            .replace("app.conf", "extra.conf")
    );
    visible["symlink_target"] = json!("..data/extra.conf");
    assert_denied(&pod.copy(&visible), "volumes: path");
    // Nor a file below a user-visible name, or a symlink in the data directory.
    let mut below = copies[file].clone();
    below["path"] = json!(format!("{}/x", copies[name]["path"].as_str().unwrap()));
    assert_denied(&pod.copy(&below), "volumes: path");
    pod.deliver(&copies);
    assert_eq!(pod.create(), Vec::<String>::new());
}

#[test]
fn a_removed_key_is_refused_when_the_container_is_created() {
    // The file left out: `..data` cannot point to the incomplete directory.
    let mut pod = Pod::new(POD);
    let copies = pod.copies();
    let file = position(&copies, "-app", &format!("/{TIMESTAMP}/log.level"));
    let data = position(&copies, "-app", "/..data");
    for (index, copy) in copies.iter().enumerate() {
        if index != file && index != data {
            pod.ok("CopyFileRequest", copy);
        }
    }
    assert_denied(&pod.copy(&copies[data]), "volumes: symlink_target");
    let denials = pod.create();
    assert_denied(
        &denials,
        "volumes: OCI.Mounts[/etc/app]: volume \"config\" was not delivered",
    );

    // Only its user-visible name left out.
    let mut pod = Pod::new(POD);
    let name = position(&copies, "-app", "/log.level");
    for (index, copy) in copies.iter().enumerate() {
        if index != name {
            pod.ok("CopyFileRequest", copy);
        }
    }
    assert_denied(
        &pod.create(),
        "volumes: OCI.Mounts[/etc/app]: \"log.level\" of volume \"config\" was not delivered",
    );
}

#[test]
fn a_secret_volume_swapped_with_another_is_refused() {
    // The backup Secret's files delivered under the entry the creds mount shows.
    let mut pod = Pod::new(POD);
    let copies = pod.copies();
    let creds = copies[position(&copies, "-creds", "")]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let backup = copies[position(&copies, "-backup", "")]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let swapped: Vec<Value> = copies
        .iter()
        .filter(|copy| copy["path"].as_str().unwrap().starts_with(&backup))
        .map(|copy| {
            let mut copy = copy.clone();
            copy["path"] = json!(copy["path"].as_str().unwrap().replace(&backup, &creds));
            copy
        })
        .collect();
    let denials: Vec<String> = swapped.iter().flat_map(|copy| pod.copy(copy)).collect();
    assert_denied(&denials, "volumes: path");
    assert_denied(&pod.create(), "volumes: OCI.Mounts[/etc/creds]");
}

/// Two pinned volumes mounted under one last component (`/a/creds`, `/b/creds`): the runtime
/// names each copy only after it, so after the container's creation a file of one could be added
/// to the other's mount. Refused at generate (review: finding 1).
#[test]
fn attack_two_pinned_volumes_under_one_entry_name_are_refused_at_generate() {
    let yaml = POD
        .replace("mountPath: /etc/creds", "mountPath: /a/creds")
        .replace("mountPath: /etc/backup", "mountPath: /b/creds");
    let error = generated_with(&yaml, &GenerateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("are mounted at paths ending in \"creds\""),
        "{error}"
    );
}

/// A projected volume mixing a Secret's file with a token: its `..data` must stay re-pointable
/// for the token, so the Secret's file could be replaced after the gate checked it. Refused at
/// generate (review: finding 2).
#[test]
fn attack_a_secret_in_a_projected_volume_with_a_token_is_refused_at_generate() {
    let yaml = POD.replace(
        "      - name: remapped\n",
        "      - name: bundle\n        projected:\n          sources:\n          - secret: {name: db, items: [{key: password, path: db/password}]}\n          - serviceAccountToken: {path: token}\n      - name: remapped\n",
    )
    .replace(
        "        - {name: remapped, mountPath: /etc/remapped, readOnly: true}\n",
        "        - {name: remapped, mountPath: /etc/remapped, readOnly: true}\n        - {name: bundle, mountPath: /etc/bundle}\n",
    );
    let error = generated_with(&yaml, &GenerateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("it mixes ConfigMap or Secret files"),
        "{error}"
    );
}

#[test]
fn a_delivered_file_is_not_written_again() {
    let mut pod = Pod::running(POD);
    let copies = pod.copies();
    let file = position(&copies, "-creds", &format!("/{TIMESTAMP}/password"));
    assert_denied(&pod.copy(&copies[file]), "volumes: path");
}

/// The kubelet re-projects an unchanged ConfigMap (or the host replays it): the new data
/// directory's files match the pinned sizes, but the policy sees no bytes and the start gates
/// checked the content at start, so `..data` of a content-pinned volume is not re-pointed.
#[test]
fn a_late_update_of_a_content_pinned_volume_is_refused_even_with_the_pinned_sizes() {
    let mut pod = Pod::running(POD);
    let update = volume_update_requests(&pod.data, &simulated(), APP, 0, LATER).unwrap();
    let data = position(&update, "-app", "/..data");
    for (index, copy) in update.iter().enumerate() {
        let repoint = copy["path"].as_str().unwrap().ends_with("/..data");
        if index != data && !repoint {
            pod.ok("CopyFileRequest", copy);
        }
    }
    assert_denied(
        &pod.copy(&update[data]),
        "volumes: path: ..data of shared entry",
    );
}

/// The kubelet re-projects a changed ConfigMap into a new data directory: its files are not the
/// pinned ones, and `..data` cannot be pointed at it. A change needs a new policy.
#[test]
fn a_late_update_with_other_content_is_refused() {
    let mut pod = Pod::running(POD);
    let mut update = volume_update_requests(&pod.data, &simulated(), APP, 0, LATER).unwrap();
    let file = position(&update, "-app", &format!("/{LATER}/app.conf"));
    update[file]["file_size"] = json!(20);
    assert_denied(&pod.copy(&update[file]), "volumes: file_size");
    let data = position(&update, "-app", "/..data");
    for (index, copy) in update.iter().enumerate() {
        let repoint = copy["path"].as_str().unwrap().ends_with("/..data");
        if index != file && !repoint {
            pod.ok("CopyFileRequest", copy);
        }
    }
    assert_denied(&pod.copy(&update[data]), "volumes: symlink_target");
    // A new key in the update: its file and its name are refused.
    let mut key = update[file].clone();
    key["path"] = json!(
        update[file]["path"]
            .as_str()
            .unwrap()
            .replace("app.conf", "new.key")
    );
    assert_denied(&pod.copy(&key), "volumes: path");
}

#[test]
fn a_configmap_not_in_the_input_is_an_error_naming_the_volume_unless_left_unpinned() {
    let without = POD.replace("metadata: {name: app-config}", "metadata: {name: other}");
    let error = generated_with(&without, &GenerateOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "pod.yaml:2:1:spec.template.spec.volumes[0]: volume \"config\": ConfigMap \"app-config\" is \
         not among the inputs; pass its YAML too, or --unpinned-volume config to leave the \
         volume's files unpinned"
    );
    let options = GenerateOptions {
        unpinned_volumes: ["config".to_owned(), "remapped".to_owned()].into(),
        ..GenerateOptions::default()
    };
    let data = generated_with(&without, &options).unwrap().data;
    assert!(!data.copy_volumes.volumes.contains_key("config"));
    assert!(!data.copy_volumes.entries.contains_key("app"));
    assert!(data.copy_volumes.volumes.contains_key("creds"));
}

#[test]
fn an_optional_configmap_not_in_the_input_is_pinned_as_absent() {
    let optional = POD
        .replace("metadata: {name: app-config}", "metadata: {name: other}")
        .replace(
            "configMap: {name: app-config}",
            "configMap: {name: app-config, optional: true}",
        )
        .replace(
            "          name: app-config\n",
            "          name: app-config\n          optional: true\n",
        );
    let data = generated(&optional);
    assert!(data.copy_volumes.volumes["config"].files.is_empty());
    assert!(data.copy_volumes.volumes["remapped"].files.is_empty());
    let mut pod = Pod::new(&optional);
    let copies = pod.copies();
    pod.deliver(&copies);
    assert_eq!(pod.create(), Vec::<String>::new());
    // The host cannot fill the absent object in.
    let mut pod = Pod::new(
        POD.replace("app-config}\n", "app-config, optional: true}\n")
            .as_str(),
    );
    let honest = pod.copies();
    let file = position(&honest, "-app", &format!("/{TIMESTAMP}/app.conf"));
    let mut empty = Pod::new(&optional);
    assert_denied(&empty.copy(&honest[file]), "volumes: path");
    pod.deliver(&honest);
}

#[test]
fn secret_file_sizes_are_reported_and_left_open_without_pinned_secret_values() {
    let generated = generated_with(POD, &GenerateOptions::default()).unwrap();
    let mut pinned: Vec<String> = generated
        .pinned_secret_files
        .iter()
        .map(|f| format!("{}/{} {}/{}", f.volume, f.path, f.secret, f.key))
        .collect();
    pinned.sort();
    assert_eq!(
        pinned,
        [
            "backup-creds/token backup/token",
            "creds/password db/password",
            "creds/username db/username"
        ]
    );
    let options = GenerateOptions {
        pin_secret_values: false,
        ..GenerateOptions::default()
    };
    let open = generated_with(POD, &options).unwrap();
    assert!(open.pinned_secret_files.is_empty());
    let creds = &open.data.copy_volumes.volumes["creds"];
    assert_eq!(creds.files["password"].size, None);
    assert_eq!(creds.top, ["password", "username"]);
    // Present, any content: another size is allowed, another key is not.
    let mut pod = Pod {
        evaluator: Evaluator::new(&AgentPolicy::new(&open.data).unwrap()).unwrap(),
        data: open.data,
    };
    pod.ok(
        "CreateSandboxRequest",
        &create_sandbox_request(&pod.data, &simulated()),
    );
    let mut copies = pod.copies();
    let file = position(&copies, "-creds", &format!("/{TIMESTAMP}/password"));
    copies[file]["file_size"] = json!(1000);
    let mut extra = copies[file].clone();
    extra["path"] = json!(
        copies[file]["path"]
            .as_str()
            .unwrap()
            .replace("password", "other")
    );
    assert_denied(&pod.copy(&extra), "volumes: path");
    pod.deliver(&copies);
}

#[test]
fn downward_api_and_projected_files_pin_what_the_pod_spec_fixes() {
    let yaml = POD.replace(
        "      - name: remapped\n",
        "      - name: info\n        downwardAPI:\n          items:\n          - {path: uid, fieldRef: {fieldPath: metadata.uid}}\n          - {path: app, fieldRef: {fieldPath: \"metadata.labels['app']\"}}\n          - {path: labels, fieldRef: {fieldPath: metadata.labels}}\n      - name: bundle\n        projected:\n          sources:\n          - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}\n          - serviceAccountToken: {path: token}\n      - name: remapped\n",
    )
    .replace(
        "        - {name: remapped, mountPath: /etc/remapped, readOnly: true}\n",
        "        - {name: remapped, mountPath: /etc/remapped, readOnly: true}\n        - {name: info, mountPath: /etc/info}\n        - {name: bundle, mountPath: /etc/bundle}\n",
    );
    let data = generated(&yaml);
    let info = &data.copy_volumes.volumes["info"].files;
    assert_eq!(info["uid"].size, Some(36));
    assert_eq!(info["app"].size, Some(3));
    assert_eq!(info["labels"].size, None);
    let bundle = &data.copy_volumes.volumes["bundle"];
    assert_eq!(bundle.files["token"].size, None);
    assert!(
        !bundle.content_pinned,
        "a token: its ..data stays re-pointable for rotation"
    );
    assert!(bundle.files["token"].modes.contains(&0o600));
    let mut pod = Pod::new(&yaml);
    let copies = pod.copies();
    pod.deliver(&copies);
    assert_eq!(pod.create(), Vec::<String>::new());
}

#[test]
fn a_pinned_volume_under_a_name_the_runtime_uses_is_refused_at_generate_time() {
    let yaml = POD.replace("mountPath: /etc/app,", "mountPath: /etc/app/hosts,");
    let error = generated_with(&yaml, &GenerateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("volumeMounts /etc/app/hosts"), "{error}");
}

#[test]
fn an_fs_group_pod_gets_group_readable_files_from_its_group() {
    let yaml = POD.replace(
        "    spec:\n      containers:\n",
        "    spec:\n      securityContext: {fsGroup: 2000}\n      containers:\n",
    );
    let data = generated(&yaml);
    assert_eq!(
        data.copy_volumes.volumes["creds"].files["password"].modes,
        [0o400, 0o440]
    );
    let mut pod = Pod::new(&yaml);
    let copies = pod.copies();
    assert_eq!(
        copies[position(&copies, "-creds", &format!("/{TIMESTAMP}/password"))]["gid"],
        2000
    );
    pod.deliver(&copies);
    assert_eq!(pod.create(), Vec::<String>::new());
}

#[test]
fn item_paths_that_leave_the_volume_or_collide_are_refused_at_generate_time() {
    for (items, hint) in [
        (
            "[{key: app.conf, path: ../app.conf}]",
            "without empty or .. components",
        ),
        (
            "[{key: app.conf, path: ..app.conf}]",
            "does not start with ..",
        ),
        (
            "[{key: app.conf, path: a}, {key: log.level, path: a}]",
            "two files",
        ),
        (
            "[{key: app.conf, path: a}, {key: log.level, path: a/b}]",
            "both a file and a directory",
        ),
        ("[{key: nope, path: a}]", "not among the inputs"),
    ] {
        let yaml = POD.replace(
            "items: [{key: app.conf, path: conf.d/main.conf, mode: 0600}]",
            &format!("items: {items}"),
        );
        let error = generated_with(&yaml, &GenerateOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(hint), "{items}: {error}");
    }
}

#[test]
fn a_volume_no_container_mounts_needs_no_configmap() {
    let yaml = POD
        .replace("metadata: {name: app-config}", "metadata: {name: other}")
        .replace(
            "        - {name: config, mountPath: /etc/app, readOnly: true}\n",
            "",
        )
        .replace(
            "        - {name: remapped, mountPath: /etc/remapped, readOnly: true}\n",
            "",
        );
    let data = generated(&yaml);
    assert!(!data.copy_volumes.volumes.contains_key("config"));
}
