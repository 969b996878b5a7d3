//! `chiaro generate --all` on the real application manifests in
//! `../shared/testdata/k8s-manifests/`, with stand-in images pushed under the same names to a
//! local registry used as a mirror (the real registries are unreachable here), and the output
//! checked by `kubernetes-validate` against the Kubernetes schemas.

use std::path::{Path, PathBuf};
use std::process::Command;

use chiaro_k8s::{Workload, read_documents};
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

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
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
        std::fs::create_dir_all(&dir).unwrap();
        for file in yaml_files(&source) {
            if file.file_name().unwrap() == "kustomization.yml" {
                continue;
            }
            let mut text = std::fs::read_to_string(&file).unwrap();
            for (from, to) in *edits {
                assert!(
                    text.contains(from),
                    "{app}: the edit {from:?} no longer applies"
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
        let mirror = format!("*={}", registry.host);
        let manifest = dir.join("manifest.json");
        let cache = root.join("cache");
        let args = [
            "generate",
            "--all",
            "--registry-mirror",
            &mirror,
            "--insecure-registry",
            &registry.host,
            "--initializer-image",
            "chiaro/initializer:0.1",
            "--cache-dir",
            path_str(&cache),
            "-m",
            path_str(&manifest),
            path_str(&dir),
        ];
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
