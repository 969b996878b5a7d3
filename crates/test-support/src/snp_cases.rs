//! The real SEV-SNP reports of `sev-snp/README.md`, with the time each verifies at.

use std::path::Path;

use base64::Engine;

use crate::vectors::{read, read_text};

/// How a report file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Raw bytes, the report at offset 0 (trailing bytes are dropped).
    Raw,
    /// Hex text.
    Hex,
    /// Base64 text.
    Base64,
    /// Raw bytes with the report at this offset (Azure HCL reports: 0x20).
    At(usize),
}

/// What the README says verification of a case gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Verifies.
    Valid,
    /// Rejected: the signature does not verify with the VLEK.
    SignatureInvalid,
    /// Rejected: the VCEK is for another chip.
    OtherChip,
}

/// One SNP vector.
#[derive(Debug, Clone, Copy)]
pub struct SnpCase {
    /// The README's row number.
    pub row: u8,
    /// The report file.
    pub report: &'static str,
    /// Its encoding.
    pub encoding: Encoding,
    /// VCEK/VLEK, DER or PEM (possibly a bundle with ASK and ARK).
    pub vek: &'static str,
    /// An extra chain file (ASK/ASVK + ARK PEM), when the case needs one.
    pub chain: Option<&'static str>,
    /// A verification time inside the certificates' validity.
    pub at: &'static str,
    /// The report's VMPL.
    pub vmpl: u32,
    /// Whether its guest policy allows debugging.
    pub debug: bool,
    /// The expected outcome.
    pub expected: Expected,
}

const NOW: &str = "2026-11-26T00:00:00Z";
const VLEK_2025: &str = "2025-06-01T00:00:00Z";

/// All 14 cases of the README's quick list.
pub const SNP_CASES: [SnpCase; 14] = [
    SnpCase {
        row: 1,
        report: "sev-snp/virtee-sev/report_milan.hex",
        encoding: Encoding::Hex,
        vek: "sev-snp/virtee-sev/vcek_milan.der",
        chain: Some("sev-snp/virtee-sev/cert_chain_milan"),
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 2,
        report: "sev-snp/go-sev-guest/attestation.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/go-sev-guest/vcek.testcer",
        chain: Some("sev-snp/go-sev-guest/milan.testcer"),
        at: NOW,
        vmpl: 0,
        debug: true,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 3,
        report: "sev-snp/trustee/snp/test-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/trustee/snp/test-vcek.der",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 4,
        report: "sev-snp/trustee/snp/test-vlek-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/trustee/snp/test-vlek.der",
        chain: Some("sev-snp/trustee/vendor-certs/milan_ask_ark_asvk.pem"),
        at: VLEK_2025,
        vmpl: 1,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 5,
        report: "sev-snp/trustee/e2e/evidence.derived-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/trustee/e2e/evidence.derived-vcek.der",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 6,
        report: "sev-snp/trustee/az-snp-vtpm/hcl-report.derived-snp-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/trustee/az-snp-vtpm/vcek.pem",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 7,
        report: "sev-snp/trustee/az-snp-vtpm/evidence-genoa.derived-snp-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/trustee/az-snp-vtpm/vcek-genoa.pem",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 8,
        report: "sev-snp/project-oak/turin_oc.derived-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/project-oak/turin_oc.derived-vcek.der",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 9,
        report: "sev-snp/project-oak/genoa_oc.derived-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/project-oak/genoa_oc.derived-vcek.der",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 10,
        report: "sev-snp/project-oak/milan_oc.derived-report.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/project-oak/milan_oc.derived-vcek.der",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 11,
        report: "sev-snp/constellation/snp/attestation.bin",
        encoding: Encoding::Raw,
        vek: "sev-snp/constellation/snp/vcek.cert",
        chain: Some("sev-snp/constellation/snp/certchain.pem"),
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 12,
        report: "sev-snp/constellation/aws-snp/report.txt",
        encoding: Encoding::Base64,
        vek: "sev-snp/constellation/aws-snp/vlek.pem",
        chain: Some("sev-snp/constellation/aws-snp/certchain.pem"),
        at: VLEK_2025,
        vmpl: 0,
        debug: false,
        expected: Expected::Valid,
    },
    SnpCase {
        row: 13,
        report: "sev-snp/constellation/snp/AttestationReportVLEK.extracted.hex",
        encoding: Encoding::Hex,
        vek: "sev-snp/constellation/snp/vlek.pem",
        chain: Some("sev-snp/constellation/snp/vlekcertchain.pem"),
        at: "2024-01-01T00:00:00Z",
        vmpl: 0,
        debug: false,
        expected: Expected::SignatureInvalid,
    },
    SnpCase {
        row: 14,
        report: "sev-snp/azure-cvm-tooling/hcl-report-snp.bin",
        encoding: Encoding::At(0x20),
        vek: "sev-snp/azure-cvm-tooling/certs.pem",
        chain: None,
        at: NOW,
        vmpl: 0,
        debug: false,
        expected: Expected::OtherChip,
    },
];

/// The SNP report size.
pub const REPORT_LEN: usize = 0x4A0;

impl SnpCase {
    /// The report bytes, decoded and cut to exactly one report.
    ///
    /// # Panics
    /// When the file does not decode.
    pub fn report_bytes(&self, dir: &Path) -> Vec<u8> {
        let decoded = match self.encoding {
            Encoding::Raw => read(dir, self.report),
            Encoding::Hex => {
                hex::decode(read_text(dir, self.report).trim().trim_start_matches("0x"))
                    .unwrap_or_else(|e| panic!("{}: {e}", self.report))
            }
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(read_text(dir, self.report).trim())
                .unwrap_or_else(|e| panic!("{}: {e}", self.report)),
            Encoding::At(offset) => read(dir, self.report)
                .get(offset..)
                .unwrap_or_default()
                .to_vec(),
        };
        decoded
            .get(..REPORT_LEN)
            .unwrap_or_else(|| panic!("{} is shorter than a report", self.report))
            .to_vec()
    }

    /// The certificates of the VEK file and the chain file, each as DER, in file order.
    pub fn certificates(&self, dir: &Path) -> Vec<Vec<u8>> {
        let mut out = der_or_pem(&read(dir, self.vek));
        if let Some(chain) = self.chain {
            out.extend(der_or_pem(&read(dir, chain)));
        }
        out
    }
}

/// One DER certificate, or every certificate of a PEM file.
pub fn der_or_pem(bytes: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return vec![bytes.to_vec()];
    };
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return vec![bytes.to_vec()];
    }
    text.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|block| {
            let body: String = block
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("PEM certificate body is base64")
        })
        .collect()
}
