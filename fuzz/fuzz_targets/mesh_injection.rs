//! The mesh annotations and probe moving: parsing any text as an annotation never panics; any
//! JSON pod spec that takes the mesh sidecar takes it again unchanged (idempotent), and taking
//! the sidecar away leaves no probe pointing at the proxy's status port.
#![no_main]

use chiaro_k8s::mesh_annotations::{parse_egress, parse_ingress};
use chiaro_k8s::probes::APP_HEALTH_PREFIX;
use chiaro_k8s::{DocumentId, Injection, MESH_STATUS_PORT, MeshSidecar, WorkloadKind, inject};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn injection(mesh: bool) -> Injection {
    Injection {
        initializer_image: "init@sha256:00".to_owned(),
        initializer_env: Vec::new(),
        mesh: mesh.then(|| MeshSidecar {
            image: "mesh@sha256:11".to_owned(),
            ingress: "web#8080".to_owned(),
            egress: String::new(),
        }),
        runtime_class: "chiaro-cc".to_owned(),
    }
}

fn points_at_the_proxy(document: &Value) -> bool {
    let spec = &document["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .filter_map(|list| spec[*list].as_array())
        .flatten()
        .flat_map(|c| ["livenessProbe", "readinessProbe", "startupProbe"].map(|k| &c[k]["httpGet"]))
        .any(|get| {
            get["port"].as_u64() == Some(u64::from(MESH_STATUS_PORT))
                && get["path"].as_str().is_some_and(|p| p.starts_with(APP_HEALTH_PREFIX))
        })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_ingress(text);
    let _ = parse_egress(text);
    let Ok(spec) = serde_json::from_str::<Value>(text) else { return };
    if points_at_the_proxy(&json!({"spec": {"template": {"spec": spec.clone()}}})) {
        return; // probes the user pointed at the proxy themselves: refused, tested elsewhere
    }
    let mut document = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "f"}, "spec": {"template": {"spec": spec}}});
    let at = DocumentId { file: "f.yaml".to_owned(), index: 0, item: None };
    let kind = WorkloadKind::Deployment;
    if inject(&mut document, kind, &injection(true), &at).is_err() {
        return;
    }
    let once = document.clone();
    inject(&mut document, kind, &injection(true), &at).expect("what took the sidecar takes it again");
    assert_eq!(document, once, "injecting twice changes nothing");
    inject(&mut document, kind, &injection(false), &at).expect("the sidecar can go");
    assert!(!points_at_the_proxy(&document), "every moved probe is restored: {document}");
});
