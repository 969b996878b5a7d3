//! `chiaro generate --all` on the real application manifests in
//! `../shared/testdata/k8s-manifests/`, with stand-in images pushed under the same names to a
//! local registry used as a mirror (the real registries are unreachable here), and the output
//! checked by `kubernetes-validate` against the Kubernetes schemas.

use std::path::{Path, PathBuf};
use std::process::Command;

use chiaro::reports::GenerateSummary;
use chiaro_k8s::{Workload, read_documents};
use chiaro_policy::{
    AgentPolicy, INITDATA_ANNOTATION, Initdata, VM_MEMORY_ANNOTATION, VM_VCPUS_ANNOTATION, VmSize,
};
use chiaro_registry::ImageReference;
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use chiaro_test_support::prerequisite::Prerequisite;
use chiaro_test_support::vectors;
use serde_json::json;

use super::{chiaro, path_str};

/// Text edits made to the test copy of an application: `(from, to)`.
type Edits = &'static [(&'static str, &'static str)];

/// The Service `reviews` of bookinfo narrowed to one of the three Deployments it selects.
const REVIEWS_V1_ONLY: Edits = &[(
    "  selector:\n    app: reviews\n---",
    "  selector:\n    app: reviews\n    version: v1\n---",
)];

/// The applications, the edits made to the test copy (`from`, `to`), and what generate does.
const APPS: &[(&str, Edits, Option<&str>)] = &[
    ("buoyantio-emojivoto", &[], None),
    // Contrast's mesh proxy runs privileged (it installs iptables rules); a privileged
    // container can reach the guest kernel and every other container, so it is refused.
    (
        "contrast/emojivoto-sm-ingress",
        &[],
        Some("container \"sidecar\": securityContext.privileged: not supported"),
    ),
    // The Service `reviews` selects reviews-v1, -v2 and -v3: each would carry the name
    // `reviews`, and any of them could answer for the others. Refused; with the selector
    // narrowed to one version, generated.
    (
        "istio-bookinfo",
        &[],
        Some("SAN \"reviews\" would name two workloads: Deployment default/reviews-v1"),
    ),
    ("istio-bookinfo", REVIEWS_V1_ONLY, None),
    ("microservices-demo", &[], None),
];

/// The Kubernetes version generated YAML is validated against.
const KUBERNETES_VERSION: &str = "1.33.0";

pub(super) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn needs_vectors_needs_registry_needs_schemas_generate_runs_on_every_real_application() {
    Prerequisite::Schemas.require();
    let testdata = vectors::dir();
    let registry = OciRegistry::start(&Access::Open);
    registry.push_image(
        "chiaro/initializer",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": ["/initializer"]}}),
    );
    let root = std::env::temp_dir().join(format!("chiaro-real-apps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (index, (app, edits, expected)) in APPS.iter().enumerate() {
        let source = testdata.join("k8s-manifests").join(app);
        let dir = root.join(format!("{index}-{}", app.replace('/', "_")));
        copy_with_stand_ins(&registry, &source, &dir, edits);
        let args = generate_args(&registry, &dir, &root.join("cache"), &["--all"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = chiaro(&args);
        match expected {
            None => {
                assert_eq!(code, 0, "{app}: {stdout}{stderr}");
                let (code, again, stderr) = chiaro(&args);
                assert_eq!(code, 0, "{app}: {again}{stderr}");
                assert!(again.contains("nothing changed"), "{app} again: {again}");
                validate(app, &yaml_files(&dir));
            }
            Some(message) => {
                assert_eq!(code, 64, "{app}");
                assert!(stderr.contains(message), "{app}: {stderr}");
            }
        }
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// Copies the application in `source` to `dir` with `edits` made, each image pushed to
/// `registry` as a stand-in under its name (digest-pinned references pointed at the stand-in).
pub(super) fn copy_with_stand_ins(registry: &OciRegistry, source: &Path, dir: &Path, edits: Edits) {
    std::fs::create_dir_all(dir).unwrap();
    for file in yaml_files(source) {
        if file.file_name().unwrap() == "kustomization.yml" {
            continue;
        }
        let mut text = std::fs::read_to_string(&file).unwrap();
        for (from, to) in edits {
            assert!(
                text.contains(from),
                "{}: the edit {from:?} no longer applies",
                source.display()
            );
            text = text.replace(from, to);
        }
        let documents = read_documents(path_str(&file), &text).unwrap();
        for document in &documents {
            let Ok(Some(workload)) = Workload::from_document(document) else {
                continue;
            };
            let spec = &workload.pod_spec;
            for container in spec.init_containers.iter().chain(&spec.containers) {
                let Some(image) = &container.image else {
                    continue;
                };
                let reference = ImageReference::parse(image).unwrap();
                let config = json!({"os": "linux", "architecture": "amd64",
                    "config": {"Cmd": [format!("/{}", container.name)], "User": "1000"}});
                let tag = reference.tag().unwrap_or("pinned");
                let digest = registry.push_image(reference.repository(), tag, &config);
                if let Some(pinned) = reference.digest() {
                    // The real content is unreachable: point the reference at the stand-in.
                    text = text.replace(&pinned.to_string(), &digest);
                }
            }
        }
        std::fs::write(dir.join(file.file_name().unwrap()), text).unwrap();
    }
}

/// `generate` on `dir` through `registry` as the mirror of every registry, with `extra`.
pub(super) fn generate_args(
    registry: &OciRegistry,
    dir: &Path,
    cache: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "generate",
        "--registry-mirror",
        &format!("*={}", registry.host),
        "--insecure-registry",
        &registry.host,
        "--initializer-image",
        "chiaro/initializer:0.1",
        "--cache-dir",
        path_str(cache),
        "-m",
        path_str(&dir.join("manifest.json")),
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args.push(path_str(dir).to_owned());
    args
}

#[test]
fn needs_vectors_needs_registry_needs_schemas_online_boutique_in_namespace_shop_is_named_and_pinned_there()
 {
    Prerequisite::Schemas.require();
    let testdata = vectors::dir();
    let registry = OciRegistry::start(&Access::Open);
    registry.push_image(
        "chiaro/initializer",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": ["/initializer"]}}),
    );
    let root = std::env::temp_dir().join(format!("chiaro-boutique-shop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("app");
    let source = testdata.join("k8s-manifests").join("microservices-demo");
    copy_with_stand_ins(&registry, &source, &dir, &[]);
    let args = generate_args(
        &registry,
        &dir,
        &root.join("cache"),
        &["--all", "-n", "shop", "--output", "json"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary: GenerateSummary = serde_json::from_str(&stdout).unwrap();
    let generated: Vec<_> = summary
        .workloads
        .iter()
        .filter(|w| w.skipped.is_none())
        .collect();
    assert!(generated.len() > 5, "{summary:?}");
    for workload in &generated {
        assert_eq!(workload.namespace, "shop", "{workload:?}");
        assert!(
            workload
                .sans
                .contains(&format!("{}.shop.svc.cluster.local", workload.name)),
            "{workload:?}"
        );
        assert!(
            workload.sans.iter().all(|san| !san.contains(".default")),
            "{workload:?}"
        );
    }
    let frontend = generated.iter().find(|w| w.name == "frontend").unwrap();
    assert!(
        frontend
            .sans
            .contains(&"frontend-external.shop.svc".to_owned()),
        "Services in shop select it: {:?}",
        frontend.sans
    );
    // Its one container's limits, 200m and 128Mi, on the default base of 1 vCPU and 2048 MiB.
    assert_eq!(
        frontend.vm_size,
        Some(VmSize {
            vcpus: 2,
            memory_mib: 2176
        })
    );
    assert!(generated.iter().all(|w| w.vm_size.is_some()), "{summary:?}");
    for file in yaml_files(&dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in read_documents(path_str(&file), &text).unwrap() {
            let Ok(Some(workload)) = Workload::from_document(&document) else {
                continue;
            };
            assert_eq!(
                workload.namespace.as_deref(),
                Some("shop"),
                "{}",
                document.id
            );
            let annotation = &workload.pod_annotations[INITDATA_ANNOTATION];
            let policy = Initdata::from_annotation(annotation).unwrap();
            assert!(
                policy.policy().contains("\"namespace_regex\": \"^shop$\""),
                "{}: the policy pins shop",
                document.id
            );
            // The base the runtime adds the limits to, and the policy pins it.
            assert_eq!(workload.pod_annotations[VM_VCPUS_ANNOTATION], "1");
            assert_eq!(workload.pod_annotations[VM_MEMORY_ANNOTATION], "2048");
            let data = AgentPolicy::from_text(policy.policy()).data().unwrap();
            assert_eq!(
                data.pod.pinned_annotations[VM_MEMORY_ANNOTATION], "2048",
                "{}",
                document.id
            );
        }
    }
    validate("microservices-demo -n shop", &yaml_files(&dir));
    std::fs::remove_dir_all(root).unwrap();
}

/// Checks `files` with `kubernetes-validate` (PyPI) in strict mode: unknown fields fail.
fn validate(app: &str, files: &[PathBuf]) {
    validate_for(KUBERNETES_VERSION, app, files);
}

/// Checks `files` with `kubernetes-validate` in strict mode against Kubernetes `version`.
pub(super) fn validate_for(version: &str, app: &str, files: &[PathBuf]) {
    let mut command = Command::new("kubernetes-validate");
    command
        .args(["--strict", "--quiet", "-k", version])
        .args(files);
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{app}: kubernetes-validate refused the generated YAML:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The example StatefulSet with an encrypted claim template: generate adds the volume owner and
/// moves the mount to its directory, the output is valid Kubernetes (strict), and the policy
/// pins the owner's device and propagation.
#[test]
fn needs_registry_needs_schemas_a_stateful_set_with_an_encrypted_claim_template_is_generated_and_valid()
 {
    Prerequisite::Schemas.require();
    let registry = OciRegistry::start(&Access::Open);
    registry.push_image(
        "chiaro/initializer",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": ["/initializer"]}}),
    );
    registry.push_image(
        "chiaro/volume",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64", "config": {"Entrypoint": ["/usr/local/bin/chiaro-volume"]}}),
    );
    let root = std::env::temp_dir().join(format!("chiaro-encrypted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("app");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/encrypted-volume");
    copy_with_stand_ins(&registry, &source, &dir, &[]);
    let args = generate_args(
        &registry,
        &dir,
        &root.join("cache"),
        &["--volume-image", "chiaro/volume:0.1"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, again, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{again}{stderr}");
    assert!(again.contains("nothing changed"), "{again}");
    let file = dir.join("db.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let documents = read_documents(path_str(&file), &text).unwrap();
    let workload = documents
        .iter()
        .find_map(|document| Workload::from_document(document).ok().flatten())
        .unwrap();
    let spec = &workload.pod_spec;
    let owner = spec
        .init_containers
        .iter()
        .find(|c| c.name == chiaro_k8s::VOLUME_OWNER_NAME)
        .unwrap();
    assert_eq!(
        owner.volume_devices[0].device_path,
        "/dev/chiaro-volumes/data"
    );
    let db = spec.containers.iter().find(|c| c.name == "db").unwrap();
    let mount = db
        .volume_mounts
        .iter()
        .find(|m| m.mount_path == "/var/lib/postgresql/data")
        .unwrap();
    assert_eq!(mount.name, "chiaro-vol-data");
    assert_eq!(mount.mount_propagation.as_deref(), Some("HostToContainer"));
    let policy = Initdata::from_annotation(&workload.pod_annotations[INITDATA_ANNOTATION]).unwrap();
    let data = AgentPolicy::from_text(policy.policy()).data().unwrap();
    let owner_rules = &data.containers[chiaro_k8s::VOLUME_OWNER_NAME];
    assert!(owner_rules.privileged);
    assert_eq!(owner_rules.rootfs_propagation, "rshared");
    assert_eq!(data.containers["db"].rootfs_propagation, "rslave");
    assert!(!data.containers["db"].privileged);
    validate("examples/encrypted-volume", &yaml_files(&dir));
    std::fs::remove_dir_all(root).unwrap();
}
