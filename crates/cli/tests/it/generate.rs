//! `chiaro generate` as a process against a real registry (Debian's `docker-registry`) holding
//! images the test pushes: pinning, injection, manifest, idempotence, stdin, and refusals.

use chiaro::reports::GenerateSummary;
use chiaro_k8s::read_documents;
use chiaro_manifest::ManifestDraft;
use chiaro_policy::{INITDATA_ANNOTATION, Initdata, VM_MEMORY_ANNOTATION, VM_VCPUS_ANNOTATION};
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use serde_json::{Value, json};

use super::{chiaro, path_str};

const APP: &str = r#"# a two-tier app
apiVersion: v1
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
        env: [{name: MODE, value: "yes"}]
        ports: [{containerPort: 8080}]
"#;

fn image_config(cmd: &str) -> Value {
    json!({"os": "linux", "architecture": "amd64",
           "config": {"Cmd": [cmd], "User": "1000", "WorkingDir": "/"}})
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-generate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A registry holding the app's and the initializer's images, with their digests.
fn registry() -> (OciRegistry, String, String) {
    let registry = OciRegistry::start(&Access::Open);
    let api = registry.push_image("shop/api", "1.0", &image_config("/api"));
    let init = registry.push_image("chiaro/initializer", "0.1", &image_config("/initializer"));
    (registry, api, init)
}

fn generate_args<'a>(registry: &'a str, mirror: &'a str, cache: &'a str) -> Vec<&'a str> {
    vec![
        "generate",
        "--registry-mirror",
        mirror,
        "--insecure-registry",
        registry,
        "--initializer-image",
        "chiaro/initializer:0.1",
        "--coordinator-address",
        "coordinator.chiaro:7777",
        "--cache-dir",
        cache,
    ]
}

#[test]
fn needs_registry_generate_pins_injects_writes_the_manifest_and_is_idempotent() {
    let (registry, api_digest, init_digest) = registry();
    let dir = scratch_dir("files");
    let app = dir.join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let manifest = dir.join("manifest.json");
    let cache = dir.join("cache");
    let mirror = format!("*={}", registry.host);
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend([
        "-m",
        path_str(&manifest),
        "--output",
        "json",
        path_str(&dir),
    ]);

    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary: GenerateSummary = serde_json::from_str(&stdout).unwrap();
    let workload = &summary.workloads[0];
    assert_eq!(workload.name, "api");
    assert_eq!(summary.written.len(), 2, "{summary:?}");

    let text = std::fs::read_to_string(&app).unwrap();
    assert!(text.starts_with("# a two-tier app\n"), "{text}");
    assert!(
        text.contains(&format!("shop/api:1.0@{api_digest}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("chiaro/initializer:0.1@{init_digest}")),
        "{text}"
    );
    assert!(text.contains("value: \"yes\""), "{text}");
    let documents = read_documents("app.yaml", &text).unwrap();
    let annotation = documents[1].value["spec"]["template"]["metadata"]["annotations"]
        [INITDATA_ANNOTATION]
        .as_str()
        .unwrap();
    let policy_hash = Initdata::from_annotation(annotation).unwrap().policy_hash();
    let hash = policy_hash.to_string();
    assert_eq!(workload.policy_hash, Some(policy_hash));
    // A draft: generate writes no reference values (the user adds them before `set`).
    let written = ManifestDraft::parse(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let (_, entry) = written
        .policies()
        .find(|(key, _)| *key == hash)
        .expect("the workload's entry");
    assert_eq!(entry.sans[0], "api");
    assert!(
        entry
            .sans
            .iter()
            .any(|san| san == "api.default.svc.cluster.local")
    );
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("does not say which deployment the pods belong to")),
        "{summary:?}"
    );

    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let again: GenerateSummary = serde_json::from_str(&stdout).unwrap();
    assert!(again.written.is_empty(), "a second run changes nothing");
    assert_eq!(std::fs::read_to_string(&app).unwrap(), text);

    let (code, stdout, stderr) = chiaro(&["policy", "show", "--from-yaml", path_str(&app)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&hash), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_unresolvable_images_and_unsupported_fields_are_refused_by_name() {
    let (registry, _, _) = registry();
    let dir = scratch_dir("refusals");
    let mirror = format!("*={}", registry.host);
    let cache = dir.join("cache");
    let manifest = dir.join("manifest.json");

    let missing = dir.join("missing.yaml");
    std::fs::write(&missing, APP.replace("shop/api:1.0", "shop/absent:2.0")).unwrap();
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend(["-m", path_str(&manifest), path_str(&missing)]);
    let (code, stdout, stderr) = chiaro(&args);
    assert_ne!(code, 0);
    assert!(stderr.contains("shop/absent:2.0"), "{stdout}{stderr}");
    assert!(
        !manifest.exists(),
        "nothing is written when generation fails"
    );

    let privileged = dir.join("privileged.yaml");
    std::fs::write(
        &privileged,
        APP.replace(
            "        ports:",
            "        securityContext: {privileged: true}\n        ports:",
        ),
    )
    .unwrap();
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend(["-m", path_str(&manifest), path_str(&privileged)]);
    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(
        stderr.contains("privileged.yaml:9:1:") && stderr.contains("privileged"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&privileged).unwrap(),
        APP.replace(
            "        ports:",
            "        securityContext: {privileged: true}\n        ports:"
        ),
        "the input is left as it was"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_standard_input_goes_to_standard_output() {
    let (registry, api_digest, _) = registry();
    let dir = scratch_dir("stdin");
    let mirror = format!("*={}", registry.host);
    let cache = dir.join("cache");
    let manifest = dir.join("manifest.json");
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend(["-m", path_str(&manifest), "-"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chiaro"))
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), APP.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("shop/api:1.0@{api_digest}")),
        "{stdout}"
    );
    assert!(
        stderr.contains("policy "),
        "the report goes to stderr: {stderr}"
    );
    assert!(manifest.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_policy_show_and_eval_generate_for_a_workload_not_generated_yet() {
    let (registry, api_digest, _) = registry();
    let dir = scratch_dir("policy-from-yaml");
    let app = dir.join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let mirror = format!("*={}", registry.host);
    let cache = dir.join("cache");
    let registry_args = [
        "--registry-mirror",
        &mirror,
        "--insecure-registry",
        &registry.host,
        "--cache-dir",
        path_str(&cache),
    ];
    // The default initializer image, pushed under its name for the mirror.
    registry.push_image(
        "chiaro-dev/chiaro-initializer",
        "0.1.0",
        &image_config("/initializer"),
    );
    let mut show = vec!["policy", "show", "--from-yaml", path_str(&app)];
    show.extend(registry_args);
    let (code, stdout, stderr) = chiaro(&show);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("was not generated yet"), "{stdout}");
    assert!(stdout.contains("chiaro-initializer"), "{stdout}");
    assert!(stdout.contains(&api_digest), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&app).unwrap(),
        APP,
        "the file is not rewritten"
    );

    let request = dir.join("read-stream.json");
    std::fs::write(&request, r#"{"kind": "ReadStreamRequest", "request": {}}"#).unwrap();
    let mut eval = vec![
        "policy",
        "eval",
        "--from-yaml",
        path_str(&app),
        "--request",
        path_str(&request),
    ];
    eval.extend(registry_args);
    let (code, stdout, stderr) = chiaro(&eval);
    assert_eq!(code, 3, "{stdout}{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_attack_a_pod_sized_to_a_vcpu_count_its_manifest_refuses_is_not_generated() {
    // Reference values that accept 1 to 4 vCPUs and a pod whose limits give its VM 5: the pod
    // would start and fail attestation, or a user would widen the reference values by hand.
    let (registry, _, _) = registry();
    let dir = scratch_dir("vcpu-range");
    let app = dir.join("app.yaml");
    let limited = APP.replace(
        "        ports:",
        "        resources: {limits: {cpu: 3500m, memory: 512Mi}}\n        ports:",
    );
    std::fs::write(&app, &limited).unwrap();
    let manifest = dir.join("manifest.json");
    let cache = dir.join("cache");
    let mirror = format!("*={}", registry.host);
    let reference = |max: u32| {
        let path = dir.join(format!("reference-{max}.json"));
        let family = serde_json::json!({"one_vcpu": "11".repeat(48), "ap_vmsa": "22".repeat(48), "vcpus": {"min": 1, "max": max}});
        let values = serde_json::json!({"snp": [{"vcpu_scaled_measurements": [family]}]});
        std::fs::write(&path, values.to_string()).unwrap();
        path
    };
    let narrow = reference(4);
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend([
        "-m",
        path_str(&manifest),
        "--reference",
        path_str(&narrow),
        path_str(&app),
    ]);
    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(
        stderr.contains("Deployment default/api")
            && stderr.contains("5 vCPUs")
            && stderr.contains("snp[0]")
            && stderr.contains("1–4"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&app).unwrap(),
        limited,
        "nothing written"
    );
    let wide = reference(8);
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend([
        "-m",
        path_str(&manifest),
        "--reference",
        path_str(&wide),
        path_str(&app),
    ]);
    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_the_vm_base_comes_from_the_flags_and_the_summary_gives_each_vm_size() {
    let (registry, _, _) = registry();
    let dir = scratch_dir("sizing");
    let app = dir.join("app.yaml");
    let limited = APP.replace(
        "        ports:",
        "        resources: {limits: {cpu: 2500m, memory: 512Mi}}\n        ports:",
    );
    std::fs::write(&app, &limited).unwrap();
    let manifest = dir.join("manifest.json");
    let cache = dir.join("cache");
    let mirror = format!("*={}", registry.host);
    let mut args = generate_args(&registry.host, &mirror, path_str(&cache));
    args.extend([
        "--vm-base-vcpus",
        "2",
        "--vm-base-memory",
        "1Gi",
        "-m",
        path_str(&manifest),
        path_str(&app),
    ]);
    let (code, stdout, stderr) = chiaro(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // 2.5 CPUs round up to 3 on the base's 2; 512 MiB on the base's 1024.
    assert!(stdout.contains("  vm: 5 vCPUs, 1536 MiB\n"), "{stdout}");
    assert!(!stdout.contains("no memory limit"), "{stdout}");
    let text = std::fs::read_to_string(&app).unwrap();
    let documents = read_documents("app.yaml", &text).unwrap();
    let annotations = &documents[1].value["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations[VM_VCPUS_ANNOTATION], "2");
    assert_eq!(annotations[VM_MEMORY_ANNOTATION], "1024");

    // Generating its own output again with the default base writes that base.
    let mut again = generate_args(&registry.host, &mirror, path_str(&cache));
    again.extend(["-m", path_str(&manifest), path_str(&app)]);
    let (code, stdout, stderr) = chiaro(&again);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("  vm: 4 vCPUs, 2560 MiB\n"), "{stdout}");
    let text = std::fs::read_to_string(&app).unwrap();
    let documents = read_documents("app.yaml", &text).unwrap();
    let annotations = &documents[1].value["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations[VM_VCPUS_ANNOTATION], "1");
    assert_eq!(annotations[VM_MEMORY_ANNOTATION], "2048");

    // A base written by hand into a pod generate has not generated is refused, by name.
    std::fs::write(
        &app,
        limited.replace(
            "    metadata: {labels: {app: api}}\n",
            "    metadata:\n      labels: {app: api}\n      annotations: {io.katacontainers.config.hypervisor.default_vcpus: \"4\"}\n",
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = chiaro(&again);
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(
        stderr.contains("app.yaml:9:1:") && stderr.contains("--vm-base-vcpus"),
        "{stderr}"
    );

    for (flag, value) in [
        ("--vm-base-memory", "1000M"),
        ("--vm-base-memory", "128Mi"),
        ("--vm-base-vcpus", "0"),
    ] {
        let mut bad = generate_args(&registry.host, &mirror, path_str(&cache));
        bad.extend([flag, value, "-m", path_str(&manifest), path_str(&app)]);
        let (code, stdout, stderr) = chiaro(&bad);
        assert_eq!(code, 64, "{flag} {value}: {stdout}{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
