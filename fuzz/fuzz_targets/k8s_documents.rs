//! Kubernetes YAML: reading never panics, workload parsing never panics, and what is written
//! back (unchanged, and changed so it is re-serialised) reads back to the same values; an error
//! narrowed to its field (`K8sError::at_field`, which reads the text again) never panics and
//! points inside the text.
#![no_main]

use chiaro_k8s::{Workload, read_documents, write_documents};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(documents) = read_documents("fuzz.yaml", text) else { return };
    let lines = text.lines().count().max(1);
    for document in &documents {
        if let Err(error) = Workload::from_document(document) {
            let before = error.to_string();
            let narrowed = error.at_field(text).to_string();
            let (place, _) = narrowed.split_once(": ").unwrap_or((&narrowed, ""));
            let line: usize = place.split(':').nth(1).and_then(|l| l.parse().ok()).unwrap_or(1);
            assert!(line <= lines.saturating_add(1), "{narrowed} (was {before})");
        }
    }
    let values: Vec<serde_json::Value> = documents.iter().map(|d| d.value.clone()).collect();
    let written = write_documents("fuzz.yaml", text, &documents, &values).expect("JSON values serialise");
    let again = read_documents("fuzz.yaml", &written).expect("written YAML reads back");
    let again: Vec<serde_json::Value> = again.into_iter().map(|d| d.value).collect();
    assert_eq!(again, values, "unchanged documents round-trip");

    let changed: Vec<serde_json::Value> = values
        .iter()
        .map(|value| match value {
            serde_json::Value::Object(map) => {
                let mut map = map.clone();
                map.insert("chiaro-fuzz".to_owned(), serde_json::Value::String("yes".to_owned()));
                serde_json::Value::Object(map)
            }
            other => other.clone(),
        })
        .collect();
    let written = write_documents("fuzz.yaml", text, &documents, &changed).expect("JSON values serialise");
    let again = read_documents("fuzz.yaml", &written).expect("re-serialised YAML reads back");
    let again: Vec<serde_json::Value> = again.into_iter().map(|d| d.value).collect();
    assert_eq!(again, changed, "changed documents round-trip");
});
