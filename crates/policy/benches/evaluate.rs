//! Policy evaluation time (`cargo bench -p chiaro-policy`): loading a generated policy into
//! regorus, and evaluating a real CreateContainerRequest (Kata's `createcontainer/gid` case) on
//! fresh policy state, as the agent does once per container. Prints p50 and p99. Needs
//! `../shared/testdata` (or `CHIARO_TESTDATA`).

#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark prints its numbers"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chiaro_k8s::{ConfigSources, Workload, read_documents};
use chiaro_policy::{AgentPolicy, Evaluator, GenerateOptions, ImageConfig, generate};
use chiaro_test_support::genpolicy_cases::{CASES_DIR, image_configs};

const GID_CASE: &str = "createcontainer/gid";

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    println!(
        "{name:<48} p50 {:>10.1?}  p99 {:>10.1?}  (n={})",
        at(50),
        at(99),
        samples.len()
    );
}

fn main() {
    let dir = chiaro_test_support::vectors::dir();
    let yaml =
        std::fs::read_to_string(dir.join(CASES_DIR).join(GID_CASE).join("pod.yaml")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join(CASES_DIR).join(GID_CASE).join("testcases.json"))
            .unwrap(),
    )
    .unwrap();
    let request = &cases[0]["request"];
    let images: BTreeMap<String, ImageConfig> = serde_json::from_value(image_configs()).unwrap();
    let documents = read_documents("pod.yaml", &yaml).unwrap();
    let workload = Workload::from_document(&documents[0]).unwrap().unwrap();
    let config = ConfigSources::default();
    let options = GenerateOptions::default();

    let samples = (0..200)
        .map(|_| {
            let start = Instant::now();
            black_box(generate(&documents[0], &workload, &images, &config, &options).unwrap());
            start.elapsed()
        })
        .collect();
    report("generate policy data (one pod)", samples);

    let policy = AgentPolicy::new(
        &generate(&documents[0], &workload, &images, &config, &options)
            .unwrap()
            .data,
    )
    .unwrap();
    let samples = (0..100)
        .map(|_| {
            let start = Instant::now();
            black_box(Evaluator::new(&policy).unwrap());
            start.elapsed()
        })
        .collect();
    report("load policy into regorus", samples);

    let mut evaluator = Evaluator::new(&policy).unwrap();
    let samples = (0..1000)
        .map(|_| {
            evaluator.set_state(serde_json::json!({})).unwrap();
            let start = Instant::now();
            let decision = evaluator
                .evaluate("CreateContainerRequest", request)
                .unwrap();
            let elapsed = start.elapsed();
            assert!(decision.allowed);
            elapsed
        })
        .collect();
    report("CreateContainerRequest, allowed", samples);

    let denied = &cases[1]["request"];
    let samples = (0..1000)
        .map(|_| {
            evaluator.set_state(serde_json::json!({})).unwrap();
            let start = Instant::now();
            let decision = evaluator
                .evaluate("CreateContainerRequest", denied)
                .unwrap();
            let elapsed = start.elapsed();
            assert!(!decision.allowed);
            elapsed
        })
        .collect();
    report("CreateContainerRequest, denied (with reasons)", samples);
}
