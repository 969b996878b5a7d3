//! The SNP report parser and the verifier behind it never panic on arbitrary bytes.
#![no_main]

use chiaro_attest::snp::{self, SnpCollateral, SnpReferenceValues, SnpTrustAnchors, REPORT_LEN};
use chiaro_attest::UnixTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snp::Report::parse(data);
    // Short inputs are zero-padded to a full report so every field decoder runs.
    let mut padded = data.to_vec();
    padded.resize(padded.len().max(REPORT_LEN), 0);
    if let Ok((report, _)) = snp::Report::parse_prefix(&padded) {
        let _ = report.signature_be();
        let anchors = SnpTrustAnchors::amd().expect("pinned roots");
        let _ = snp::verify_report(&report, &SnpCollateral::default(), &anchors, &SnpReferenceValues::default(), UnixTime::from_secs(1_800_000_000));
    }
});
