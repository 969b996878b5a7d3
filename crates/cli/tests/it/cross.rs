//! The CLI built for the other operating systems by `scripts/cross`. The Windows `chiaro.exe`
//! runs here under Debian's wine64 and must give what the Linux binary gives: the same exit
//! codes and JSON for real evidence, the same bytes from `generate`, the same policy decisions
//! (`set` and `verify` against a Linux Coordinator are in the Coordinator's tests, `cross.rs`).
//! The macOS and aarch64 Linux binaries cannot run on this x86_64 Linux machine: only their
//! headers are checked (`file`), and the static x86_64 Linux one is run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chiaro_test_support::cross::windows_chiaro;
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use chiaro_test_support::prerequisite::{CROSS_TARGETS, Prerequisite, cross_binary};
use chiaro_test_support::snp_cases::SNP_CASES;
use chiaro_test_support::tdx_sets::TDX_SETS;
use chiaro_test_support::vectors;
use serde_json::json;

use super::evidence_verify::{snp_args, tdx_args};
use super::generate_real_apps::{
    copy_with_stand_ins, generate_args as real_apps_generate_args, yaml_files,
};
use super::{path_str, scratch_file};

/// What a run printed and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Ran {
    code: Option<i32>,
    stdout: String,
}

fn ran(output: &Output) -> Ran {
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn linux(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chiaro"))
        .args(args)
        .output()
        .unwrap()
}

fn windows(args: &[String]) -> Output {
    windows_chiaro().args(args).output().unwrap()
}

/// Runs `args` on Linux and under wine; both must print the same and exit alike.
fn same_on_both(what: &str, args: &[String]) -> Ran {
    let on_linux = ran(&linux(args));
    let on_windows = ran(&windows(args));
    assert_eq!(
        on_windows, on_linux,
        "{what}: Windows (left) and Linux (right) differ"
    );
    on_linux
}

#[test]
fn needs_cross_needs_vectors_evidence_verify_gives_the_linux_json_and_exit_codes_on_windows() {
    let dir = vectors::dir();
    let mut codes = BTreeMap::new();
    for case in SNP_CASES {
        let run = same_on_both(&format!("SNP row {}", case.row), &snp_args(&case, &dir));
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap();
        *codes.entry(run.code).or_insert(0) += 1;
    }
    for set in &TDX_SETS {
        let run = same_on_both(&format!("TDX set {}", set.name), &tdx_args(set, &dir));
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap();
        *codes.entry(run.code).or_insert(0) += 1;
    }
    // The vectors hold verified, rejected and unavailable evidence: every outcome was compared.
    for code in [0, 3, 4] {
        assert!(
            codes.contains_key(&Some(code)),
            "no vector exits {code}: {codes:?}"
        );
    }
}

#[test]
fn needs_cross_needs_vectors_policy_eval_decides_on_windows_as_on_linux() {
    let (policy, requests) = super::policy::gid_case_files();
    let mut decided = Vec::new();
    for request in &requests {
        let args = [
            "--output",
            "json",
            "policy",
            "eval",
            "--policy",
            path_str(&policy),
            "--request",
            path_str(request),
        ]
        .map(str::to_owned);
        decided.push(same_on_both(&request.display().to_string(), &args).code);
    }
    assert_eq!(
        decided,
        [Some(0), Some(3)],
        "the case's allowed and denied requests"
    );
}

/// The images `generate` pinned in the YAML files of `dir`: each reference as written before,
/// and pinned.
fn pinned_images(dir: &Path) -> BTreeMap<String, String> {
    let mut pinned = BTreeMap::new();
    for file in yaml_files(dir) {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let Some(image) = line.trim().strip_prefix("image: ") else {
                continue;
            };
            let image = image.trim_matches('"');
            if let Some((reference, _)) = image.split_once('@') {
                pinned.insert(reference.to_owned(), image.to_owned());
            }
        }
    }
    pinned
}

/// Every file under `dir` (one level), by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn needs_cross_needs_registry_generate_of_emojivoto_from_a_filled_cache_writes_the_linux_bytes_on_windows()
 {
    let root = std::env::temp_dir().join(format!("chiaro-cross-generate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cache = root.join("cache");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto");

    // Fill the cache: generate once against a registry holding stand-ins of every image.
    let registry = OciRegistry::start(&Access::Open);
    let chiaro_config =
        |cmd: &str| json!({"os": "linux", "architecture": "amd64", "config": {"Cmd": [cmd]}});
    registry.push_image("chiaro/initializer", "0.1", &chiaro_config("/initializer"));
    registry.push_image("chiaro/mesh", "0.1", &chiaro_config("/mesh"));
    let online = root.join("online");
    copy_with_stand_ins(&registry, &example, &online, &[]);
    // The input as it was before generate rewrote it, for the offline runs below.
    let source = files(&online);
    let filled = linux(&real_apps_generate_args(
        &registry,
        &online,
        &cache,
        &["--mesh-image", "chiaro/mesh:0.1"],
    ));
    assert!(filled.status.success(), "{filled:?}");
    drop(registry);

    // The same application with every image pinned as that run pinned it: generate needs no
    // registry now, only the cache.
    let pinned = pinned_images(&online);
    let offline_args = |dir: &Path| {
        generate_args(
            dir,
            &cache,
            &[
                "--offline".to_owned(),
                "--initializer-image".to_owned(),
                pinned["chiaro/initializer:0.1"].clone(),
                "--mesh-image".to_owned(),
                pinned["chiaro/mesh:0.1"].clone(),
            ],
        )
    };
    let on = |system: &str| {
        let dir = root.join(system);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &source {
            let mut text = String::from_utf8(bytes.clone()).unwrap();
            for (reference, image) in &pinned {
                text = text.replace(
                    &format!("image: {reference}\n"),
                    &format!("image: {image}\n"),
                );
            }
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    };
    let (linux_dir, windows_dir) = (on("linux"), on("windows"));
    let before = files(&linux_dir);
    let on_linux = linux(&offline_args(&linux_dir));
    assert!(on_linux.status.success(), "{on_linux:?}");
    let on_windows = windows(&offline_args(&windows_dir));
    assert!(on_windows.status.success(), "{on_windows:?}");

    let (linux_files, windows_files) = (files(&linux_dir), files(&windows_dir));
    assert_ne!(linux_files, before, "generate rewrote the application");
    assert!(
        linux_files.contains_key("manifest.json"),
        "{:?}",
        linux_files.keys()
    );
    for (name, bytes) in &linux_files {
        assert!(
            windows_files.get(name) == Some(bytes),
            "{name}: Windows wrote other bytes than Linux"
        );
    }
    assert_eq!(windows_files.len(), linux_files.len());
    std::fs::remove_dir_all(root).unwrap();
}

/// `generate DIR` with its manifest in `DIR`, the cache `cache` and `extra` flags.
fn generate_args(dir: &Path, cache: &Path, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["generate", "--cache-dir", path_str(cache), "-m"]
        .map(str::to_owned)
        .to_vec();
    args.push(path_str(&dir.join("manifest.json")).to_owned());
    args.extend_from_slice(extra);
    args.push(path_str(dir).to_owned());
    args
}

#[test]
fn needs_cross_on_windows_version_names_its_target_and_local_mode_needs_linux() {
    let version = windows(&[
        "--output".to_owned(),
        "json".to_owned(),
        "version".to_owned(),
    ]);
    assert!(version.status.success(), "{version:?}");
    let report: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    assert_eq!(report["target"], "x86_64-pc-windows-gnu", "{report}");
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));

    let app = scratch_file(
        "cross-local.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    );
    let local = windows(&[
        "local".to_owned(),
        "run".to_owned(),
        path_str(&app).to_owned(),
    ]);
    assert_eq!(local.status.code(), Some(64), "{local:?}");
    let stderr = String::from_utf8_lossy(&local.stderr);
    assert!(
        stderr.contains("chiaro local needs Linux") && stderr.contains("windows"),
        "{stderr}"
    );
}

#[test]
fn needs_cross_every_target_has_its_binary_format_and_the_static_linux_one_runs() {
    Prerequisite::Cross.require();
    let expected: [(&str, &[&str]); 5] = [
        (
            "x86_64-unknown-linux-musl",
            &["ELF 64-bit LSB", "x86-64", "static"],
        ),
        (
            "aarch64-unknown-linux-musl",
            &["ELF 64-bit LSB", "ARM aarch64", "static"],
        ),
        ("x86_64-apple-darwin", &["Mach-O 64-bit x86_64 executable"]),
        ("aarch64-apple-darwin", &["Mach-O 64-bit arm64 executable"]),
        ("x86_64-pc-windows-gnu", &["PE32+ executable", "x86-64"]),
    ];
    assert_eq!(expected.map(|(target, _)| target), CROSS_TARGETS);
    for (target, words) in expected {
        let binary = cross_binary(target);
        let file = Command::new("file")
            .arg("-b")
            .arg(&binary)
            .output()
            .unwrap();
        let kind = String::from_utf8_lossy(&file.stdout);
        for word in words {
            assert!(kind.contains(word), "{target}: {kind}");
        }
    }
    // The macOS binaries and the aarch64 one cannot run on this machine; the x86_64 static
    // Linux one can, with no library of this system's.
    let musl: PathBuf = cross_binary("x86_64-unknown-linux-musl");
    let version = Command::new(musl)
        .args(["--output", "json", "version"])
        .output()
        .unwrap();
    assert!(version.status.success(), "{version:?}");
    let report: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    assert_eq!(report["target"], "x86_64-unknown-linux-musl", "{report}");
}
