//! `generate` on Online Boutique (`cargo bench -p chiaro-policy --bench generate`): the whole
//! deployment rewritten (injection, pinning, 12 policies, initdata, manifest) with every image
//! already resolved (a warm cache: the registry is not asked for digest-pinned content), next to
//! the I/O bound, parsing and writing the same YAML. Prints p50 and p99. Needs
//! `../shared/testdata` (or `CHIARO_TESTDATA`).

#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark prints its numbers"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chiaro_k8s::{read_documents, write_documents};
use chiaro_policy::{
    DeploymentOptions, ExistingManifest, GenerateOptions, ImageConfig, ImagePin, SourceFile,
    generate_deployment, images_to_resolve,
};
use sha2::{Digest as _, Sha256};

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    println!(
        "{name:<56} p50 {:>10.2?}  p99 {:>10.2?}  (n={})",
        at(50),
        at(99),
        samples.len()
    );
    at(50)
}

fn main() {
    let dir = chiaro_test_support::vectors::dir();
    let text = std::fs::read_to_string(
        dir.join("k8s-manifests/microservices-demo/kubernetes-manifests.yaml"),
    )
    .unwrap();
    let files = vec![SourceFile {
        name: "kubernetes-manifests.yaml".to_owned(),
        text: text.clone(),
    }];
    let options = DeploymentOptions {
        all_workloads: true,
        runtime_class: "chiaro-cc".to_owned(),
        initializer_image: "ghcr.io/chiaro-dev/chiaro-initializer:0.1.0".to_owned(),
        mesh_image: "ghcr.io/chiaro-dev/chiaro-mesh:0.1.0".to_owned(),
        volume_image: "ghcr.io/chiaro-dev/chiaro-volume:0.1.0".to_owned(),
        coordinator: "chiaro-coordinator:7777".to_owned(),
        namespace: chiaro_k8s::Namespace::default(),
        policy: GenerateOptions::default(),
    };
    let pins: BTreeMap<String, ImagePin> = images_to_resolve(&files, &options)
        .unwrap()
        .into_iter()
        .map(|image| {
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(image.as_bytes())));
            let pinned = match image.split_once('@') {
                Some(_) => image.clone(),
                None => format!("{image}@{digest}"),
            };
            let pin = ImagePin {
                pinned: pinned.clone(),
                config: ImageConfig {
                    reference: pinned,
                    entrypoint: vec!["/app".to_owned()],
                    user: "1000".to_owned(),
                    ..ImageConfig::default()
                },
            };
            (image, pin)
        })
        .collect();
    let workloads = generate_deployment(&files, &pins, &ExistingManifest::default(), &options)
        .unwrap()
        .workloads
        .len();
    println!(
        "Online Boutique: {} bytes of YAML, {workloads} workloads, {} images",
        text.len(),
        pins.len()
    );

    let parse_write = report(
        "parse and write the YAML (every document re-serialised)",
        (0..100)
            .map(|_| {
                let start = Instant::now();
                let documents = read_documents("k.yaml", &text).unwrap();
                let values: Vec<serde_json::Value> = documents
                    .iter()
                    .map(|d| {
                        let mut v = d.value.clone();
                        v["touched"] = serde_json::Value::Bool(true);
                        v
                    })
                    .collect();
                black_box(write_documents("k.yaml", &text, &documents, &values).unwrap());
                start.elapsed()
            })
            .collect(),
    );
    let generate = report(
        "generate the deployment (warm: images resolved)",
        (0..30)
            .map(|_| {
                let start = Instant::now();
                black_box(
                    generate_deployment(&files, &pins, &ExistingManifest::default(), &options)
                        .unwrap(),
                );
                start.elapsed()
            })
            .collect(),
    );
    println!(
        "generate / parse-and-write: {:.1}x",
        generate.as_secs_f64() / parse_write.as_secs_f64()
    );
}
