//! `chiaro policy eval` and `show` on a policy generated for Kata's `createcontainer/gid` case,
//! with that case's real requests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chiaro_k8s::{ConfigSources, Document, Workload, read_documents};
use chiaro_policy::{AgentPolicy, GenerateOptions, ImageConfig, Initdata, generate};
use chiaro_test_support::genpolicy_cases::{CASES_DIR, image_configs};
use chiaro_test_support::vectors;

const GID_CASE: &str = "createcontainer/gid";
use serde_json::Value;

use super::{chiaro, path_str, scratch_file};

/// The case's pod YAML and the policy generated for it.
fn case() -> (String, AgentPolicy, Vec<Value>) {
    let dir = vectors::dir();
    let yaml =
        std::fs::read_to_string(dir.join(CASES_DIR).join(GID_CASE).join("pod.yaml")).unwrap();
    let documents = read_documents("pod.yaml", &yaml).unwrap();
    let images: BTreeMap<String, ImageConfig> = serde_json::from_value(image_configs()).unwrap();
    let policy = policy_of(&documents[0], &images);
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join(CASES_DIR).join(GID_CASE).join("testcases.json"))
            .unwrap(),
    )
    .unwrap();
    (yaml, policy, cases)
}

/// The policy `generate` writes for the workload `document`, with `images` as configurations.
fn policy_of(document: &Document, images: &BTreeMap<String, ImageConfig>) -> AgentPolicy {
    let workload = Workload::from_document(document).unwrap().unwrap();
    let generated = generate(
        document,
        &workload,
        images,
        &ConfigSources::default(),
        &GenerateOptions::default(),
    )
    .unwrap();
    AgentPolicy::new(&generated.data).unwrap()
}

/// The case's generated policy and its allowed and denied request, as files for `policy eval`.
pub(super) fn gid_case_files() -> (PathBuf, [PathBuf; 2]) {
    let (_, policy, cases) = case();
    (
        scratch_file("gid.rego", policy.text()),
        [
            scratch_file("gid-allowed.json", &cases[0].to_string()),
            scratch_file("gid-denied.json", &cases[1].to_string()),
        ],
    )
}

#[test]
fn needs_vectors_eval_allows_the_real_request_and_explains_the_denial() {
    let (policy_file, requests) = gid_case_files();
    let [allowed, denied] = &requests;
    let (code, stdout, stderr) = chiaro(&[
        "policy",
        "eval",
        "--policy",
        path_str(&policy_file),
        "--request",
        path_str(allowed),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["kind"], "allowed");
    assert_eq!(result["fields"]["state"]["created"]["gid"], "gid");

    let (code, stdout, _) = chiaro(&[
        "policy",
        "eval",
        "--policy",
        path_str(&policy_file),
        "--request",
        path_str(denied),
    ]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("user: OCI.Process.User.AdditionalGids"),
        "{stdout}"
    );
}

#[test]
fn needs_vectors_eval_reads_the_policy_from_the_initdata_annotation() {
    let (yaml, policy, cases) = case();
    let annotation = Initdata::for_policy(policy.text()).unwrap().to_annotation();
    let annotated = yaml.replacen(
        "metadata:\n",
        &format!("metadata:\n  annotations:\n    io.katacontainers.config.hypervisor.cc_init_data: \"{annotation}\"\n"),
        1,
    );
    let workload = scratch_file("gid-annotated.yaml", &annotated);
    let request = scratch_file("gid-request.json", &cases[0]["request"].to_string());
    let (code, stdout, stderr) = chiaro(&[
        "policy",
        "eval",
        "--from-yaml",
        path_str(&workload),
        "--request",
        path_str(&request),
        "--kind",
        "CreateContainerRequest",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    let (code, stdout, _) = chiaro(&[
        "policy",
        "show",
        "--from-yaml",
        path_str(&workload),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    let hash = Initdata::from_annotation(&annotation)
        .unwrap()
        .policy_hash()
        .to_string();
    assert_eq!(shown["fields"]["policy_hash"], hash);
    assert_eq!(
        shown["fields"]["containers"]["gid"]["args"][0],
        "/entrypoint.sh"
    );
}

#[test]
fn needs_vectors_bad_input_is_a_usage_error_that_names_it() {
    let dir = vectors::dir();
    let pod = dir.join(CASES_DIR).join(GID_CASE).join("pod.yaml");
    let request = scratch_file("empty.json", "{}");
    let (code, _, stderr) = chiaro(&[
        "policy",
        "eval",
        "--from-yaml",
        path_str(&pod),
        "--request",
        path_str(&request),
        "--kind",
        "CreateContainerRequest",
    ]);
    // Not generated yet: its images must be resolved, and the registry is unreachable here: a
    // network failure (1), not bad input.
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("could not be resolved") && stderr.contains("weird-images/gid"),
        "{stderr}"
    );

    let policy = scratch_file("trivial.rego", "package agent_policy\n");
    let not_json = scratch_file("not.json", "{\"kind\": ");
    let (code, _, stderr) = chiaro(&[
        "policy",
        "eval",
        "--policy",
        path_str(&policy),
        "--request",
        path_str(&not_json),
    ]);
    assert_eq!(code, 64);
    assert!(stderr.contains("is not JSON"), "{stderr}");
    let (code, _, stderr) = chiaro(&[
        "policy",
        "eval",
        "--policy",
        path_str(&policy),
        "--request",
        path_str(&request),
    ]);
    assert_eq!(code, 64);
    assert!(stderr.contains("give --kind"), "{stderr}");
}

/// A file with two Pods, `alpha` and `beta`, each carrying the policy generated for it in its
/// initdata annotation (no registry needed), and their policy hashes.
fn two_annotated_workloads() -> (PathBuf, BTreeMap<String, String>) {
    let mut text = String::new();
    let mut hashes = BTreeMap::new();
    for name in ["alpha", "beta"] {
        let image = format!("example/{name}@sha256:{}", "ab".repeat(32));
        let pod = |annotations: &str| {
            format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{annotations}spec:\n  containers:\n  - name: {name}\n    image: {image}\n"
            )
        };
        let documents = read_documents("pods.yaml", &pod("")).unwrap();
        let images = BTreeMap::from([(
            image.clone(),
            ImageConfig {
                reference: image.clone(),
                cmd: vec![format!("/{name}")],
                user: "1000".to_owned(),
                ..ImageConfig::default()
            },
        )]);
        let policy = policy_of(&documents[0], &images);
        let initdata = Initdata::for_policy(policy.text()).unwrap();
        hashes.insert(name.to_owned(), initdata.policy_hash().to_string());
        text.push_str(&pod(&format!(
            "  annotations:\n    io.katacontainers.config.hypervisor.cc_init_data: \"{}\"\n",
            initdata.to_annotation()
        )));
    }
    (scratch_file("two-pods.yaml", &text), hashes)
}

#[test]
fn show_and_eval_take_the_documented_from_yaml_and_workload_form() {
    let (pods, hashes) = two_annotated_workloads();
    assert_ne!(hashes["alpha"], hashes["beta"]);
    for name in ["alpha", "beta"] {
        let (code, stdout, stderr) = chiaro(&[
            "policy",
            "show",
            "--from-yaml",
            path_str(&pods),
            "--workload",
            name,
            "--output",
            "json",
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        let shown: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(shown["fields"]["policy_hash"], hashes[name], "{name}");
        assert_eq!(
            shown["fields"]["containers"][name]["args"][0],
            format!("/{name}")
        );
    }
    let request = scratch_file(
        "metrics-request.json",
        r#"{"kind": "GetMetricsRequest", "request": {}}"#,
    );
    let eval = |workload: Option<&str>| {
        let mut args = vec![
            "policy",
            "eval",
            "--from-yaml",
            path_str(&pods),
            "--request",
            path_str(&request),
        ];
        if let Some(name) = workload {
            args.extend(["--workload", name]);
        }
        chiaro(&args)
    };
    let (code, stdout, stderr) = eval(Some("beta"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("allowed"), "{stdout}");
    // The flag is read: without it two workloads are ambiguous, with a name not in the file
    // nothing is chosen.
    let (code, _, stderr) = eval(None);
    assert_eq!(code, 64);
    assert!(stderr.contains("choose one with --workload"), "{stderr}");
    let (code, _, stderr) = eval(Some("gamma"));
    assert_eq!(code, 64);
    assert!(stderr.contains("no workload \"gamma\""), "{stderr}");
}

#[test]
fn conflicting_policy_sources_are_usage_errors() {
    let (pods, _) = two_annotated_workloads();
    let policy = scratch_file("conflict.rego", "package agent_policy\n");
    let request = scratch_file("conflict-request.json", "{}");
    let (pods, policy, request) = (path_str(&pods), path_str(&policy), path_str(&request));
    let cases: [(&[&str], &str); 3] = [
        (
            &["--policy", policy, "--from-yaml", pods],
            "cannot be used with",
        ),
        (
            &["--policy", policy, "--workload", "alpha"],
            "cannot be used with",
        ),
        (&["--workload", "alpha"], "required"),
    ];
    for subcommand in ["show", "eval"] {
        for (source, expected) in cases {
            let mut args = vec!["policy", subcommand];
            args.extend_from_slice(source);
            if subcommand == "eval" {
                args.extend(["--request", request]);
            }
            let (code, stdout, stderr) = chiaro(&args);
            assert_eq!(code, 64, "{args:?}: {stdout}{stderr}");
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
        }
    }
}
