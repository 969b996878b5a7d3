//! Golden files for the example application (`examples/emojivoto`): the policy data generate
//! gives each workload, and the manifest entries, with fixed image resolutions. A change to
//! generation shows here as a reviewed diff; `CHIARO_BLESS=1` rewrites the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chiaro_manifest::{ManifestDraft, PolicyEntry, Role};
use chiaro_policy::{
    AgentPolicy, DeploymentOptions, ExistingManifest, GenerateOptions, INITDATA_ANNOTATION,
    ImageConfig, ImagePin, Initdata, SourceFile, generate_deployment, images_to_resolve,
};
use chiaro_test_support::golden;
use sha2::{Digest as _, Sha256};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/emojivoto")
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: the example must be readable"
)]
fn example() -> Vec<SourceFile> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto/emojivoto.yaml");
    vec![SourceFile {
        name: "emojivoto.yaml".to_owned(),
        text: std::fs::read_to_string(path).unwrap(),
    }]
}

fn options() -> DeploymentOptions {
    DeploymentOptions {
        all_workloads: true,
        runtime_class: "chiaro-cc".to_owned(),
        initializer_image: "ghcr.io/chiaro/initializer:0.1".to_owned(),
        mesh_image: "ghcr.io/chiaro/mesh:0.1".to_owned(),
        volume_image: "ghcr.io/chiaro/volume:0.1".to_owned(),
        coordinator: "coordinator.chiaro:7777".to_owned(),
        namespace: chiaro_k8s::Namespace::default(),
        policy: GenerateOptions::default(),
    }
}

/// Each image pinned to the SHA-256 of its name, with a fixed configuration.
fn pins(images: &[String]) -> BTreeMap<String, ImagePin> {
    images
        .iter()
        .map(|image| {
            let pinned = format!("{image}@sha256:{}", hex::encode(Sha256::digest(image)));
            let base = image.rsplit('/').next().unwrap_or(image);
            let base = base.split(':').next().unwrap_or(base);
            let pin = ImagePin {
                pinned: pinned.clone(),
                config: ImageConfig {
                    reference: pinned,
                    entrypoint: vec![format!("/usr/local/bin/{base}")],
                    user: "65532:65532".to_owned(),
                    working_dir: "/".to_owned(),
                    ..ImageConfig::default()
                },
            };
            (image.clone(), pin)
        })
        .collect()
}

#[test]
fn the_example_generates_the_golden_policy_data_and_manifest_entries() {
    let files = example();
    let options = options();
    let images = images_to_resolve(&files, &options).unwrap();
    let out = generate_deployment(
        &files,
        &pins(&images),
        &ExistingManifest::default(),
        &options,
    )
    .unwrap();
    let mut workloads = 0;
    for document in chiaro_k8s::read_documents("emojivoto.yaml", &out.files[0].text).unwrap() {
        let Some(workload) = chiaro_k8s::Workload::from_document(&document).unwrap() else {
            continue;
        };
        let annotation = &workload.pod_annotations[INITDATA_ANNOTATION];
        let initdata = Initdata::from_annotation(annotation).unwrap();
        let data = AgentPolicy::from_text(initdata.policy()).data().unwrap();
        let text = serde_json::to_string_pretty(&data).unwrap() + "\n";
        golden::check(
            &golden_dir().join(format!("{}.policy-data.json", workload.name)),
            &text,
        );
        workloads += 1;
    }
    assert_eq!(
        workloads, 4,
        "every workload of the example has its golden data"
    );
    let manifest =
        ManifestDraft::skeleton().with_workload_policies(out.policies.iter().map(|entry| {
            (
                entry.hash,
                PolicyEntry {
                    sans: entry.sans.clone(),
                    role: Role::Workload,
                    workload_secret_id: Some(entry.workload_secret_id.clone()),
                },
            )
        }));
    golden::check(
        &golden_dir().join("manifest.json"),
        &manifest.to_json_pretty(),
    );
}
