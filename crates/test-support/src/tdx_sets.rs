//! The real TDX quotes of `tdx/README.md` with their collateral, as the collateral JSON that
//! `dcap-qvl` and PCCS clients use (sets A–E of the README's table).

use std::path::Path;

use serde_json::json;

use crate::vectors::{read, read_text};

/// What the README says verifying a set gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdxExpected {
    /// Verifies with TCB status `UpToDate`.
    UpToDate,
    /// Signatures and chains are valid, but no TCB level matches.
    NoMatchingTcbLevel,
    /// The collateral lacks the Intel Root CA CRL.
    RootCrlMissing,
    /// Bytes after the quote's signature data are not zero padding (go-tdx-guest appended 39
    /// bytes of text to set E's quote for its own tests); nothing signs them, so Chiaro refuses.
    TrailingBytesNotZero,
}

/// One TDX quote with its collateral.
#[derive(Debug, Clone)]
pub struct TdxSet {
    /// The README's set letter.
    pub name: &'static str,
    /// The quote file.
    pub quote: &'static str,
    /// A verification time inside the collateral window.
    pub at: &'static str,
    /// The expected outcome.
    pub expected: TdxExpected,
}

/// The TDX sets of the README's "Full offline sets" table (C is SGX and lives in its own test).
pub const TDX_SETS: [TdxSet; 4] = [
    TdxSet {
        name: "A",
        quote: "tdx/dcap-qvl/tdx_quote",
        at: "2025-07-19T10:00:34Z",
        expected: TdxExpected::UpToDate,
    },
    TdxSet {
        name: "B",
        quote: "tdx/dcap-qvl/tdx_quote_outdated",
        at: "2026-03-01T00:00:00Z",
        expected: TdxExpected::NoMatchingTcbLevel,
    },
    TdxSet {
        name: "D",
        quote: "tdx/go-tdx-qpl/quote",
        at: "2023-02-20T00:00:00Z",
        expected: TdxExpected::RootCrlMissing,
    },
    TdxSet {
        name: "E",
        quote: "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
        at: "2023-07-01T01:00:00Z",
        // Without the appended text: NoMatchingTcbLevel, as the README says.
        expected: TdxExpected::TrailingBytesNotZero,
    },
];

impl TdxSet {
    /// The quote bytes.
    pub fn quote_bytes(&self, dir: &Path) -> Vec<u8> {
        read(dir, self.quote)
    }

    /// The collateral as JSON text.
    ///
    /// # Panics
    /// For an unknown set.
    pub fn collateral_json(&self, dir: &Path) -> String {
        match self.name {
            "A" => read_text(dir, "tdx/dcap-qvl/tdx_quote_collateral.json"),
            "B" => read_text(dir, "tdx/dcap-qvl/tdx_quote_outdated_collateral.json"),
            "D" => {
                let (tcb_info, tcb_info_signature) =
                    signed_body(&read_text(dir, "tdx/go-tdx-qpl/tcbinfo.json"), "tcbInfo");
                let (qe_identity, qe_identity_signature) = signed_body(
                    &read_text(dir, "tdx/go-tdx-qpl/qeidentity.json"),
                    "enclaveIdentity",
                );
                let signing_chain = read_text(dir, "tdx/go-tdx-qpl/tcbSigningChain.pem");
                json!({
                    "pck_crl_issuer_chain": read_text(dir, "tdx/go-tdx-qpl/pckCrlSigningChain.pem"),
                    "root_ca_crl": "",
                    "pck_crl": hex::encode(read(dir, "tdx/go-tdx-qpl/pckcrl.extracted.der")),
                    "tcb_info_issuer_chain": signing_chain,
                    "tcb_info": tcb_info,
                    "tcb_info_signature": tcb_info_signature,
                    "qe_identity_issuer_chain": signing_chain,
                    "qe_identity": qe_identity,
                    "qe_identity_signature": qe_identity_signature,
                })
                .to_string()
            }
            "E" => {
                let (tcb_info, tcb_info_signature) = signed_body(
                    &read_text(dir, "tdx/go-tdx-guest/sample_tcbInfo_response"),
                    "tcbInfo",
                );
                let (qe_identity, qe_identity_signature) = signed_body(
                    &read_text(dir, "tdx/go-tdx-guest/sample_qeIdentity_response"),
                    "enclaveIdentity",
                );
                json!({
                    "pck_crl_issuer_chain": read_text(dir, "tdx/go-tdx-guest/pckcrl_issuer_chain.pem"),
                    "root_ca_crl": hex::encode(read(dir, "tdx/go-tdx-guest/rootcrl.der")),
                    "pck_crl": hex::encode(read(dir, "tdx/go-tdx-guest/pckcrl")),
                    "tcb_info_issuer_chain": read_text(dir, "tdx/go-tdx-guest/tcbinfo_issuer_chain.pem"),
                    "tcb_info": tcb_info,
                    "tcb_info_signature": tcb_info_signature,
                    "qe_identity_issuer_chain": read_text(dir, "tdx/go-tdx-guest/qeidentity_issuer_chain.pem"),
                    "qe_identity": qe_identity,
                    "qe_identity_signature": qe_identity_signature,
                })
                .to_string()
            }
            other => panic!("unknown TDX set {other}"),
        }
    }
}

/// Splits a PCS response `{"<key>":{...},"signature":"<hex>"}` into the signed object's exact
/// text and the signature hex.
///
/// # Panics
/// When the response does not have that shape.
pub fn signed_body(response: &str, key: &str) -> (String, String) {
    let start_marker = format!("\"{key}\":");
    let start = response
        .find(&start_marker)
        .map(|i| i + start_marker.len())
        .expect("signed object key");
    let end = response.rfind(",\"signature\"").expect("signature key");
    let body = response.get(start..end).expect("object text").to_owned();
    let value: serde_json::Value = serde_json::from_str(response).expect("PCS response is JSON");
    let signature = value["signature"]
        .as_str()
        .expect("signature is a string")
        .to_owned();
    (body, signature)
}
