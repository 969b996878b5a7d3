//! `docs/deploy.md`, run as written: every command of its `sh` blocks, in order, in one shell
//! in a fresh directory, except the lines marked `# cluster` (they need the cluster), `# images`
//! (the images test builds the images) and `# download` (they fetch a release). The registry is Debian's `docker-registry`
//! on loopback, holding stand-in images under the names the guide uses (this machine can build
//! but not run the real ones in a cluster); it is plain HTTP, so `$REGISTRY_FLAGS` names it
//! insecure and a mirror for the application's registry, as the guide says to for such a
//! registry. The node's Kata files `chiaro measure` reads are the launch-digest vectors'. Then
//! the outcome the guide promises is checked: every pod pins the Coordinator
//! `install` generated.

use std::path::{Path, PathBuf};
use std::process::Command;

use chiaro_k8s::{Workload, read_documents};
use chiaro_manifest::ManifestDraft;
use chiaro_registry::ImageReference;
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use chiaro_test_support::prerequisite::Prerequisite;
use serde_json::json;

use super::install::scratch_dir;

/// The guide, from this crate.
fn guide() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy.md"))
        .unwrap()
}

/// The guide's commands: the lines of its `sh` blocks, without those it marks as needing the
/// cluster or the image build.
fn commands(guide: &str) -> String {
    let mut script = String::new();
    let mut in_block = false;
    for line in guide.lines() {
        match (in_block, line.trim_start()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, command)
                if ["# cluster", "# images", "# download"]
                    .iter()
                    .any(|marker| command.ends_with(marker)) => {}
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            (false, _) => {}
        }
    }
    script
}

/// Pushes a stand-in for every image `examples/emojivoto` names, under its repository and tag.
fn push_app_images(registry: &OciRegistry, app: &Path) {
    for entry in std::fs::read_dir(app).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for document in read_documents(&path.display().to_string(), &text).unwrap() {
            let Ok(Some(workload)) = Workload::from_document(&document) else {
                continue;
            };
            for container in &workload.pod_spec.containers {
                let reference = ImageReference::parse(container.image.as_deref().unwrap()).unwrap();
                registry.push_image(
                    reference.repository(),
                    reference.tag().unwrap(),
                    &json!({"os": "linux", "architecture": "amd64",
                            "config": {"Cmd": [format!("/{}", container.name)], "User": "1000"}}),
                );
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn needs_registry_needs_schemas_needs_vectors_deploy_guide_commands_run_as_written() {
    Prerequisite::Schemas.require();
    let vectors = chiaro_test_support::vectors::dir();
    let script = commands(&guide());
    assert!(
        script.contains("chiaro install") && script.contains("chiaro generate"),
        "{script}"
    );
    let registry = OciRegistry::start(&Access::Open);
    for name in ["chiaro-coordinator", "chiaro-initializer", "chiaro-mesh"] {
        registry.push_image(
            &format!("chiaro/{name}"),
            "0.1.0",
            &json!({"os": "linux", "architecture": "amd64",
                    "config": {"Entrypoint": [format!("/usr/local/bin/{name}")]}}),
        );
    }
    let dir = scratch_dir("guide");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    copy_dir(&examples.join("emojivoto"), &dir.join("examples/emojivoto"));
    push_app_images(&registry, &dir.join("examples/emojivoto"));
    // The node's Kata files the guide copies (`scp`, a cluster step): the vectors' firmware,
    // kernel and initrd under the shipped configuration's paths.
    super::measure::kata_node_at(&dir.join("node"), &vectors, false, "");
    let chiaro = PathBuf::from(env!("CARGO_BIN_EXE_chiaro"));
    let path = format!(
        "{}:{}",
        chiaro.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let flags = format!(
        "--insecure-registry {host} --registry-mirror *={host} --cache-dir {cache}",
        host = registry.host,
        cache = dir.join("cache").display()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env("PATH", path)
        .env("REGISTRY", format!("{}/chiaro", registry.host))
        .env("REGISTRY_FLAGS", flags)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the guide's commands failed:\n{script}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // What the guide promises: a complete manifest with the Coordinator's entry, and every
    // generated pod's initializer pinning exactly that Coordinator.
    let manifest =
        ManifestDraft::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest.validate().unwrap();
    let coordinator: Vec<&str> = manifest
        .coordinator_entries()
        .map(|(hash, _)| hash)
        .collect();
    let [coordinator] = coordinator.as_slice() else {
        panic!("one Coordinator entry expected: {coordinator:?}");
    };
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("app"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let pods = super::install::every_pod_pins_the_coordinator(&files, coordinator);
    assert_eq!(pods, 4, "emojivoto has four workloads");
    std::fs::remove_dir_all(dir).unwrap();
}
