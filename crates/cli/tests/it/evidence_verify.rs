//! `chiaro evidence verify` gives each vector's README outcome as an exit code and JSON verdict.

use std::path::Path;

use chiaro_test_support::snp_cases::{Encoding, Expected, SNP_CASES, SnpCase};
use chiaro_test_support::tdx_sets::{TDX_SETS, TdxExpected, TdxSet};
use chiaro_test_support::vectors;
use serde_json::Value;

use crate::{chiaro, path_str, scratch_file};

/// `evidence verify snp` of `case` (in the vectors at `dir`), its JSON verdict asked for.
pub(super) fn snp_args(case: &SnpCase, dir: &Path) -> Vec<String> {
    let reference = scratch_file(
        &format!("snp-reference-{}.json", case.row),
        &format!(
            r#"{{"snp": [{{"allow_debug": {}, "allowed_vmpls": [{}]}}]}}"#,
            case.debug, case.vmpl
        ),
    );
    let offset = match case.encoding {
        Encoding::At(offset) => offset.to_string(),
        _ => "0".to_owned(),
    };
    let mut args = vec![
        "--output".to_owned(),
        "json".to_owned(),
        "evidence".to_owned(),
        "verify".to_owned(),
        "snp".to_owned(),
        "--report".to_owned(),
        path_str(&dir.join(case.report)).to_owned(),
        "--report-offset".to_owned(),
        offset,
        "--vcek".to_owned(),
        path_str(&dir.join(case.vek)).to_owned(),
        "--reference".to_owned(),
        path_str(&reference).to_owned(),
        "--at".to_owned(),
        case.at.to_owned(),
    ];
    if let Some(chain) = case.chain {
        args.extend(["--chain".to_owned(), path_str(&dir.join(chain)).to_owned()]);
    }
    args
}

/// `evidence verify tdx` of `set` (in the vectors at `dir`), its JSON verdict asked for.
pub(super) fn tdx_args(set: &TdxSet, dir: &Path) -> Vec<String> {
    let collateral = scratch_file(
        &format!("collateral-{}.json", set.name),
        &set.collateral_json(dir),
    );
    [
        "--output",
        "json",
        "evidence",
        "verify",
        "tdx",
        "--quote",
        path_str(&dir.join(set.quote)),
        "--collateral",
        path_str(&collateral),
        "--at",
        set.at,
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn needs_vectors_every_snp_vector_gives_its_exit_code() {
    let dir = vectors::dir();
    for case in SNP_CASES {
        let args = snp_args(&case, &dir);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = chiaro(&args);
        let json: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("row {}: {e}: {stdout} {stderr}", case.row));
        let (expected_code, expected_check) = match case.expected {
            Expected::Valid => (0, None),
            Expected::SignatureInvalid => (3, Some("snp.report_signature")),
            Expected::OtherChip => (3, Some("snp.vek_chip_id")),
        };
        assert_eq!(code, expected_code, "row {}: {stdout}", case.row);
        assert_eq!(
            json["error"]["check"].as_str(),
            expected_check,
            "row {}: {stdout}",
            case.row
        );
        if expected_code == 0 {
            assert_eq!(json["verdict"], "verified");
            assert_eq!(json["claims"]["platform"]["kind"], "snp");
        }
    }
}

#[test]
fn needs_vectors_an_expired_vlek_exits_4() {
    let dir = vectors::dir();
    let case = SNP_CASES[3];
    let reference = scratch_file(
        "vlek-reference.json",
        r#"{"snp": [{"allowed_vmpls": [1]}]}"#,
    );
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "evidence",
        "verify",
        "snp",
        "--report",
        path_str(&dir.join(case.report)),
        "--vcek",
        path_str(&dir.join(case.vek)),
        "--chain",
        path_str(&dir.join(case.chain.unwrap())),
        "--reference",
        path_str(&reference),
        "--at",
        "2026-11-26T00:00:00Z",
    ]);
    assert_eq!(code, 4, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["verdict"], "unavailable");
    assert_eq!(json["error"]["check"], "collateral.certificate_validity");
}

#[test]
fn needs_vectors_a_debug_guest_is_rejected_without_reference_values() {
    let dir = vectors::dir();
    let case = SNP_CASES[1];
    let (code, stdout, _) = chiaro(&[
        "evidence",
        "verify",
        "snp",
        "--report",
        path_str(&dir.join(case.report)),
        "--vcek",
        path_str(&dir.join(case.vek)),
        "--at",
        case.at,
    ]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("check: snp.reference.debug"), "{stdout}");
}

#[test]
fn needs_vectors_every_tdx_set_gives_its_exit_code() {
    let dir = vectors::dir();
    for set in &TDX_SETS {
        let args = tdx_args(set, &dir);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = chiaro(&args);
        let json: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("set {}: {e}: {stdout} {stderr}", set.name));
        let (expected_code, expected_check) = match set.expected {
            TdxExpected::UpToDate => (0, None),
            TdxExpected::NoMatchingTcbLevel => (3, Some("tdx.collateral_verification")),
            TdxExpected::RootCrlMissing => (4, Some("collateral.missing")),
            TdxExpected::TrailingBytesNotZero => (3, Some("tdx.quote_trailing_bytes")),
        };
        assert_eq!(code, expected_code, "set {}: {stdout}", set.name);
        assert_eq!(
            json["error"]["check"].as_str(),
            expected_check,
            "set {}: {stdout}",
            set.name
        );
    }
}

#[test]
fn needs_vectors_expired_tdx_collateral_exits_4() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let (code, stdout, _) = chiaro(&[
        "evidence",
        "verify",
        "tdx",
        "--quote",
        path_str(&dir.join(set.quote)),
        "--collateral",
        path_str(&dir.join("tdx/dcap-qvl/tdx_quote_collateral.json")),
        "--at",
        "2026-11-26T00:00:00Z",
    ]);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.starts_with("unavailable: "), "{stdout}");
}

#[test]
fn needs_vectors_hex_encoded_tdx_quote_is_detected() {
    let dir = vectors::dir();
    // tdx-quote.hex has set A's FMSPC but fails its TCB match (README, partial sets).
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "evidence",
        "verify",
        "tdx",
        "--quote",
        path_str(&dir.join("tdx/dcap-qvl/tdx-quote.hex")),
        "--collateral",
        path_str(&dir.join("tdx/dcap-qvl/tdx_quote_collateral.json")),
        "--at",
        TDX_SETS[0].at,
    ]);
    assert_eq!(code, 3, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["error"]["check"], "tdx.collateral_verification");
}

#[test]
fn needs_vectors_tdx_reference_values_are_applied() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let reference = scratch_file(
        "tdx-reference.json",
        &format!(r#"{{"tdx": [{{"mrtd": ["{}"]}}]}}"#, "00".repeat(48)),
    );
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "evidence",
        "verify",
        "tdx",
        "--quote",
        path_str(&dir.join(set.quote)),
        "--collateral",
        path_str(&dir.join("tdx/dcap-qvl/tdx_quote_collateral.json")),
        "--at",
        set.at,
        "--reference",
        path_str(&reference),
    ]);
    assert_eq!(code, 3, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["error"]["check"], "tdx.reference.mrtd");
}

#[test]
fn unreadable_or_malformed_inputs_exit_64() {
    let bad_reference = scratch_file("bad-reference.json", r#"{"snp": [{"allow_debgu": true}]}"#);
    let empty = scratch_file("empty.bin", "");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "evidence",
            "verify",
            "snp",
            "--report",
            "/nonexistent/report.bin",
        ],
        vec![
            "evidence",
            "verify",
            "snp",
            "--report",
            path_str(&empty),
            "--reference",
            path_str(&bad_reference),
        ],
        vec![
            "evidence",
            "verify",
            "snp",
            "--report",
            path_str(&empty),
            "--at",
            "yesterday",
        ],
        vec![
            "evidence",
            "verify",
            "tdx",
            "--quote",
            path_str(&empty),
            "--collateral",
            path_str(&empty),
        ],
        vec!["evidence", "verify", "snp"],
        vec!["evidence", "show"],
    ];
    for args in cases {
        let (code, stdout, stderr) = chiaro(&args);
        assert_eq!(code, 64, "{args:?}: {stdout} {stderr}");
    }
}

#[test]
fn a_truncated_report_is_rejected_not_a_usage_error() {
    let empty = scratch_file("short.bin", "\u{1}\u{2}\u{3}");
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "evidence",
        "verify",
        "snp",
        "--report",
        path_str(&empty),
    ]);
    assert_eq!(code, 3, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["error"]["check"], "format.length");
}

#[test]
fn simulated_evidence_verifies_only_with_the_insecure_root_flag() {
    let out = std::env::temp_dir().join(format!("chiaro-cli-sim-{}", std::process::id()));
    let (code, _, stderr) = chiaro(&["evidence", "simulate-insecure", "--out", path_str(&out)]);
    assert_eq!(code, 0, "{stderr}");
    let report = out.join("report.bin");
    let chain = out.join("vcek-chain.pem");
    let root = out.join("insecure-simulated-ark.pem");
    let reference = out.join("reference.json");
    let base = [
        "--output",
        "json",
        "evidence",
        "verify",
        "snp",
        "--report",
        path_str(&report),
        "--vcek",
        path_str(&chain),
        "--reference",
        path_str(&reference),
    ];

    let mut with_root = base.to_vec();
    with_root.extend(["--insecure-simulated-root", path_str(&root)]);
    let (code, stdout, _) = chiaro(&with_root);
    assert_eq!(code, 0, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["claims"]["platform"]["kind"], "insecure_simulated");
    assert!(json["notes"].to_string().contains("INSECURE"), "{stdout}");

    let (code, stdout, _) = chiaro(&base[..base.len() - 2]);
    assert_eq!(code, 3, "without the flag AMD's roots refuse it: {stdout}");
    let (code, stdout, _) = chiaro(&base);
    assert_eq!(code, 64, "{stdout}");
    assert!(
        stdout.contains("the reference values have no snp set for this evidence"),
        "the file has only the simulated root's set: {stdout}"
    );

    let mut tampered = std::fs::read(&report).unwrap();
    tampered[0x90] ^= 0xFF;
    let tampered_path = out.join("tampered.bin");
    std::fs::write(&tampered_path, tampered).unwrap();
    let mut args = with_root.clone();
    args[6] = path_str(&tampered_path);
    let (code, stdout, _) = chiaro(&args);
    assert_eq!(code, 3, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["error"]["check"], "snp.report_signature");
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn simulated_reference_values_are_one_format_for_generate_the_manifest_and_evidence_verify() {
    let out = std::env::temp_dir().join(format!("chiaro-cli-one-format-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (code, _, stderr) = chiaro(&["evidence", "simulate-insecure", "--out", path_str(&out)]);
    assert_eq!(code, 0, "{stderr}");
    let reference = out.join("reference.json");

    // generate takes the file as it is (no workload here: no image to resolve).
    let config_map = out.join("config.yaml");
    std::fs::write(
        &config_map,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .unwrap();
    let manifest = out.join("manifest.json");
    let (code, stdout, stderr) = chiaro(&[
        "generate",
        "--reference",
        path_str(&reference),
        "-m",
        path_str(&manifest),
        path_str(&config_map),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
    assert_eq!(
        written["reference_values"], file,
        "the manifest holds the file's object"
    );

    // evidence verify takes the manifest's reference_values object, with any number of sets.
    let verify = |values: &Value| {
        let path = out.join("values.json");
        std::fs::write(&path, values.to_string()).unwrap();
        let (code, stdout, _) = chiaro(&[
            "--output",
            "json",
            "evidence",
            "verify",
            "snp",
            "--report",
            path_str(&out.join("report.bin")),
            "--vcek",
            path_str(&out.join("vcek-chain.pem")),
            "--insecure-simulated-root",
            path_str(&out.join("insecure-simulated-ark.pem")),
            "--reference",
            path_str(&path),
        ]);
        (code, serde_json::from_str::<Value>(&stdout).unwrap())
    };
    let (code, verdict) = verify(&written["reference_values"]);
    assert_eq!(code, 0, "{verdict}");
    let good = file["insecure_simulated"][0].clone();
    let mut wrong = good.clone();
    wrong["values"]["host_data"] = Value::String("00".repeat(32));
    let (code, verdict) = verify(&serde_json::json!({"insecure_simulated": [wrong, good]}));
    assert_eq!(code, 0, "one set accepting it is enough: {verdict}");
    let mut also_wrong = wrong.clone();
    also_wrong["values"]["measurements"] = serde_json::json!(["00".repeat(48)]);
    let (code, verdict) = verify(&serde_json::json!({"insecure_simulated": [wrong, also_wrong]}));
    assert_eq!(code, 3, "{verdict}");
    let notes = verdict["notes"].to_string();
    assert!(
        notes.contains("reference set 0 refused it: ")
            && notes.contains("reference set 1 refused it: "),
        "each set's reason: {notes}"
    );
    assert!(notes.contains("snp.reference.host_data"), "{notes}");
    assert!(notes.contains("snp.reference.measurement"), "{notes}");
    std::fs::remove_dir_all(out).unwrap();
}
