//! Conformance with real Kata agent requests: for each case of Kata's genpolicy test data
//! (`../shared/testdata/genpolicy/`), generate Chiaro's policy from the case's pod YAML and
//! evaluate its `testcases.json` in order against one evaluator (policy state carries over), as
//! upstream does. Every decision must match, except the deviations listed below with reasons.
//!
//! The images these cases name are not reachable here; their configurations come from
//! `chiaro_test_support::genpolicy_cases`.

#![expect(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::collections::BTreeMap;
use std::path::Path;

use chiaro_k8s::{ConfigSources, Workload, read_documents};
use chiaro_policy::{AgentPolicy, Evaluator, GenerateOptions, ImageConfig, generate};
use chiaro_test_support::{genpolicy_cases, vectors};

fn image_fixtures() -> BTreeMap<String, ImageConfig> {
    serde_json::from_value(genpolicy_cases::image_configs()).unwrap()
}

/// Cases where Chiaro's policy decides differently from Kata's, on purpose.
/// (case directory, description) → reason.
/// Each is a hand-written request that no real runtime sends, which Chiaro's stricter rules
/// (presence of every pinned variable and mount, one live instance of each container, the
/// kubelet's OOM score adjustments) refuse. The printed denials name every rule each breaks.
const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "createcontainer/gpu_vfio_cdi",
        "Valid: Cold-plug - empty devices array with 2 CDI annotations matching policy",
        "the case creates gpu-container a second time in the same sandbox while the hot-plug \
         case's instance is live, with the same id and bundle; Chiaro allows one live instance \
         and never reuses an id or bundle",
    ),
    (
        "createcontainer/network_namespace",
        "same network namespace",
        "the case creates the sandbox container a second time while the first is live, on the \
         same bundle",
    ),
    (
        "createcontainer/volumes/config_map",
        "CreateContainer with config map volume",
        "the hand-written request has no Env at all (Chiaro requires the image's PATH), omits \
         the pod's /config mount and OOMScoreAdj (0 is no value the kubelet gives)",
    ),
    (
        "createcontainer/volumes/emptydir",
        "volumeMount: valid mount structure",
        "the hand-written request has no Env at all, omits the pod's /mnt/test4 mount and \
         OOMScoreAdj, and mounts one emptyDir volume from three block devices",
    ),
    (
        "createcontainer/volumes/emptydir",
        "volumeMount: valid mount destination(s)",
        "the hand-written request has no Env at all, omits two of the pod's mounts (Chiaro \
         requires every mount the pod spec gives) and OOMScoreAdj",
    ),
    (
        "createcontainer/volumes/container_image",
        "CreateContainer with a container image having volumes",
        "the request carries genpolicy's placeholders ($(default_caps), $(host-name)) as values \
         and omits OOMScoreAdj; Chiaro compares real capability names and values",
    ),
    (
        "state/execprocess",
        "create container request for first container",
        "the request omits CONTAINER_NAME, which the pod spec sets (Chiaro requires every \
         variable the pod spec sets), and has the pause container's OOMScoreAdj (-998)",
    ),
    (
        "state/execprocess",
        "create container request for second container",
        "the request omits CONTAINER_NAME, which the pod spec sets, and has OOMScoreAdj -998",
    ),
    (
        "state/execprocess",
        "test exec process in first container with correct args",
        "follows from the refused creation above: exec needs a live container",
    ),
];

struct Outcome {
    case: String,
    description: String,
    expected: bool,
    denials: Vec<String>,
}

fn run_case(dir: &Path, case: &str) -> (usize, Vec<Outcome>) {
    let mut yaml = std::fs::read_to_string(dir.join("pod.yaml")).unwrap();
    if let Ok(extra) = std::fs::read_to_string(dir.join("config_map.yaml")) {
        yaml.push_str("\n---\n");
        yaml.push_str(&extra);
    }
    let documents = read_documents("pod.yaml", &yaml).unwrap();
    let mut config = ConfigSources::default();
    for document in &documents {
        config.add(document).unwrap();
    }
    let (document, workload) = documents
        .iter()
        .find_map(|d| Workload::from_document(d).unwrap().map(|w| (d, w)))
        .unwrap();
    let generated = generate(
        document,
        &workload,
        &image_fixtures(),
        &config,
        &GenerateOptions::default(),
    )
    .unwrap_or_else(|error| panic!("{case}: generate: {error}"));
    let policy = AgentPolicy::new(&generated.data).unwrap();
    let mut evaluator = Evaluator::new(&policy).unwrap();
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testcases.json")).unwrap())
            .unwrap();
    let mut mismatches = Vec::new();
    for test in &cases {
        let kind = test["kind"].as_str().unwrap();
        let expected = test["allowed"].as_bool().unwrap();
        let decision = evaluator.evaluate(kind, &test["request"]).unwrap();
        if !decision.allowed {
            assert!(
                !decision.denials.is_empty(),
                "{case} / {}: a denial must name the rule and field",
                test["description"]
            );
        }
        if decision.allowed != expected {
            mismatches.push(Outcome {
                case: case.to_owned(),
                description: test["description"].as_str().unwrap().to_owned(),
                expected,
                denials: decision.denials,
            });
        }
    }
    (cases.len(), mismatches)
}

fn case_dirs(root: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            case_dirs(&path, found);
        } else if path.file_name().is_some_and(|n| n == "testcases.json") {
            found.push(root.to_owned());
        }
    }
}

#[test]
fn needs_vectors_every_kata_test_case_gets_the_expected_decision() {
    let testdata = vectors::dir();
    let root = testdata.join(genpolicy_cases::CASES_DIR);
    let mut dirs = Vec::new();
    case_dirs(&root, &mut dirs);
    dirs.sort();
    let mut total = 0;
    let mut mismatches = Vec::new();
    for dir in &dirs {
        let case = dir.strip_prefix(&root).unwrap().display().to_string();
        let (count, found) = run_case(dir, &case);
        total += count;
        mismatches.extend(found);
    }
    let mut unexplained = Vec::new();
    for outcome in &mismatches {
        let listed = DEVIATIONS.iter().any(|(case, description, _)| {
            *case == outcome.case && *description == outcome.description
        });
        if listed {
            eprintln!(
                "deviation {} / {}: {:?}",
                outcome.case, outcome.description, outcome.denials
            );
        } else {
            unexplained.push(format!(
                "{} / {}: expected {}, denials {:?}",
                outcome.case,
                outcome.description,
                if outcome.expected { "allow" } else { "deny" },
                outcome.denials
            ));
        }
    }
    for (case, description, _) in DEVIATIONS {
        assert!(
            mismatches
                .iter()
                .any(|o| o.case == *case && o.description == *description),
            "listed deviation {case} / {description} no longer deviates: remove it from the list"
        );
    }
    eprintln!(
        "{} Kata cases in {} directories: {} as expected, {} listed deviations",
        total,
        dirs.len(),
        total - mismatches.len(),
        DEVIATIONS.len()
    );
    assert_eq!(total, 108, "the README counts 108 cases");
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}
