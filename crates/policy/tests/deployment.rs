//! A whole deployment through `generate_deployment`: injection, pinning, policies, SANs, the
//! Secret report, the manifest update, and idempotence.

use std::collections::BTreeMap;

use chiaro_manifest::{DeploymentAnchor, ManifestDraft, PolicyEntry, Role};
use chiaro_policy::{
    AgentPolicy, Anchor, CoordinatorEntry, DeploymentOptions, Evaluator, ExistingManifest,
    GenerateOptions, INITDATA_ANNOTATION, ImageConfig, ImagePin, Initdata, PolicyError, SanSource,
    SourceFile, VM_MEMORY_ANNOTATION, VM_VCPUS_ANNOTATION, VmSize, WorkloadReport,
    images_to_resolve,
};
use chiaro_simulated_host::{SANDBOX, SimulatedPod, create_container_request, creation_order};
use serde_json::{Value, json};

/// What `chiaro generate` makes of a deployment: the rewritten files and the manifest (JSON)
/// with the generated entries.
#[derive(Debug)]
struct Generated {
    files: Vec<SourceFile>,
    manifest: Value,
    workloads: Vec<WorkloadReport>,
    warnings: Vec<String>,
}

/// `chiaro_policy::generate_deployment` with the manifest read and written as `chiaro
/// generate` does (through `ManifestDraft`, the manifest's one writer).
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a fixture that does not parse fails the test"
)]
fn generate_deployment(
    files: &[SourceFile],
    pins: &BTreeMap<String, ImagePin>,
    manifest: Option<&Value>,
    options: &DeploymentOptions,
) -> Result<Generated, PolicyError> {
    let draft = manifest.map(|value| ManifestDraft::parse(&value.to_string()).unwrap());
    let existing = draft
        .as_ref()
        .map_or_else(ExistingManifest::default, |draft| ExistingManifest {
            anchor: match draft
                .validate()
                .and_then(|manifest| DeploymentAnchor::of_manifest(&manifest))
            {
                Ok(anchor) => Anchor::Pinned(anchor.to_json()),
                Err(reason) => Anchor::Missing(reason.to_string()),
            },
            coordinator_entries: draft
                .coordinator_entries()
                .map(|(hash, entry)| CoordinatorEntry {
                    hash: hash.to_owned(),
                    sans: entry.sans.clone(),
                })
                .collect(),
        });
    let out = chiaro_policy::generate_deployment(files, pins, &existing, options)?;
    let written = draft
        .unwrap_or_else(ManifestDraft::skeleton)
        .with_workload_policies(out.policies.iter().map(|entry| {
            (
                entry.hash,
                PolicyEntry {
                    sans: entry.sans.clone(),
                    role: Role::Workload,
                    workload_secret_id: Some(entry.workload_secret_id.clone()),
                },
            )
        }));
    Ok(Generated {
        files: out.files,
        manifest: serde_json::from_str(&written.to_json_pretty()).unwrap(),
        workloads: out.workloads,
        warnings: out.warnings,
    })
}

/// The reference values of a manifest's JSON, as the manifest reads them.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a fixture that does not parse fails the test"
)]
fn reference_values(manifest: &Value) -> chiaro_manifest::DraftReferenceValues {
    ManifestDraft::parse(&manifest.to_string())
        .unwrap()
        .reference_values()
        .clone()
}

const APP: &str = r#"# the shop's web tier
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {chiaro.dev/mesh-ingress: "web#8080#true"}
    spec:
      runtimeClassName: chiaro-cc
      containers:
      - name: web
        image: shop/web:1.0
        env:
        - {name: FLAG, value: "on"}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain, namespace: shop}
spec:
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers:
      - {name: c, image: shop/plain:1.0}
"#;

const DIGEST_WEB: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_INIT: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn options(all: bool, pin_secret_values: bool) -> DeploymentOptions {
    DeploymentOptions {
        all_workloads: all,
        runtime_class: "chiaro-cc".to_owned(),
        initializer_image: "chiaro/initializer:0.1".to_owned(),
        mesh_image: "chiaro/mesh:0.1".to_owned(),
        volume_image: "chiaro/volume:0.1".to_owned(),
        coordinator: "coordinator.chiaro:7777".to_owned(),
        namespace: chiaro_k8s::Namespace::default(),
        policy: GenerateOptions {
            pin_secret_values,
            ..GenerateOptions::default()
        },
    }
}

fn pin(image: &str, digest: &str, cmd: &[&str]) -> (String, ImagePin) {
    let pinned = if image.contains('@') {
        image.to_owned()
    } else {
        format!("{image}@{digest}")
    };
    (
        image.to_owned(),
        ImagePin {
            pinned: pinned.clone(),
            config: ImageConfig {
                reference: pinned,
                cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
                user: "1000".to_owned(),
                ..ImageConfig::default()
            },
        },
    )
}

fn pins(images: &[String]) -> BTreeMap<String, ImagePin> {
    images
        .iter()
        .map(|image| {
            if image.starts_with("chiaro/") {
                pin(image, DIGEST_INIT, &["/initializer"])
            } else {
                pin(image, DIGEST_WEB, &["/serve"])
            }
        })
        .collect()
}

fn files(text: &str) -> Vec<SourceFile> {
    vec![SourceFile {
        name: "app.yaml".to_owned(),
        text: text.to_owned(),
    }]
}

fn manifest_with_keys() -> Value {
    json!({
        "version": 1,
        "policies": {
            "aa".repeat(32): {"sans": ["coordinator"], "role": "coordinator"},
            "bb".repeat(32): {"sans": ["old"], "role": "workload"}
        },
        "reference_values": {"snp": [{"measurements": ["ab".repeat(48)]}], "tdx": [], "insecure_simulated": []},
        "workload_owner_key_digests": ["cc".repeat(32)],
        "seed_share_owner_keys": []
    })
}

#[test]
fn selected_workloads_get_initializer_pins_and_policy_and_the_rest_stays() {
    let input = files(APP);
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    assert_eq!(
        images,
        ["chiaro/initializer:0.1", "chiaro/mesh:0.1", "shop/web:1.0"],
        "plain is not selected; web asks for the mesh"
    );
    let manifest = manifest_with_keys();
    let out = generate_deployment(
        &input,
        &pins(&images),
        Some(&manifest),
        &options(false, true),
    )
    .unwrap();
    let text = &out.files[0].text;
    assert!(text.starts_with("# the shop's web tier\napiVersion: v1\nkind: Service"));
    assert!(
        text.contains(&format!("image: shop/web:1.0@{DIGEST_WEB}")),
        "{text}"
    );
    assert!(text.contains("name: chiaro-initializer"), "{text}");
    assert!(
        text.contains("value: \"on\""),
        "YAML 1.1 strings stay quoted: {text}"
    );
    assert!(
        text.contains("- {name: c, image: shop/plain:1.0}\n"),
        "unselected workloads keep their text"
    );

    let documents = chiaro_k8s::read_documents("app.yaml", text).unwrap();
    let annotation = documents[2].value["spec"]["template"]["metadata"]["annotations"]
        [INITDATA_ANNOTATION]
        .as_str()
        .unwrap();
    let initdata = Initdata::from_annotation(annotation).unwrap();
    let web = &out.workloads[0];
    assert_eq!(web.policy_hash, Some(initdata.policy_hash()));
    let init_env = &documents[2].value["spec"]["template"]["spec"]["initContainers"][0]["env"];
    assert_eq!(init_env[0]["value"], "coordinator.chiaro:7777");
    assert_eq!(init_env[1]["name"], chiaro_pod::env::DEPLOYMENT_ANCHOR);
    // The pod pins the Coordinator (the manifest's reference values, pinned to the
    // `coordinator` entry's policy hash) and the manifest's workload owners.
    let anchor = DeploymentAnchor::parse(init_env[1]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        anchor.coordinator.reference_values().snp[0]
            .host_data
            .map(|h| hex::encode(h.as_bytes())),
        Some("aa".repeat(32))
    );
    assert_eq!(anchor.owner_key_digests[0].to_string(), "cc".repeat(32));
    let mesh = &documents[2].value["spec"]["template"]["spec"]["initContainers"][1];
    assert_eq!(mesh["name"], "chiaro-mesh");
    assert_eq!(mesh["restartPolicy"], "Always");
    assert_eq!(mesh["env"][0]["name"], chiaro_pod::env::MESH_INGRESS);
    assert_eq!(mesh["env"][0]["value"], "web#8080#true");

    assert!(web.sans.contains(&"web.shop.svc.cluster.local".to_owned()));
    assert!(web.sans.contains(&"frontend.shop.svc".to_owned()));
    assert!(web.sans.iter().all(|san| san != "*"));
    assert_eq!(
        web.workload_secret_id.as_deref(),
        Some("apps/v1/Deployment/shop/web")
    );
    assert_eq!(
        web.pinned_secrets,
        ["web: DB_PASSWORD from Secret db/password"]
    );
    assert!(out.workloads[1].skipped.is_some());

    let policies = out.manifest["policies"].as_object().unwrap();
    assert_eq!(
        policies.len(),
        2,
        "the Coordinator's entry stays, stale workloads go"
    );
    assert_eq!(policies[&"aa".repeat(32)]["role"], "coordinator");
    assert_eq!(
        policies[&web.policy_hash.unwrap().to_string()]["sans"][0],
        "web"
    );
    assert_eq!(
        out.manifest["workload_owner_key_digests"],
        manifest["workload_owner_key_digests"]
    );
    assert_eq!(reference_values(&out.manifest), reference_values(&manifest));
    // Only that the web container's memory comes out of the VM's base.
    assert!(
        out.warnings
            .iter()
            .all(|w| w.contains("container \"web\" has no memory limit")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn without_a_coordinator_entry_the_pods_get_no_anchor_and_generate_says_why() {
    let input = files(APP);
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    let mut manifest = manifest_with_keys();
    manifest["policies"][&"aa".repeat(32)]["role"] = json!("workload");
    let out = generate_deployment(
        &input,
        &pins(&images),
        Some(&manifest),
        &options(false, true),
    )
    .unwrap();
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("does not say which deployment") && w.contains("coordinator")),
        "{:?}",
        out.warnings
    );
    assert!(
        !out.files[0]
            .text
            .contains(chiaro_pod::env::DEPLOYMENT_ANCHOR)
    );
}

/// `files` with every `from` in their text replaced by `to`.
fn replaced(files: &[SourceFile], from: &str, to: &str) -> Vec<SourceFile> {
    files
        .iter()
        .map(|file| SourceFile {
            name: file.name.clone(),
            text: file.text.replace(from, to),
        })
        .collect()
}

/// The pod spec of `name` in generated `files`.
fn pod_spec(files: &[SourceFile], name: &str) -> Option<Value> {
    files
        .iter()
        .filter_map(|file| chiaro_k8s::read_documents(&file.name, &file.text).ok())
        .flatten()
        .find(|document| document.value["metadata"]["name"] == name)
        .map(|document| document.value["spec"]["template"]["spec"].clone())
}

#[test]
fn network_probes_of_a_meshed_pod_move_to_the_proxy_and_back() {
    let manifest = manifest_with_keys();
    let probed = APP.replace(
        "        env:\n        - {name: FLAG",
        "        ports: [{name: http, containerPort: 8080}]\n        readinessProbe: {httpGet: {path: /healthz, port: http, httpHeaders: [{name: X-Probe, value: k}]}, periodSeconds: 3}\n        startupProbe: {tcpSocket: {port: 8080}, timeoutSeconds: 2}\n        livenessProbe: {grpc: {port: 9090}}\n        env:\n        - {name: FLAG",
    );
    let generate = |input: &[SourceFile], manifest: &Value| {
        let images = images_to_resolve(input, &options(false, true)).unwrap();
        generate_deployment(input, &pins(&images), Some(manifest), &options(false, true)).unwrap()
    };
    let out = generate(&files(&probed), &manifest);
    let spec = pod_spec(&out.files, "web").unwrap();
    let web = &spec["containers"][0];
    assert_eq!(
        web["readinessProbe"],
        json!({"httpGet": {"path": "/app-health/web/readyz", "port": 15021}, "periodSeconds": 3})
    );
    assert_eq!(
        web["startupProbe"],
        json!({"httpGet": {"path": "/app-health/web/startupz", "port": 15021}, "timeoutSeconds": 2})
    );
    assert_eq!(
        web["livenessProbe"],
        json!({"grpc": {"port": 9090}}),
        "gRPC stays"
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("\"web\": livenessProbe: a gRPC probe")),
        "{:?}",
        out.warnings
    );
    let mesh = &spec["initContainers"][1];
    assert_eq!(mesh["env"][2]["name"], chiaro_pod::env::MESH_PROBES);
    let table: Value = serde_json::from_str(mesh["env"][2]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        table,
        json!({
            "/app-health/web/readyz": {"httpGet": {"port": 8080, "path": "/healthz", "httpHeaders": [{"name": "X-Probe", "value": "k"}]}, "timeoutSeconds": 1},
            "/app-health/web/startupz": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2},
        }),
        "named ports resolved; the table is in the proxy's pinned environment"
    );

    let again = generate(&out.files, &out.manifest);
    assert_eq!(again.files, out.files, "moving is idempotent");

    let unmeshed = replaced(
        &out.files,
        "chiaro.dev/mesh-ingress: web#8080#true",
        "other: x",
    );
    assert!(unmeshed != out.files, "the annotation is gone");
    let restored = generate(&unmeshed, &out.manifest);
    let web = &pod_spec(&restored.files, "web").unwrap()["containers"][0];
    assert_eq!(
        web["readinessProbe"],
        json!({"httpGet": {"port": 8080, "path": "/healthz", "httpHeaders": [{"name": "X-Probe", "value": "k"}]}, "periodSeconds": 3}),
        "without the mesh the original probe comes back"
    );
    assert_eq!(
        web["startupProbe"],
        json!({"tcpSocket": {"port": 8080}, "timeoutSeconds": 2})
    );

    // A moved probe whose original is gone is an error naming it, not a silent change.
    let orphaned = replaced(
        &out.files,
        "/app-health/web/readyz\\\"",
        "/app-health/gone\\\"",
    );
    assert!(orphaned != out.files, "the table entry is renamed");
    let error = generate_deployment(
        &orphaned,
        &pins(&images_to_resolve(&orphaned, &options(false, true)).unwrap()),
        Some(&out.manifest),
        &options(false, true),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("web.readinessProbe.httpGet")
            && error
                .to_string()
                .contains("does not hold the original probe"),
        "{error}"
    );
}

#[test]
fn generating_on_its_own_output_changes_nothing() {
    let manifest = manifest_with_keys();
    let first_input = files(APP);
    let images = images_to_resolve(&first_input, &options(true, true)).unwrap();
    let first = generate_deployment(
        &first_input,
        &pins(&images),
        Some(&manifest),
        &options(true, true),
    )
    .unwrap();
    let second_input = first.files.clone();
    let images = images_to_resolve(&second_input, &options(true, true)).unwrap();
    assert!(
        images
            .iter()
            .all(|image| image.contains('@') || image.starts_with("chiaro/")),
        "every workload image is pinned after the first run: {images:?}"
    );
    let second = generate_deployment(
        &second_input,
        &pins(&images),
        Some(&first.manifest),
        &options(true, true),
    )
    .unwrap();
    assert_eq!(second.files, first.files);
    assert_eq!(second.manifest, first.manifest);
}

#[test]
fn secret_values_can_stay_unpinned_and_a_missing_manifest_gets_a_skeleton() {
    let input = files(APP);
    let images = images_to_resolve(&input, &options(false, false)).unwrap();
    let out = generate_deployment(&input, &pins(&images), None, &options(false, false)).unwrap();
    assert!(out.workloads[0].pinned_secrets.is_empty());
    assert!(!out.files[0].text.contains("hunter2\n    -"));
    assert_eq!(out.manifest["version"], 1);
    assert_eq!(out.manifest["policies"].as_object().unwrap().len(), 1);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("does not say which deployment") && w.contains("no manifest yet")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn problems_name_the_file_and_document() {
    let broken = APP.replace(
        "image: shop/web:1.0",
        "image: shop/web:1.0\n        securityContext: {privileged: true}",
    );
    let input = files(&broken);
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    let error = generate_deployment(&input, &pins(&images), None, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(error.contains("app.yaml:14:1:"), "{error}");
    assert!(error.contains("privileged"), "{error}");

    let mut missing = pins(&images);
    missing.remove("shop/web:1.0");
    let error = generate_deployment(&input, &missing, None, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(error.contains("shop/web:1.0"), "{error}");
}

#[test]
fn mesh_annotations_are_checked_as_the_sidecar_reads_them() {
    let generate = |text: &str| {
        let input = files(text);
        let images = images_to_resolve(&input, &options(false, true)).unwrap();
        generate_deployment(&input, &pins(&images), None, &options(false, true))
    };
    let bad = APP.replace("\"web#8080#true\"", "\"web#8080#maybe\"");
    let error = generate(&bad).unwrap_err().to_string();
    assert!(
        error.starts_with(
            "app.yaml:22:46:spec.template.metadata.annotations[chiaro.dev/mesh-ingress]"
        ) && error.contains("TLS \"maybe\""),
        "{error}"
    );

    let clash = APP
        .replace(
            "annotations: {chiaro.dev/mesh-ingress: \"web#8080#true\"}",
            "annotations: {chiaro.dev/mesh-ingress: \"web#8080#true\", chiaro.dev/mesh-egress: \"db#127.0.0.1:8080#db.shop:5432##cache#127.0.0.2:6379#cache.shop:6379\"}",
        )
        .replace(
            "        env:\n        - {name: FLAG",
            "        ports: [{containerPort: 8080}]\n        env:\n        - {name: FLAG",
        );
    let out = generate(&clash).unwrap();
    let clashes: Vec<&String> = out
        .warnings
        .iter()
        .filter(|w| w.contains("egress entry"))
        .collect();
    assert_eq!(clashes.len(), 1, "{:?}", out.warnings);
    assert!(
        clashes[0]
            .contains("\"db\" listens on 127.0.0.1:8080, and container \"web\" declares port 8080"),
        "{}",
        clashes[0]
    );

    // An owner's client certificate never serves: no egress may require its identity.
    let owner_as_server = APP.replace(
        "annotations: {chiaro.dev/mesh-ingress: \"web#8080#true\"}",
        "annotations: {chiaro.dev/mesh-ingress: \"web#8080#true\", chiaro.dev/mesh-egress: \"db#127.0.0.1:5432#db.shop:5432#workload-owner.chiaro.invalid\"}",
    );
    let error = generate(&owner_as_server).unwrap_err().to_string();
    assert!(
        error.contains("chiaro.dev/mesh-egress") && error.contains("reserved identity"),
        "{error}"
    );

    for (from, to) in [
        ("\"web#8080#true\"", "\"web#15006#true\""),
        (
            "        env:\n        - {name: FLAG",
            "        ports: [{containerPort: 15021}]\n        env:\n        - {name: FLAG",
        ),
    ] {
        let error = generate(&APP.replace(from, to)).unwrap_err().to_string();
        assert!(error.contains("the mesh proxy's own"), "{to}: {error}");
    }
}

#[test]
fn a_generated_pod_starts_on_an_honest_host_in_order_and_nothing_else_does() {
    let input = files(APP);
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    let out = generate_deployment(&input, &pins(&images), None, &options(false, true)).unwrap();
    let documents = chiaro_k8s::read_documents("app.yaml", &out.files[0].text).unwrap();
    let annotation = documents[2].value["spec"]["template"]["metadata"]["annotations"]
        [INITDATA_ANNOTATION]
        .as_str()
        .unwrap();
    let policy = AgentPolicy::from_text(Initdata::from_annotation(annotation).unwrap().policy());
    let data = policy.data().unwrap();
    let order = creation_order(&data);
    assert_eq!(order, [SANDBOX, "chiaro-initializer", "chiaro-mesh", "web"]);
    let pod = SimulatedPod {
        name: "web-7d9f8c6b5d-q8x2z".to_owned(),
        namespace: "shop".to_owned(),
        netns: "/var/run/netns/cni-0".to_owned(),
    };
    let mut evaluator = Evaluator::new(&policy).unwrap();
    let early = create_container_request(&data, &pod, "web").unwrap();
    let sandbox = create_container_request(&data, &pod, SANDBOX).unwrap();
    let decision = evaluator
        .evaluate("CreateContainerRequest", &sandbox)
        .unwrap();
    assert!(decision.allowed, "sandbox: {:?}", decision.denials);
    let refused = evaluator
        .evaluate("CreateContainerRequest", &early)
        .unwrap();
    assert!(
        !refused.allowed,
        "the workload before the initializer is refused"
    );
    for container in &order[1..] {
        let request = create_container_request(&data, &pod, container).unwrap();
        let decision = evaluator
            .evaluate("CreateContainerRequest", &request)
            .unwrap();
        assert!(decision.allowed, "{container}: {:?}", decision.denials);
    }
}

#[test]
fn a_pod_with_run_as_non_root_gets_chiaro_containers_that_start_and_a_root_workload_is_an_error() {
    let non_root = replaced(
        &files(APP),
        "      runtimeClassName: chiaro-cc\n",
        "      runtimeClassName: chiaro-cc\n      securityContext: {runAsNonRoot: true}\n",
    );
    let images = images_to_resolve(&non_root, &options(false, true)).unwrap();
    let out = generate_deployment(&non_root, &pins(&images), None, &options(false, true))
        .expect("the image runs as 1000");
    let spec = pod_spec(&out.files, "web").unwrap();
    for chiaro in [&spec["initContainers"][0], &spec["initContainers"][1]] {
        assert_eq!(chiaro["securityContext"]["runAsNonRoot"], false, "{chiaro}");
        assert_eq!(chiaro["securityContext"]["runAsUser"], 0, "{chiaro}");
    }
    // The workload runs behind the start gate, waiting for the mesh proxy.
    assert_eq!(
        spec["containers"][0]["command"],
        json!([
            chiaro_pod::layout::START_GATE,
            "--wait-file",
            chiaro_pod::layout::MESH_READY_FILE,
            "--entrypoint-from-image",
            "--args-from-image",
            "--"
        ])
    );
    assert_eq!(spec["containers"][0]["args"], json!(["/serve"]));

    let mut root_pins = pins(&images);
    root_pins.get_mut("shop/web:1.0").unwrap().config.user = "0".to_owned();
    let error = generate_deployment(&non_root, &root_pins, None, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("runAsNonRoot") && error.contains("\"web\"") && error.contains("runAsUser"),
        "{error}"
    );
}

/// A confidential Deployment `name` in `shop` whose pods are labelled `app: APP, tier: front`,
/// with the pod annotations `annotations` (a YAML flow mapping's inside).
fn shop_deployment(name: &str, app: &str, annotations: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata:\n      labels: {{app: {app}, tier: front}}\n      annotations: {{{annotations}}}\n    spec:\n      runtimeClassName: chiaro-cc\n      containers:\n      - {{name: {name}, image: shop/{name}:1.0}}\n"
    )
}

/// A Service `name` in `shop` selecting `selector` (a YAML flow mapping's inside).
fn shop_service(name: &str, selector: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  selector: {{{selector}}}\n  ports: [{{port: 80}}]\n"
    )
}

fn generate_text(text: &str) -> Result<Generated, PolicyError> {
    let input = files(text);
    let images = images_to_resolve(&input, &options(false, true))?;
    generate_deployment(
        &input,
        &pins(&images),
        Some(&manifest_with_keys()),
        &options(false, true),
    )
}

/// The shared-SAN refusal of `text`: (SAN, first holder and source, second holder and
/// source), and the message.
#[expect(clippy::panic, reason = "test helper fails loudly")]
fn shared_san(text: &str) -> ((String, String, SanSource, String, SanSource), String) {
    let error = match generate_text(text) {
        Err(error) => error,
        Ok(out) => panic!(
            "generated, with the SANs {:?}",
            out.workloads.iter().map(|w| &w.sans).collect::<Vec<_>>()
        ),
    };
    let message = error.to_string();
    match error {
        PolicyError::SharedSan {
            san,
            first,
            first_source,
            second,
            second_source,
        } => ((san, first, first_source, second, second_source), message),
        _ => panic!("refused for another reason: {message}"),
    }
}

// A workload whose certificate carries another's name can answer for it: the host redirects a
// connection meant for `api` to `web`, whose proxy presents a certificate valid for `api`, and
// the client's check of the SAN passes. Generate must never give one name to two workloads.

#[test]
fn attack_service_named_like_another_workload_gets_no_shared_san() {
    let text = shop_service("api", "app: web")
        + &shop_deployment("web", "web", "")
        + &shop_deployment("api", "api", "");
    let ((san, first, first_source, second, second_source), message) = shared_san(&text);
    assert_eq!(san, "api");
    assert_eq!(first, "Deployment shop/web (app.yaml:9:1)");
    assert_eq!(first_source, SanSource::Service("api".to_owned()));
    assert_eq!(second, "Deployment shop/api (app.yaml:23:1)");
    assert_eq!(second_source, SanSource::WorkloadName);
    assert!(
        message.contains("Service \"api\", which selects its pods")
            && message.contains("its own name"),
        "{message}"
    );
}

#[test]
fn attack_selector_matching_two_workloads_gets_no_shared_san() {
    let text = shop_service("front", "tier: front")
        + &shop_deployment("web", "web", "")
        + &shop_deployment("web-canary", "web-canary", "");
    let ((san, first, first_source, second, second_source), message) = shared_san(&text);
    assert_eq!(san, "front");
    assert_eq!(first, "Deployment shop/web (app.yaml:9:1)");
    assert_eq!(first_source, SanSource::Service("front".to_owned()));
    assert_eq!(second, "Deployment shop/web-canary (app.yaml:23:1)");
    assert_eq!(second_source, SanSource::Service("front".to_owned()));
    assert!(
        message.contains("narrow the Service's selector"),
        "{message}"
    );
}

#[test]
fn attack_sans_annotation_naming_another_workload_gets_no_shared_san() {
    // In another spelling too: certificate names match case-insensitively, a trailing dot
    // ignored.
    for extra in ["api.shop.svc", "API.Shop.Svc.Cluster.Local."] {
        let text = shop_deployment("api", "api", "")
            + &shop_deployment("web", "web", &format!("chiaro.dev/sans: \"{extra}\""));
        let ((san, first, first_source, second, second_source), _) = shared_san(&text);
        assert_eq!(san, extra);
        assert_eq!(first, "Deployment shop/api (app.yaml:2:1)");
        assert_eq!(first_source, SanSource::WorkloadName);
        assert_eq!(second, "Deployment shop/web (app.yaml:16:1)");
        assert_eq!(second_source, SanSource::Annotation);
    }
}

#[test]
fn attack_workload_named_like_the_coordinator_entry_gets_no_shared_san() {
    // manifest_with_keys' Coordinator entry has the SAN "coordinator", and generate keeps it.
    let text = shop_deployment("coordinator", "coordinator", "");
    let ((san, first, first_source, _, second_source), _) = shared_san(&text);
    assert_eq!(san, "coordinator");
    assert_eq!(
        first,
        format!("the Coordinator's entry {}", "aa".repeat(32))
    );
    assert_eq!(first_source, SanSource::CoordinatorEntry);
    assert_eq!(second_source, SanSource::WorkloadName);
}

#[test]
fn a_service_over_one_workload_gives_it_its_name() {
    // The ordinary case: Services selecting one workload (named like it, or not), and extra
    // names of its own.
    let text = shop_service("web", "app: web")
        + &shop_service("www", "app: web")
        + &shop_deployment("web", "web", "chiaro.dev/sans: \"web.example.com\"")
        + &shop_deployment("api", "api", "");
    let out = generate_text(&text).unwrap();
    let web = &out.workloads[0];
    assert_eq!(
        web.sans[..4],
        [
            "web",
            "web.shop",
            "web.shop.svc",
            "web.shop.svc.cluster.local"
        ]
    );
    assert!(
        web.sans.contains(&"www.shop.svc".to_owned()),
        "{:?}",
        web.sans
    );
    assert_eq!(web.sans.last().map(String::as_str), Some("web.example.com"));
    let manifest = chiaro_manifest::Manifest::parse(&out.manifest.to_string()).unwrap();
    assert_eq!(manifest.policies().len(), 3);
}

#[test]
fn a_sans_annotation_that_is_no_san_is_refused_at_generate() {
    for bad in ["*.shop.svc.cluster.local", "not a name"] {
        let text = shop_deployment("web", "web", &format!("chiaro.dev/sans: \"{bad}\""));
        let error = generate_text(&text).unwrap_err().to_string();
        assert!(
            error.contains("chiaro.dev/sans")
                && error.contains(bad)
                && error.contains("app.yaml:10:38"),
            "{error}"
        );
    }
}

/// A Deployment and the Service selecting it, neither with a namespace, and one skipped
/// Deployment without the runtime class.
const UNNAMESPACED: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      runtimeClassName: chiaro-cc\n      containers: [{name: web, image: shop/web:1.0}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain}\nspec:\n  template:\n    spec:\n      containers: [{name: plain, image: shop/plain:1.0}]\n";

#[test]
fn objects_without_a_namespace_are_generated_in_the_one_given_and_carry_it() {
    let mut in_shop = options(false, true);
    in_shop.namespace = chiaro_k8s::Namespace::parse("shop").unwrap();
    let input = files(UNNAMESPACED);
    let images = images_to_resolve(&input, &in_shop).unwrap();
    let generated = generate_deployment(&input, &pins(&images), None, &in_shop).unwrap();
    let web = &generated.workloads[0];
    assert_eq!(web.namespace, "shop");
    assert!(
        web.sans.contains(&"web.shop.svc.cluster.local".to_owned()),
        "the Service in shop selects it: {:?}",
        web.sans
    );
    assert_eq!(
        web.workload_secret_id.as_deref(),
        Some("apps/v1/Deployment/shop/web")
    );
    let documents = chiaro_k8s::read_documents("app.yaml", &generated.files[0].text).unwrap();
    let namespace = |index: usize| {
        documents[index]
            .value
            .pointer("/metadata/namespace")
            .cloned()
    };
    assert_eq!(namespace(0), Some(json!("shop")), "the Service carries it");
    assert_eq!(namespace(1), Some(json!("shop")), "the workload carries it");
    assert_eq!(namespace(2), None, "a skipped workload stays as it was");
    let annotation = documents[1].value["spec"]["template"]["metadata"]["annotations"]
        [INITDATA_ANNOTATION]
        .as_str()
        .unwrap();
    let policy = Initdata::from_annotation(annotation).unwrap();
    assert!(
        policy.policy().contains("\"namespace_regex\": \"^shop$\""),
        "the policy pins the namespace the SANs name"
    );

    let default = generate_deployment(&input, &pins(&images), None, &options(false, true)).unwrap();
    assert_eq!(default.workloads[0].namespace, "default");
    assert!(
        default.files[0].text.contains("namespace: default"),
        "without -n the namespace is default, written as such"
    );
}

#[test]
fn a_kind_generate_cannot_rewrite_is_refused_before_any_image_is_resolved() {
    let misspelt = files(&UNNAMESPACED.replace(
        "kind: Deployment\nmetadata: {name: web}",
        "kind: Deploymnet\nmetadata: {name: web}",
    ));
    let error = images_to_resolve(&misspelt, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "app.yaml:16:25: kind \"Deploymnet\" has spec.template.spec.runtimeClassName: \"chiaro-cc\""
        ),
        "{error}"
    );
}

/// The generated pod of `text` (its Deployment `web`): its template's annotations and policy.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a fixture that does not generate fails the test"
)]
fn web_pod(text: &str) -> (serde_json::Map<String, Value>, AgentPolicy, Generated) {
    let input = files(text);
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    let out = generate_deployment(&input, &pins(&images), None, &options(false, true)).unwrap();
    let documents = chiaro_k8s::read_documents("app.yaml", &out.files[0].text).unwrap();
    let annotations = documents[2].value["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .clone();
    let initdata = annotations[INITDATA_ANNOTATION].as_str().unwrap();
    let policy = AgentPolicy::from_text(Initdata::from_annotation(initdata).unwrap().policy());
    (annotations, policy, out)
}

const WEB_LIMITS: (&str, &str) = (
    "        image: shop/web:1.0\n",
    "        image: shop/web:1.0\n        resources: {limits: {cpu: 1500m, memory: 1Gi}, requests: {memory: 512Mi}}\n",
);

#[test]
fn the_vm_is_sized_from_the_limits_on_the_base_the_pod_carries() {
    let text = APP.replace(WEB_LIMITS.0, WEB_LIMITS.1);
    let (annotations, _, out) = web_pod(&text);
    assert_eq!(annotations[VM_VCPUS_ANNOTATION], "1");
    assert_eq!(annotations[VM_MEMORY_ANNOTATION], "2048");
    // 1.5 CPUs round up to 2 on the base's 1; 1 GiB on the base's 2048 MiB. Chiaro's own
    // containers (initializer, mesh proxy) have no limits and add nothing.
    assert_eq!(
        out.workloads[0].vm_size,
        Some(VmSize {
            vcpus: 3,
            memory_mib: 3072
        })
    );
    assert!(
        !out.warnings.iter().any(|w| w.contains("no memory limit")),
        "{:?}",
        out.warnings
    );
    // Without limits: the base, and a warning naming the container.
    let (_, _, bare) = web_pod(APP);
    assert_eq!(bare.workloads[0].vm_size, Some(VmSize::KATA_BASE));
    assert!(
        bare.warnings
            .iter()
            .any(|w| w.contains("workload \"web\": container \"web\" has no memory limit")),
        "{:?}",
        bare.warnings
    );
    assert!(
        !bare.warnings.iter().any(|w| w.contains("chiaro-")),
        "Chiaro's containers are not warned about: {:?}",
        bare.warnings
    );
}

#[test]
fn a_limit_below_its_request_or_a_foreign_base_is_refused_by_file_document_container_and_field() {
    let below = APP.replace(
        WEB_LIMITS.0,
        "        image: shop/web:1.0\n        resources: {limits: {memory: 256Mi}, requests: {memory: 512Mi}}\n",
    );
    let input = files(&below);
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    let error = generate_deployment(&input, &pins(&images), None, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("app.yaml:14:1:")
            && error.contains("container \"web\": resources.limits.memory")
            && error.contains("below the request"),
        "{error}"
    );
    let bad = APP.replace(
        WEB_LIMITS.0,
        "        image: shop/web:1.0\n        resources: {limits: {cpu: lots}}\n",
    );
    let input = files(&bad);
    let error = generate_deployment(&input, &pins(&images), None, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("resources.limits.cpu") && error.contains("not a Kubernetes quantity"),
        "{error}"
    );
    // A base written by hand that differs from the one generate pins.
    let foreign = APP.replace(
        "      annotations: {chiaro.dev/mesh-ingress: \"web#8080#true\"}\n",
        "      annotations: {chiaro.dev/mesh-ingress: \"web#8080#true\", io.katacontainers.config.hypervisor.default_memory: \"8192\"}\n",
    );
    let input = files(&foreign);
    let error = generate_deployment(&input, &pins(&images), None, &options(false, true))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("app.yaml:14:1:") && error.contains("--vm-base-memory"),
        "{error}"
    );
}

#[test]
fn attack_a_sandbox_request_naming_another_vm_base_is_refused() {
    let text = APP.replace(WEB_LIMITS.0, WEB_LIMITS.1);
    let (_, policy, _) = web_pod(&text);
    let data = policy.data().unwrap();
    let pod = SimulatedPod {
        name: "web-7d9f8c6b5d-q8x2z".to_owned(),
        namespace: "shop".to_owned(),
        netns: "/var/run/netns/cni-0".to_owned(),
    };
    let sandbox = create_container_request(&data, &pod, SANDBOX).unwrap();
    let with = |vcpus: &str, memory: &str| {
        let mut request = sandbox.clone();
        let annotations = request["OCI"]["Annotations"].as_object_mut().unwrap();
        annotations.insert(VM_VCPUS_ANNOTATION.to_owned(), json!(vcpus));
        annotations.insert(VM_MEMORY_ANNOTATION.to_owned(), json!(memory));
        request
    };
    // The base generate wrote passes, should the runtime hand the pod's annotations on.
    let mut evaluator = Evaluator::new(&policy).unwrap();
    let honest = evaluator
        .evaluate("CreateContainerRequest", &with("1", "2048"))
        .unwrap();
    assert!(honest.allowed, "{:?}", honest.denials);
    // A host that claims a bigger or smaller VM is refused.
    for (vcpus, memory) in [("8", "2048"), ("1", "65536"), ("0", "256")] {
        let mut evaluator = Evaluator::new(&policy).unwrap();
        let decision = evaluator
            .evaluate("CreateContainerRequest", &with(vcpus, memory))
            .unwrap();
        assert!(!decision.allowed, "{vcpus} vCPUs, {memory} MiB");
        assert!(
            decision
                .denials
                .iter()
                .any(|d| d.contains("io.katacontainers.config.hypervisor.default_")),
            "{:?}",
            decision.denials
        );
    }
}

/// A Secret volume's file sizes are reported with the pinned Secret values; a volume whose
/// ConfigMap is not among the inputs stops generate, naming the file and the volume.
#[test]
fn secret_volume_files_are_reported_and_a_missing_configmap_names_its_volume() {
    let with_volumes = |volume: &str| {
        APP.replace(
            "          valueFrom: {secretKeyRef: {name: db, key: password}}\n",
            &format!(
                "          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}\n        volumeMounts: [{{name: files, mountPath: /etc/files}}]\n      volumes: [{{name: files, {volume}}}]\n"
            ),
        )
    };
    let input = files(&with_volumes("secret: {secretName: db}"));
    let images = images_to_resolve(&input, &options(false, true)).unwrap();
    let out = generate_deployment(&input, &pins(&images), None, &options(false, true)).unwrap();
    assert_eq!(
        out.workloads[0].pinned_secrets,
        [
            "web: DB_PASSWORD from Secret db/password",
            "volume files: file password from Secret db/password (its size)"
        ]
    );
    let input = files(&with_volumes("configMap: {name: web-config}"));
    let error = generate_deployment(&input, &pins(&images), None, &options(false, true))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with(
            "app.yaml:14:1:spec.template.spec.volumes[0]: volume \"files\": ConfigMap \"web-config\" \
             is not among the inputs"
        ),
        "{error}"
    );
}

/// A container that mounts a ConfigMap: its start gate checks each file's SHA-256 (the agent
/// shows the policy only sizes), and the policy pins that gate's arguments, so the content of
/// every file is pinned; generating again changes nothing.
#[test]
fn configmap_files_are_pinned_by_content_in_the_start_gate() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: shop}}\ndata: {{app.conf: \"mode=production\\n\"}}\n",
        shop_deployment("web", "web", "").replace(
            "      - {name: web, image: shop/web:1.0}\n",
            "      - {name: web, image: shop/web:1.0, volumeMounts: [{name: config, mountPath: /etc/app/}]}\n      volumes: [{name: config, configMap: {name: app}}]\n",
        )
    );
    let out = generate_text(&text).unwrap();
    let rewritten = &out.files[0].text;
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(b"mode=production\n"))
    };
    assert!(
        rewritten.contains(&format!(
            "--verify-file\n        - /etc/app/app.conf={digest}"
        )) || rewritten.contains(&format!("/etc/app/app.conf={digest}")),
        "{rewritten}"
    );
    let again = generate_text(rewritten).unwrap();
    assert_eq!(
        &again.files[0].text, rewritten,
        "generating again changes nothing"
    );
}
