//! `chiaro evidence show` decodes every field.

use chiaro_test_support::vectors;
use serde_json::Value;

use crate::{chiaro, path_str};

#[test]
fn needs_vectors_show_decodes_a_turin_report() {
    let dir = vectors::dir();
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "evidence",
        "show",
        "--snp-report",
        path_str(&dir.join("sev-snp/project-oak/turin_oc.derived-report.bin")),
    ]);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let fields = &json["fields"];
    assert_eq!(fields["version"], 5);
    assert_eq!(fields["policy"]["raw"], "0x30000");
    assert_eq!(fields["policy"]["debug_allowed"], false);
    assert_eq!(fields["cpuid"]["family"], 0x1A);
    assert_eq!(
        fields["tcb_decoded"]["Turin"]["reported_tcb"],
        "fmc 0 / bl 1 / tee 0 / snp 2 / ucode 71"
    );
    assert!(fields["mitigation_vectors"].is_object());
}

#[test]
fn needs_vectors_show_decodes_a_v5_tdx_quote_in_text() {
    let dir = vectors::dir();
    let (code, stdout, _) = chiaro(&[
        "evidence",
        "show",
        "--tdx-quote",
        path_str(&dir.join("tdx/go-tdx-guest/quote_v5_sample.dat")),
    ]);
    assert_eq!(code, 0);
    for field in [
        "version: 5",
        "body_type: 3",
        "mr_td:",
        "rtmrs:",
        "tee_tcb_svn2:",
        "mr_service_td:",
        "isv_svn:",
        "td_debug: false",
    ] {
        assert!(stdout.contains(field), "missing {field}:\n{stdout}");
    }
}

#[test]
fn needs_vectors_show_refuses_a_non_report() {
    let dir = vectors::dir();
    let (code, _, stderr) = chiaro(&[
        "evidence",
        "show",
        "--tdx-quote",
        path_str(&dir.join("tdx/dcap-qvl/sgx_quote")),
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("tdx quote version 3 is not supported"),
        "{stderr}"
    );
}
