//! `chiaro install` as a process against a real registry (Debian's `docker-registry`) holding
//! the Coordinator's image: the objects Kubernetes accepts (`kubernetes-validate --strict`),
//! the Coordinator's policy pinned in the manifest and in its reference values, idempotence.

use chiaro::reports::InstallSummary;
use chiaro_k8s::{Workload, read_documents};
use chiaro_manifest::{CoordinatorReference, DeploymentAnchor, ManifestDraft, Role};
use chiaro_pod::env::DEPLOYMENT_ANCHOR;
use chiaro_policy::{INITDATA_ANNOTATION, Initdata};
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use chiaro_test_support::prerequisite::Prerequisite;
use serde_json::{Value, json};

use super::{chiaro, path_str};

/// The Kubernetes versions docs/deploy.md names: install's objects are valid for each.
pub(super) const KUBERNETES_VERSIONS: &[&str] = &["1.30.0", "1.33.0", "1.37.0"];

/// Reference values for the manifest: one SNP set pinning a guest (install pins its
/// `host_data`).
const REFERENCE: &str = r#"{"snp": [{"measurements": ["abababababababababababababababababababababababababababababababababababababababababababababababab"], "minimum_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}]}"#;

pub(super) fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-install-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A registry holding a Coordinator image; its name as install takes it.
pub(super) fn registry_with_coordinator() -> (OciRegistry, String) {
    let registry = OciRegistry::start(&Access::Open);
    registry.push_image(
        "chiaro/chiaro-coordinator",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64",
                "config": {"Entrypoint": ["/usr/local/bin/chiaro-coordinator"], "User": "65532"}}),
    );
    let image = format!("{}/chiaro/chiaro-coordinator:0.1", registry.host);
    (registry, image)
}

/// `chiaro install` writing into `dir`, with `extra` arguments.
pub(super) fn install<'a>(
    registry: &'a OciRegistry,
    image: &'a str,
    dir: &std::path::Path,
    extra: &[&'a str],
) -> (i32, String, String) {
    let out = dir.join("chiaro-install.yaml");
    let manifest = dir.join("manifest.json");
    let reference = dir.join("coordinator-reference.json");
    let mut args = vec![
        "--output",
        "json",
        "install",
        "--coordinator-image",
        image,
        "--insecure-registry",
        &registry.host,
    ];
    let paths = [
        ("--out", path_str(&out).to_owned()),
        ("-m", path_str(&manifest).to_owned()),
        ("--coordinator-reference", path_str(&reference).to_owned()),
        ("--cache-dir", path_str(&dir.join("cache")).to_owned()),
    ];
    let owned: Vec<String> = paths
        .iter()
        .flat_map(|(flag, value)| [(*flag).to_owned(), value.clone()])
        .collect();
    args.extend(owned.iter().map(String::as_str));
    args.extend(extra);
    chiaro(&args)
}

/// The policy hash of the one workload in `text` (its initdata annotation).
fn initdata_hash(text: &str) -> chiaro_manifest::PolicyHash {
    let documents = read_documents("chiaro-install.yaml", text).unwrap();
    let hashes: Vec<_> = documents
        .iter()
        .filter_map(|d| {
            d.value
                .pointer("/spec/template/metadata/annotations")
                .and_then(|a| a.get(INITDATA_ANNOTATION))
                .and_then(Value::as_str)
        })
        .map(|annotation| Initdata::from_annotation(annotation).unwrap().policy_hash())
        .collect();
    assert_eq!(hashes.len(), 1, "{text}");
    hashes[0]
}

/// Checks that every generated workload in `files` has an initializer whose deployment anchor
/// pins the Coordinator policy `coordinator` (hex) in every set; how many there are.
pub(super) fn every_pod_pins_the_coordinator(
    files: &[std::path::PathBuf],
    coordinator: &str,
) -> usize {
    let mut pods = 0;
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        for document in read_documents(&path.display().to_string(), &text).unwrap() {
            let Ok(Some(workload)) = Workload::from_document(&document) else {
                continue;
            };
            let anchor = workload
                .pod_spec
                .init_containers
                .iter()
                .flat_map(|c| &c.env)
                .find(|var| var.name == DEPLOYMENT_ANCHOR)
                .and_then(|var| var.value.clone());
            assert!(anchor.is_some(), "{}: no deployment anchor", document.id);
            let sets = DeploymentAnchor::parse(&anchor.unwrap())
                .unwrap()
                .coordinator;
            let sets = sets.reference_values();
            assert!(!sets.snp.is_empty(), "{}", document.id);
            for set in &sets.snp {
                assert_eq!(
                    set.host_data.map(|h| hex::encode(h.as_bytes())).as_deref(),
                    Some(coordinator),
                    "{}",
                    document.id
                );
            }
            pods += 1;
        }
    }
    pods
}

#[test]
fn needs_vectors_needs_registry_needs_schemas_install_then_generate_in_a_namespace_pins_the_coordinator_in_every_pod()
 {
    Prerequisite::Schemas.require();
    let (registry, image) = registry_with_coordinator();
    registry.push_image(
        "chiaro/initializer",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": ["/initializer"]}}),
    );
    registry.push_image(
        "chiaro/mesh",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": ["/mesh"]}}),
    );
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let apps = [
        ("emojivoto", examples.join("emojivoto"), "emoji"),
        (
            "online-boutique",
            chiaro_test_support::vectors::dir().join("k8s-manifests/microservices-demo"),
            "shop",
        ),
    ];
    for (name, source, namespace) in apps {
        let dir = scratch_dir(name);
        let app = dir.join("app");
        super::generate_real_apps::copy_with_stand_ins(&registry, &source, &app, &[]);
        let manifest = dir.join("manifest.json");
        for (kind, key) in [
            ("workload-owner", "owner.pem"),
            ("seed-share-owner", "share.pem"),
        ] {
            let (code, stdout, stderr) = chiaro(&[
                "keygen",
                kind,
                "--out",
                path_str(&dir.join(key)),
                "-m",
                path_str(&manifest),
            ]);
            assert_eq!(code, 0, "{stdout}{stderr}");
        }
        let reference = dir.join("reference.json");
        std::fs::write(&reference, REFERENCE).unwrap();
        let (code, stdout, stderr) = install(
            &registry,
            &image,
            &dir,
            &["--reference", path_str(&reference)],
        );
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        let installed: InstallSummary = serde_json::from_str(&stdout).unwrap();
        // generate reads the manifest beside the application.
        std::fs::copy(&manifest, app.join("manifest.json")).unwrap();
        let args = super::generate_real_apps::generate_args(
            &registry,
            &app,
            &dir.join("cache"),
            &["--all", "-n", namespace, "--mesh-image", "chiaro/mesh:0.1"],
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = chiaro(&args);
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        // Online Boutique's init container `frontend-check` has no limits: its memory comes
        // out of the VM's base, which generate says; nothing else is worth a warning.
        let warnings: Vec<&str> = stdout
            .lines()
            .filter(|line| line.contains("warning"))
            .filter(|line| !line.contains("container \"frontend-check\" has no memory limit"))
            .collect();
        assert!(warnings.is_empty(), "{name}: {stdout}");
        let mut files = super::generate_real_apps::yaml_files(&app);
        let pods =
            every_pod_pins_the_coordinator(&files, &installed.coordinator_policy_hash.to_string());
        assert!(pods >= 4, "{name}: {pods} pods");
        files.push(dir.join("chiaro-install.yaml"));
        for version in KUBERNETES_VERSIONS {
            super::generate_real_apps::validate_for(version, name, &files);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn needs_registry_needs_schemas_install_writes_what_kubernetes_accepts_and_pins_the_coordinator() {
    Prerequisite::Schemas.require();
    let (registry, image) = registry_with_coordinator();
    let dir = scratch_dir("objects");
    let reference_file = dir.join("reference.json");
    std::fs::write(&reference_file, REFERENCE).unwrap();
    let (code, stdout, stderr) = install(
        &registry,
        &image,
        &dir,
        &[
            "-n",
            "confidential",
            "--reference",
            path_str(&reference_file),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary: InstallSummary = serde_json::from_str(&stdout).unwrap();
    assert!(
        matches!(summary.warnings.as_slice(), [tag] if tag.contains("named by tag")),
        "{:?}",
        summary.warnings
    );
    assert_eq!(
        summary.coordinator_address,
        "chiaro-coordinator-ready.confidential.svc.cluster.local:7777"
    );

    let out = dir.join("chiaro-install.yaml");
    let text = std::fs::read_to_string(&out).unwrap();
    for version in KUBERNETES_VERSIONS {
        super::generate_real_apps::validate_for(version, "install", std::slice::from_ref(&out));
    }
    let kinds: Vec<String> = read_documents("out", &text)
        .unwrap()
        .iter()
        .map(|d| d.value["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "RuntimeClass",
            "RuntimeClass",
            "RuntimeClass",
            "StatefulSet",
            "Service",
            "Service",
            "Deployment"
        ]
    );
    assert!(
        text.contains("handler: kata-qemu-snp") && text.contains("handler: kata-qemu-tdx"),
        "{text}"
    );
    assert!(
        summary
            .coordinator_image
            .starts_with(&format!("{}/chiaro/chiaro-coordinator", registry.host))
            && summary.coordinator_image.contains("@sha256:")
            && text.contains(&format!("image: {}", summary.coordinator_image)),
        "{text}"
    );

    // The policy in the annotation is the one the manifest and the reference pin.
    let hash = initdata_hash(&text);
    assert_eq!(summary.coordinator_policy_hash, hash);
    let manifest =
        ManifestDraft::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let entries: Vec<_> = manifest.coordinator_entries().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, hash.to_string());
    assert_eq!(entries[0].1.role, Role::Coordinator);
    assert!(
        entries[0]
            .1
            .sans
            .contains(&"chiaro-coordinator-ready.confidential.svc.cluster.local".to_owned())
    );
    let reference = CoordinatorReference::parse(
        &std::fs::read_to_string(dir.join("coordinator-reference.json")).unwrap(),
    )
    .unwrap();
    let sets = &reference.reference_values().snp;
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].host_data.map(|h| *h.as_bytes()),
        Some(*hash.as_bytes())
    );

    // Again: nothing changes.
    let (code, stdout, stderr) = install(&registry, &image, &dir, &["-n", "confidential"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let again: InstallSummary = serde_json::from_str(&stdout).unwrap();
    assert!(again.written.is_empty(), "{:?}", again.written);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_attack_registry_moves_the_coordinator_tag_between_installs_is_refused() {
    let (registry, image) = registry_with_coordinator();
    let dir = scratch_dir("moved-tag");
    // A reference left by an earlier install: it must not survive one that writes none.
    std::fs::write(dir.join("coordinator-reference.json"), "{}").unwrap();
    let (code, stdout, stderr) = install(&registry, &image, &dir, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let first: InstallSummary = serde_json::from_str(&stdout).unwrap();
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.contains("no reference values yet")),
        "{:?}",
        first.warnings
    );
    assert!(!dir.join("coordinator-reference.json").exists());
    // The host's image under the same tag: a Coordinator that is not ours.
    registry.push_image(
        "chiaro/chiaro-coordinator",
        "0.1",
        &json!({"os": "linux", "architecture": "amd64",
                "config": {"Entrypoint": ["/usr/local/bin/chiaro-coordinator", "--leak"]}}),
    );
    let manifest_before = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let (code, stdout, stderr) = install(&registry, &image, &dir, &[]);
    assert_ne!(code, 0, "{stdout}");
    assert!(stdout.contains("--replace-coordinator"), "{stdout}{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("manifest.json")).unwrap(),
        manifest_before,
        "a refused install writes nothing"
    );
    // Asked for, the replacement happens, and install says what it means.
    let (code, stdout, stderr) = install(&registry, &image, &dir, &["--replace-coordinator"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let second: InstallSummary = serde_json::from_str(&stdout).unwrap();
    assert_ne!(
        first.coordinator_policy_hash,
        second.coordinator_policy_hash
    );
    assert!(
        second
            .warnings
            .iter()
            .any(|w| w.contains("run generate again")),
        "{:?}",
        second.warnings
    );
    let manifest =
        ManifestDraft::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let hashes: Vec<&str> = manifest
        .coordinator_entries()
        .map(|(hash, _)| hash)
        .collect();
    assert_eq!(hashes, [second.coordinator_policy_hash.to_string()]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_attack_reference_values_that_do_not_pin_the_guest_are_refused() {
    let (registry, image) = registry_with_coordinator();
    let dir = scratch_dir("unpinned-guest");
    let reference_file = dir.join("reference.json");
    // A guest the host built, launched with the Coordinator's (public) policy hash as HOST_DATA,
    // would satisfy a set without a measurement.
    std::fs::write(
        &reference_file,
        r#"{"snp": [{"minimum_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}]}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = install(
        &registry,
        &image,
        &dir,
        &["--reference", path_str(&reference_file)],
    );
    assert_ne!(code, 0, "{stdout}");
    assert!(
        stdout.contains("snp[0]") && stdout.contains("measurements"),
        "{stdout}{stderr}"
    );
    assert!(!dir.join("coordinator-reference.json").exists());
    assert!(
        !dir.join("manifest.json").exists(),
        "a refused install writes nothing"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn needs_registry_attack_a_coordinator_sized_to_a_vcpu_count_its_reference_refuses_is_not_installed()
 {
    // The Coordinator's VM gets the base (1) plus its CPU limit (1): 2 vCPUs. Reference values
    // that accept only 1 would leave it unattestable.
    let (registry, image) = registry_with_coordinator();
    let dir = scratch_dir("coordinator-vcpus");
    let reference = |max: u32| {
        let path = dir.join(format!("reference-{max}.json"));
        let family = format!(
            r#"{{"one_vcpu": "{}", "ap_vmsa": "{}", "vcpus": {{"min": 1, "max": {max}}}}}"#,
            "11".repeat(48),
            "22".repeat(48)
        );
        std::fs::write(
            &path,
            format!(r#"{{"snp": [{{"vcpu_scaled_measurements": [{family}]}}]}}"#),
        )
        .unwrap();
        path
    };
    let narrow = reference(1);
    let (code, stdout, stderr) =
        install(&registry, &image, &dir, &["--reference", path_str(&narrow)]);
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(
        stdout.contains("the Coordinator") && stdout.contains("2 vCPUs"),
        "{stdout}{stderr}"
    );
    assert!(!dir.join("coordinator-reference.json").exists());
    let wide = reference(2);
    let (code, stdout, stderr) =
        install(&registry, &image, &dir, &["--reference", path_str(&wide)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
