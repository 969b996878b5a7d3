//! Stage 4: the application, generated as `chiaro generate` does: stand-in images (the real
//! ones cannot run here), the initializer injected, one policy per pod, and the manifest that
//! lists them with the Coordinator's own entry and the owners.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use chiaro_manifest::{DraftReferenceValues, ManifestDraft};
use chiaro_policy::{
    DeploymentOptions, GenerateOptions, ImageConfig, ImagePin, SourceFile, generate_deployment,
    images_to_resolve,
};
use chiaro_registry::{Digest, ImageReference};
use serde_json::{Value, json};

use super::Work;
use super::coordinator::Coordinator;
use super::owners::{MANIFEST_FILE, Owners};
use super::story::Story;
use crate::commands::generate::{manifest, read_inputs};

/// The initializer image the local deployment names (the real binary runs in its place).
const LOCAL_INITIALIZER_IMAGE: &str = "chiaro.local/chiaro-initializer:local";

/// The mesh proxy image the local deployment names (the real binary runs in its place).
const LOCAL_MESH_IMAGE: &str = "chiaro.local/chiaro-mesh:local";

/// The volume owner image the local deployment names (the real binary runs in its place).
const LOCAL_VOLUME_IMAGE: &str = "chiaro.local/chiaro-volume:local";

/// The generated application.
pub(super) struct App {
    /// The rewritten files (also in `generated/` of the work directory).
    pub(super) files: Vec<SourceFile>,
}

/// Generates the application in `app` for the Coordinator's mesh API; writes the files to
/// `generated/` and the manifest.
pub(super) fn generate(
    app: &Path,
    work: &Work,
    reference: &DraftReferenceValues,
    owners: &Owners,
    coordinator: &Coordinator,
    story: &mut Story,
) -> anyhow::Result<App> {
    story.step("4. chiaro generate: initializer injected, images pinned, one policy per pod");
    let files = read_app(app)?;
    let options = options(coordinator.mesh_api);
    let pins = stand_in_images(&files, &options, work, story)?;
    let draft = deployment_manifest(reference, owners, coordinator);
    let existing = manifest::existing(Some(&draft));
    let generated = generate_deployment(&files, &pins, &existing, &options)?;
    let generated_dir = work.path("generated");
    std::fs::create_dir_all(&generated_dir)?;
    for file in &generated.files {
        std::fs::write(generated_dir.join(&file.name), &file.text)?;
    }
    let written = manifest::updated(Some(draft), &generated.policies);
    std::fs::write(work.path(MANIFEST_FILE), written.to_json_pretty())?;
    for workload in generated.workloads.iter().filter(|w| w.skipped.is_none()) {
        story.line(&format!(
            "{}/{} ({}): policy {}",
            workload.namespace,
            workload.name,
            workload.kind,
            workload
                .policy_hash
                .map_or_else(|| "-".to_owned(), |hash| hash.to_string())
        ));
    }
    for warning in &generated.warnings {
        story.line(&format!("warning: {warning}"));
    }
    Ok(App {
        files: generated.files,
    })
}

/// The application's YAML (a file, or a directory's `*.yaml`/`*.yml`) as `generate` reads it,
/// each named by its file name (the generated copies go side by side into the work directory).
pub(super) fn read_app(app: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let mut files = read_inputs(&[app.to_owned()], None)?;
    for file in &mut files {
        if let Some(name) = Path::new(&file.name).file_name() {
            file.name = name.to_string_lossy().into_owned();
        }
    }
    Ok(files)
}

fn options(mesh_api: SocketAddr) -> DeploymentOptions {
    DeploymentOptions {
        all_workloads: true,
        runtime_class: chiaro_k8s::RUNTIME_CLASS.to_owned(),
        initializer_image: LOCAL_INITIALIZER_IMAGE.to_owned(),
        mesh_image: LOCAL_MESH_IMAGE.to_owned(),
        volume_image: LOCAL_VOLUME_IMAGE.to_owned(),
        coordinator: mesh_api.to_string(),
        namespace: chiaro_k8s::Namespace::default(),
        policy: GenerateOptions::default(),
    }
}

/// The manifest before generation: the Coordinator's own policy (role `coordinator`:
/// generate pins it, with the owner key, in every pod's deployment anchor), the simulated
/// root's reference values and the owners.
fn deployment_manifest(
    reference: &DraftReferenceValues,
    owners: &Owners,
    coordinator: &Coordinator,
) -> ManifestDraft {
    ManifestDraft::skeleton()
        .with_coordinator_policy(coordinator.policy_hash, coordinator.sans.clone())
        .with_reference_values(reference.clone())
        .with_workload_owner(owners.workload.manifest_workload_owner_key_digest)
        .with_seed_share_owner(&owners.seed_share.public_key)
}

/// A stand-in for every image the deployment needs, listed in `stand-in-images.json`.
fn stand_in_images(
    files: &[SourceFile],
    options: &DeploymentOptions,
    work: &Work,
    story: &mut Story,
) -> anyhow::Result<BTreeMap<String, ImagePin>> {
    let mut pins = BTreeMap::new();
    let mut stand_ins = Vec::new();
    for image in images_to_resolve(files, options)? {
        let (pin, record) = stand_in(&image)?;
        pins.insert(image, pin);
        stand_ins.push(record);
    }
    let listed = work.path("stand-in-images.json");
    std::fs::write(&listed, serde_json::to_string_pretty(&stand_ins)?)?;
    story.line(&format!(
        "{} images cannot run here: each is a stand-in (an OCI config synthesised here, listed in {}); the policy pins its digest",
        stand_ins.len(),
        listed.display()
    ));
    Ok(pins)
}

/// A stand-in image: a real OCI configuration and manifest, synthesised here, whose digest
/// the policy pins. Nothing of the original image is claimed.
pub(super) fn stand_in(image: &str) -> anyhow::Result<(ImagePin, Value)> {
    let reference = ImageReference::parse(image)?;
    let base = reference
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or("app")
        .to_owned();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": [format!("/usr/local/bin/{base}")], "User": "65532:65532", "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": Digest::of(&config_bytes).to_string(), "size": config_bytes.len()},
        "layers": [],
    });
    let digest = reference
        .digest()
        .unwrap_or_else(|| Digest::of(manifest.to_string().as_bytes()));
    let pinned = reference.pinned_as_written(digest);
    let pin = ImagePin {
        pinned: pinned.clone(),
        config: ImageConfig {
            reference: reference.canonical_pinned(digest),
            entrypoint: vec![format!("/usr/local/bin/{base}")],
            user: "65532:65532".to_owned(),
            working_dir: "/".to_owned(),
            ..ImageConfig::default()
        },
    };
    Ok((
        pin,
        json!({"image": image, "pinned": pinned, "manifest": manifest, "config": config}),
    ))
}
