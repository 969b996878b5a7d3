//! `chiaro generate` on inputs beyond plain YAML workloads in `default`: a namespace (`-n`),
//! `kind: List` and JSON files, kinds it cannot rewrite, fields it does not support, and
//! registries it cannot reach or must not ask (`--offline`).

use chiaro::reports::GenerateSummary;
use chiaro_k8s::read_documents;
use chiaro_manifest::ManifestDraft;
use chiaro_policy::{INITDATA_ANNOTATION, Initdata};
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use serde_json::{Value, json};

use super::{chiaro, path_str};

/// A Service and the Deployment it selects, neither with a namespace.
const APP: &str = "apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      runtimeClassName: chiaro-cc
      containers:
      - name: api
        image: shop/api:1.0
";

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-inputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A registry with the app's and the initializer's images; the initializer's digest.
fn registry() -> (OciRegistry, String) {
    let registry = OciRegistry::start(&Access::Open);
    let config = |cmd: &str| json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": [cmd], "User": "1000"}});
    registry.push_image("shop/api", "1.0", &config("/api"));
    let init = registry.push_image("chiaro/initializer", "0.1", &config("/initializer"));
    (registry, init)
}

/// `generate` through `mirror` (also listed as plain HTTP), the manifest and cache in `dir`.
fn generate(
    dir: &std::path::Path,
    mirror: &str,
    initializer: &str,
    rest: &[&str],
) -> (i32, String, String) {
    let manifest = dir.join("manifest.json");
    let cache = dir.join("cache");
    let mirror_arg = format!("*={mirror}");
    let mut args = vec![
        "generate",
        "--registry-mirror",
        &mirror_arg,
        "--insecure-registry",
        mirror,
        "--initializer-image",
        initializer,
        "--cache-dir",
        path_str(&cache),
        "-m",
        path_str(&manifest),
        "--output",
        "json",
    ];
    args.extend(rest);
    chiaro(&args)
}

/// The policy text of the workload named `name` in `text`.
fn policy_of(file: &str, text: &str, name: &str) -> String {
    let documents = read_documents(file, text).unwrap();
    let document = documents
        .iter()
        .find(|d| d.name() == Some(name) && d.kind() == Some("Deployment"))
        .unwrap();
    let annotation = document.value["spec"]["template"]["metadata"]["annotations"]
        [INITDATA_ANNOTATION]
        .as_str()
        .unwrap();
    Initdata::from_annotation(annotation)
        .unwrap()
        .policy()
        .to_owned()
}

fn namespaces(file: &str, text: &str) -> Vec<Option<String>> {
    read_documents(file, text)
        .unwrap()
        .iter()
        .map(|d| {
            d.value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn needs_registry_namespace_flag_decides_sans_secret_id_policy_namespace_and_is_written() {
    let (registry, _) = registry();
    for (flag, namespace) in [(Some("shop"), "shop"), (None, "default")] {
        let dir = scratch_dir(&format!("ns-{namespace}"));
        let app = dir.join("app.yaml");
        std::fs::write(&app, APP).unwrap();
        let mut rest = Vec::new();
        if let Some(flag) = flag {
            rest.extend(["-n", flag]);
        }
        rest.push(path_str(&app));
        let (code, stdout, stderr) =
            generate(&dir, &registry.host, "chiaro/initializer:0.1", &rest);
        assert_eq!(code, 0, "{stdout}{stderr}");
        let summary: GenerateSummary = serde_json::from_str(&stdout).unwrap();
        let workload = &summary.workloads[0];
        assert_eq!(workload.namespace, namespace);
        assert!(
            workload
                .sans
                .contains(&format!("api.{namespace}.svc.cluster.local")),
            "{:?}",
            workload.sans
        );
        assert_eq!(
            workload.workload_secret_id.as_deref(),
            Some(format!("apps/v1/Deployment/{namespace}/api").as_str())
        );
        let text = std::fs::read_to_string(&app).unwrap();
        assert_eq!(
            namespaces("app.yaml", &text),
            [Some(namespace.to_owned()), Some(namespace.to_owned())],
            "the Service and the workload carry the namespace they were generated for"
        );
        let policy = policy_of("app.yaml", &text, "api");
        assert!(
            policy.contains(&format!("\"namespace_regex\": \"^{namespace}$\"")),
            "the policy pins the namespace of the SANs: {policy}"
        );
        let manifest =
            ManifestDraft::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        assert!(
            manifest
                .policies()
                .any(|(_, entry)| entry.sans.contains(&format!("api.{namespace}")))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn needs_registry_lists_and_json_files_are_generated_and_written_back_in_place() {
    let (registry, _) = registry();
    let dir = scratch_dir("lists");
    let items: Vec<Value> = read_documents("app.yaml", APP)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
    std::fs::write(dir.join("app.json"), serde_json::to_string(&list).unwrap()).unwrap();
    let mut yaml_list = "# kubectl get -o yaml\napiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n".to_owned();
    let web = APP
        .replace("name: api", "name: web")
        .replace("app: api", "app: web");
    for document in web.split("---\n") {
        for (index, line) in document.lines().enumerate() {
            yaml_list.push_str(if index == 0 { "- " } else { "  " });
            yaml_list.push_str(line);
            yaml_list.push('\n');
        }
    }
    std::fs::write(dir.join("web.yaml"), &yaml_list).unwrap();
    let (code, stdout, stderr) = generate(
        &dir,
        &registry.host,
        "chiaro/initializer:0.1",
        &[path_str(&dir)],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary: GenerateSummary = serde_json::from_str(&stdout).unwrap();
    let ats: Vec<&str> = summary.workloads.iter().map(|w| w.at.as_str()).collect();
    assert_eq!(ats.len(), 2, "{ats:?}");
    assert!(ats[0].ends_with("app.json:1:1:items[1]"), "{ats:?}");
    assert!(ats[1].ends_with("web.yaml:2:1:items[1]"), "{ats:?}");

    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("app.json")).unwrap()).unwrap();
    assert_eq!(written["kind"], "List", "still one List, as JSON");
    assert_eq!(written["metadata"]["resourceVersion"], "");
    let deployment = &written["items"][1];
    assert!(
        deployment["spec"]["template"]["metadata"]["annotations"][INITDATA_ANNOTATION].is_string(),
        "{deployment}"
    );
    assert!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );
    let web = std::fs::read_to_string(dir.join("web.yaml")).unwrap();
    assert!(
        web.starts_with("# kubectl get -o yaml\napiVersion: v1\nkind: List\n"),
        "{web}"
    );
    assert!(policy_of("web.yaml", &web, "web").contains("chiaro-initializer"));

    let (code, stdout, stderr) = generate(
        &dir,
        &registry.host,
        "chiaro/initializer:0.1",
        &[path_str(&dir)],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let again: GenerateSummary = serde_json::from_str(&stdout).unwrap();
    assert!(
        again.written.is_empty(),
        "a second run changes nothing: {again:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs generate on `yaml` with no registry (it must fail before asking one); exit code and
/// the error message.
fn refused(yaml: &str, extra: &[&str]) -> (i32, String) {
    let dir = scratch_dir("refused");
    let file = dir.join("f.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut rest = extra.to_vec();
    rest.push(path_str(&file));
    let (code, stdout, _) = generate(&dir, "127.0.0.1:1", "chiaro/initializer:0.1", &rest);
    let error: Value = serde_json::from_str(&stdout).unwrap();
    let message = error["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        yaml,
        "the input is left as it was"
    );
    assert!(!dir.join("manifest.json").exists(), "nothing is written");
    std::fs::remove_dir_all(dir).unwrap();
    (code, message)
}

#[test]
fn a_kind_generate_cannot_rewrite_with_the_runtime_class_is_an_error_naming_kind_and_path() {
    let (code, stderr) = refused(&APP.replace("kind: Deployment", "kind: Deploymnet"), &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("f.yaml:16:25: kind \"Deploymnet\" has spec.template.spec.runtimeClassName: \"chiaro-cc\", but generate rewrites only Pod, Deployment"),
        "{stderr}"
    );
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n";
    let (code, stderr) = refused(rollout, &["--all"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains(
            "f.yaml:7:19: kind \"Rollout\" has spec.template.spec.containers: a pod template"
        ),
        "{stderr}"
    );
}

#[test]
fn fields_kubernetes_has_but_chiaro_does_not_support_are_told_apart_from_misspelt_ones() {
    let (code, stderr) = refused(
        &APP.replace(
            "      containers:",
            "      hostUsers: false\n      containers:",
        ),
        &[],
    );
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("f.yaml:17:18:spec.template.spec.hostUsers: valid Kubernetes, but not supported by Chiaro yet: user namespaces"),
        "{stderr}"
    );
    let (code, stderr) = refused(
        &APP.replace(
            "        image: shop/api:1.0",
            "        image: shop/api:1.0\n        workdir: /srv",
        ),
        &[],
    );
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains(
            "f.yaml:20:18:spec.template.spec.containers[0].workdir: not a field of Container; misspelt?"
        ),
        "{stderr}"
    );
}

#[test]
fn unmarked_volume_claim_templates_are_refused_naming_the_template() {
    let stateful = APP.replace("kind: Deployment", "kind: StatefulSet").replace(
        "  selector: {matchLabels: {app: api}}\n",
        "  serviceName: api\n  selector: {matchLabels: {app: api}}\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
    );
    let (code, stderr) = refused(&stateful, &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("f.yaml:15:5:spec.volumeClaimTemplates[0]: not supported: volume claim template \"data\": the host would see and change the data of a persistent volume in plain; mark it for encryption"),
        "{stderr}"
    );
}

#[test]
fn a_registry_that_refuses_connections_exits_1_naming_it_and_the_ways_around() {
    let dir = scratch_dir("unreachable");
    let app = dir.join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    // Port 1 has no listener on a test machine: every connection is refused.
    let (code, stdout, stderr) = generate(
        &dir,
        "127.0.0.1:1",
        "chiaro/initializer:0.1",
        &[path_str(&app)],
    );
    assert_eq!(
        code, 1,
        "a network failure, not bad input: {stdout}{stderr}"
    );
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"]["kind"], "network");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("shop/api:1.0: cannot reach 127.0.0.1:1"),
        "{message}"
    );
    assert!(
        message.contains("127.0.0.1:1 could not be reached from here: name a mirror that can be (--registry-mirror REGISTRY=MIRROR), or, when every image is pinned by digest and an earlier run filled the cache (--cache-dir DIR), pass --offline"),
        "{message}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_pinned_yaml_is_generated_again_from_the_cache_with_the_registry_gone() {
    let (registry, init_digest) = registry();
    let dir = scratch_dir("offline");
    let app = dir.join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let initializer = format!("chiaro/initializer:0.1@{init_digest}");
    let (code, stdout, stderr) = generate(&dir, &registry.host, &initializer, &[path_str(&app)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let generated = std::fs::read_to_string(&app).unwrap();
    let host = registry.host.clone();
    drop(registry);

    for extra in [&[][..], &["--offline"][..]] {
        let mut rest = extra.to_vec();
        rest.push(path_str(&app));
        let (code, stdout, stderr) = generate(&dir, &host, &initializer, &rest);
        assert_eq!(code, 0, "{extra:?}: {stdout}{stderr}");
        let again: GenerateSummary = serde_json::from_str(&stdout).unwrap();
        assert!(again.written.is_empty(), "{extra:?}: {again:?}");
        assert_eq!(std::fs::read_to_string(&app).unwrap(), generated);
    }

    let (code, stdout, _) = generate(
        &dir,
        &host,
        "chiaro/initializer:0.1",
        &["--offline", path_str(&app)],
    );
    assert_eq!(code, 64, "{stdout}");
    let error: Value = serde_json::from_str(&stdout).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("chiaro/initializer:0.1: not pinned by digest (only a registry says which digest a tag names), and --offline asks no registry"),
        "{message}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
