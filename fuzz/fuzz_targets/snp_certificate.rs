//! VCEK/VLEK decoding (X.509 and AMD's extensions) and bundle sorting never panic.
#![no_main]

use chiaro_attest::snp::{AmdCertificate, CertRole, SnpCollateral};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = AmdCertificate::from_der(data, CertRole::Vcek) {
        let _ = cert.vek_extensions(CertRole::Vcek);
        let _ = cert.ecdsa_key(CertRole::Vcek);
        let _ = cert.rsa_key(CertRole::Ask);
        let _ = cert.subject_common_name();
    }
    let _ = SnpCollateral::from_certificates(vec![data.to_vec()]);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chiaro_attest::snp::pem_certificates(text);
    }
});
