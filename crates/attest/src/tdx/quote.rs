//! The Intel TDX DCAP quote, versions 4 and 5 (Intel "TDX DCAP Quote Generation Library and
//! Quote Verification Library" API reference, appendix A: Quote Format).

use serde::Serialize;

use crate::error::Malformed;
use crate::fields::{Digest48, Measurement, ReportData};
use crate::tdx::attributes::TdAttributes;
use crate::tdx::error::TdxRejection;

const TD10_LEN: usize = 584;
const TD15_LEN: usize = 648;
const QE_REPORT_LEN: usize = 384;

/// `tee_type` of a TDX quote.
const TEE_TYPE_TDX: u32 = 0x81;
/// `att_key_type` for ECDSA-256 with P-256.
const ATT_KEY_ECDSA_P256: u16 = 2;
/// Certification data type: PCK certificate chain (PEM).
const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Certification data type: QE report certification data (nests type 5).
const CERT_DATA_QE_REPORT: u16 = 6;

/// A parsed TDX quote. Parsing checks structure only; trust comes from [`crate::tdx::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// The quote header.
    pub header: Header,
    /// The TD report body.
    pub body: TdReport,
    /// The attestation key's signature (`r ‖ s`, big-endian) over header and body.
    #[serde(with = "hex::serde")]
    pub signature: [u8; 64],
    /// The attestation key (P-256 `x ‖ y`).
    #[serde(with = "hex::serde")]
    pub attestation_key: [u8; 64],
    /// The Quoting Enclave's report, which binds the attestation key.
    pub qe_report: QeReport,
    /// The PCK's signature over the QE report.
    #[serde(with = "hex::serde")]
    pub qe_report_signature: [u8; 64],
    /// QE authentication data, hashed into the QE report data.
    #[serde(with = "hex::serde")]
    pub qe_auth_data: Vec<u8>,
    /// The PCK certificate chain (PEM), leaf first.
    pub pck_chain_pem: String,
    /// Zero bytes after the signature data (buffers are often padded); not signed, not used.
    pub trailing_bytes: usize,
    #[serde(skip)]
    signed: Vec<u8>,
}

/// The quote header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Quote version (4 or 5).
    pub version: u16,
    /// Attestation key type (2 = ECDSA P-256).
    pub att_key_type: u16,
    /// TEE type (0x81 = TDX).
    pub tee_type: u32,
    /// QE security version (reserved in v4+).
    pub qe_svn: u16,
    /// PCE security version (reserved in v4+).
    pub pce_svn: u16,
    /// The QE vendor (Intel: `939a7233f79c4ca9940a0db3957f0607`).
    #[serde(with = "hex::serde")]
    pub qe_vendor_id: [u8; 16],
    /// Vendor-defined user data.
    #[serde(with = "hex::serde")]
    pub user_data: [u8; 20],
}

/// The TD report (TDX 1.0 body, with the TDX 1.5 additions when present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdReport {
    /// v5 body type: 2 = TD 1.0, 3 = TD 1.5; `None` for v4 (TD 1.0).
    pub body_type: Option<u16>,
    /// TDX module TCB SVN.
    #[serde(with = "hex::serde")]
    pub tee_tcb_svn: [u8; 16],
    /// Measurement of the TDX module.
    pub mr_seam: Digest48,
    /// Signer of the TDX module.
    pub mr_signer_seam: Digest48,
    /// TDX module attributes.
    #[serde(with = "hex::serde")]
    pub seam_attributes: [u8; 8],
    /// TD attributes as the quote stores them (little-endian; see [`TdReport::attributes`]).
    #[serde(with = "hex::serde")]
    pub td_attributes: [u8; 8],
    /// Extended features available to the TD.
    #[serde(with = "hex::serde")]
    pub xfam: [u8; 8],
    /// Measurement of the initial TD contents.
    pub mr_td: Measurement,
    /// Software-defined configuration id (Chiaro: the initdata digest).
    pub mr_config_id: Digest48,
    /// Owner id.
    pub mr_owner: Digest48,
    /// Owner-defined configuration.
    pub mr_owner_config: Digest48,
    /// Runtime measurement registers 0–3.
    pub rtmrs: [Measurement; 4],
    /// Data the TD supplied.
    pub report_data: ReportData,
    /// TDX 1.5: second TEE TCB SVN.
    #[serde(skip_serializing_if = "Option::is_none", with = "hex_option_16")]
    pub tee_tcb_svn2: Option<[u8; 16]>,
    /// TDX 1.5: measurement of the bound service TD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mr_service_td: Option<Digest48>,
}

impl TdReport {
    /// The TD attributes as a bit set.
    pub fn attributes(&self) -> TdAttributes {
        TdAttributes::from_le_bytes(self.td_attributes)
    }

    /// TD attribute bit 0: the TD is debuggable.
    pub fn debug(&self) -> bool {
        self.attributes().contains(TdAttributes::DEBUG)
    }

    /// XFAM as a little-endian integer.
    pub fn xfam_value(&self) -> u64 {
        u64::from_le_bytes(self.xfam)
    }
}

/// The SGX report of the Quoting Enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QeReport {
    /// The raw 384 bytes, as signed by the PCK.
    #[serde(skip)]
    pub raw: Vec<u8>,
    /// MISCSELECT.
    pub miscselect: u32,
    /// ATTRIBUTES.
    #[serde(with = "hex::serde")]
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    #[serde(with = "hex::serde")]
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    #[serde(with = "hex::serde")]
    pub mr_signer: [u8; 32],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// Report data: SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes.
    #[serde(with = "hex::serde")]
    pub report_data: [u8; 64],
}

impl Quote {
    /// Parses a TDX quote.
    ///
    /// # Errors
    /// [`Malformed::Truncated`] when a declared length runs past the input;
    /// [`TdxRejection::UnsupportedVersion`], [`TdxRejection::NotTdx`],
    /// [`TdxRejection::UnsupportedAttestationKey`], [`TdxRejection::UnsupportedBody`] and
    /// [`TdxRejection::UnsupportedCertificationData`] for structures this verifier does not accept;
    /// [`TdxRejection::TrailingBytesNotZero`] when the bytes after the signature data are not all
    /// zero (padding is accepted, content is not: nothing signs it).
    pub fn parse(bytes: &[u8]) -> Result<Self, crate::Error> {
        let mut cursor = Cursor { bytes, offset: 0 };
        let header = Header {
            version: cursor.u16("quote header")?,
            att_key_type: cursor.u16("quote header")?,
            tee_type: cursor.u32("quote header")?,
            qe_svn: cursor.u16("quote header")?,
            pce_svn: cursor.u16("quote header")?,
            qe_vendor_id: cursor.array("quote header")?,
            user_data: cursor.array("quote header")?,
        };
        if !matches!(header.version, 4 | 5) {
            return Err(TdxRejection::UnsupportedVersion {
                version: header.version,
            }
            .into());
        }
        if header.tee_type != TEE_TYPE_TDX {
            return Err(TdxRejection::NotTdx {
                tee_type: header.tee_type,
            }
            .into());
        }
        if header.att_key_type != ATT_KEY_ECDSA_P256 {
            return Err(TdxRejection::UnsupportedAttestationKey {
                key_type: header.att_key_type,
            }
            .into());
        }
        let (body_type, body_len) = if header.version == 5 {
            let body_type = cursor.u16("quote body descriptor")?;
            let body_size = cursor.u32("quote body descriptor")?;
            let expected = match body_type {
                2 => TD10_LEN,
                3 => TD15_LEN,
                _ => {
                    return Err(TdxRejection::UnsupportedBody {
                        body_type,
                        body_size,
                    }
                    .into());
                }
            };
            if usize::try_from(body_size).ok() != Some(expected) {
                return Err(TdxRejection::UnsupportedBody {
                    body_type,
                    body_size,
                }
                .into());
            }
            (Some(body_type), expected)
        } else {
            (None, TD10_LEN)
        };
        let body = parse_td_report(cursor.take(body_len, "td report")?, body_type)?;
        let signed_len = cursor.offset;
        let signed = bytes.get(..signed_len).unwrap_or_default().to_vec();

        let signature_data_len = cursor.u32("signature data length")?;
        let signature_data_len = usize::try_from(signature_data_len).unwrap_or(usize::MAX);
        let signature_data = cursor.take(signature_data_len, "signature data")?;

        let mut sig = Cursor {
            bytes: signature_data,
            offset: 0,
        };
        let signature = sig.array("quote signature")?;
        let attestation_key = sig.array("attestation key")?;
        let cert_type = sig.u16("certification data")?;
        let cert_len = usize::try_from(sig.u32("certification data")?).unwrap_or(usize::MAX);
        if cert_type != CERT_DATA_QE_REPORT {
            return Err(TdxRejection::UnsupportedCertificationData { cert_type }.into());
        }
        let mut qe = Cursor {
            bytes: sig.take(cert_len, "certification data")?,
            offset: 0,
        };
        let qe_report = parse_qe_report(qe.take(QE_REPORT_LEN, "qe report")?);
        let qe_report_signature = qe.array("qe report signature")?;
        let auth_len = usize::from(qe.u16("qe authentication data")?);
        let qe_auth_data = qe.take(auth_len, "qe authentication data")?.to_vec();
        let inner_type = qe.u16("pck certification data")?;
        let inner_len = usize::try_from(qe.u32("pck certification data")?).unwrap_or(usize::MAX);
        if inner_type != CERT_DATA_PCK_CHAIN {
            return Err(TdxRejection::UnsupportedCertificationData {
                cert_type: inner_type,
            }
            .into());
        }
        let chain = qe.take(inner_len, "pck certificate chain")?;
        qe.finish("certification data")?;
        sig.finish("signature data")?;
        // The PEM may be NUL-terminated; what follows the NUL must be zero like the padding.
        let pem_len = chain
            .iter()
            .position(|byte| *byte == 0)
            .unwrap_or(chain.len());
        let (pem, terminator) = chain.split_at_checked(pem_len).unwrap_or((chain, &[]));
        if terminator.iter().any(|byte| *byte != 0) {
            return Err(Malformed::Invalid {
                what: "pck certificate chain",
                detail: "nonzero bytes after its NUL terminator".to_owned(),
            }
            .into());
        }
        let pck_chain_pem = String::from_utf8(pem.to_vec()).map_err(|_| Malformed::Invalid {
            what: "pck certificate chain",
            detail: "not UTF-8 PEM".to_owned(),
        })?;
        let trailing_bytes = cursor.zero_padding()?;

        Ok(Self {
            header,
            body,
            signature,
            attestation_key,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_chain_pem,
            trailing_bytes,
            signed,
        })
    }

    /// The bytes the attestation key signed: header, (v5) body descriptor, and body.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }
}

fn parse_td_report(bytes: &[u8], body_type: Option<u16>) -> Result<TdReport, crate::Error> {
    let mut cursor = Cursor { bytes, offset: 0 };
    let what = "td report";
    let mut report = TdReport {
        body_type,
        tee_tcb_svn: cursor.array(what)?,
        mr_seam: Digest48::new(cursor.array(what)?),
        mr_signer_seam: Digest48::new(cursor.array(what)?),
        seam_attributes: cursor.array(what)?,
        td_attributes: cursor.array(what)?,
        xfam: cursor.array(what)?,
        mr_td: Measurement::new(cursor.array(what)?),
        mr_config_id: Digest48::new(cursor.array(what)?),
        mr_owner: Digest48::new(cursor.array(what)?),
        mr_owner_config: Digest48::new(cursor.array(what)?),
        rtmrs: [
            Measurement::new(cursor.array(what)?),
            Measurement::new(cursor.array(what)?),
            Measurement::new(cursor.array(what)?),
            Measurement::new(cursor.array(what)?),
        ],
        report_data: ReportData::new(cursor.array(what)?),
        tee_tcb_svn2: None,
        mr_service_td: None,
    };
    if body_type == Some(3) {
        report.tee_tcb_svn2 = Some(cursor.array(what)?);
        report.mr_service_td = Some(Digest48::new(cursor.array(what)?));
    }
    Ok(report)
}

fn parse_qe_report(raw: &[u8]) -> QeReport {
    // SGX REPORTBODY offsets (Intel SDM vol. 3D, 38.15); `raw` is exactly 384 bytes.
    QeReport {
        raw: raw.to_vec(),
        miscselect: u32::from_le_bytes(fixed(raw, 16)),
        attributes: fixed(raw, 48),
        mr_enclave: fixed(raw, 64),
        mr_signer: fixed(raw, 128),
        isv_prod_id: u16::from_le_bytes(fixed(raw, 256)),
        isv_svn: u16::from_le_bytes(fixed(raw, 258)),
        report_data: fixed(raw, 320),
    }
}

/// `N` bytes at `offset` of a buffer whose length the caller has checked.
fn fixed<const N: usize>(raw: &[u8], offset: usize) -> [u8; N] {
    // INVARIANT: callers pass offsets inside the 384-byte QE report; the zero fallback is unreachable.
    raw.get(offset..)
        .and_then(|tail| tail.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

/// Bounds-checked little-endian reads; every read past the end is a [`Malformed::Truncated`].
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        let end = self.offset.checked_add(len);
        match end.and_then(|end| self.bytes.get(self.offset..end)) {
            Some(slice) => {
                self.offset = self.offset.saturating_add(len);
                Ok(slice)
            }
            None => Err(Malformed::Truncated {
                what,
                needed: self.offset.saturating_add(len),
                got: self.bytes.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Malformed> {
        let slice = self.take(N, what)?;
        slice
            .first_chunk::<N>()
            .copied()
            .ok_or(Malformed::Truncated {
                what,
                needed: N,
                got: slice.len(),
            })
    }

    /// Declared lengths must be used exactly: slack would be unsigned, malleable input.
    fn finish(&self, what: &'static str) -> Result<(), Malformed> {
        let left = self.bytes.len().saturating_sub(self.offset);
        if left == 0 {
            Ok(())
        } else {
            Err(Malformed::Invalid {
                what,
                detail: format!("{left} bytes after the last field"),
            })
        }
    }

    /// The number of bytes left, which must all be zero: padding carries no information, and
    /// anything else there would be unsigned input riding along with a genuine quote.
    fn zero_padding(&self) -> Result<usize, TdxRejection> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        match rest.iter().position(|byte| *byte != 0) {
            Some(index) => Err(TdxRejection::TrailingBytesNotZero {
                offset: self.offset.saturating_add(index),
            }),
            None => Ok(rest.len()),
        }
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, Malformed> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Malformed> {
        self.array(what).map(u32::from_le_bytes)
    }
}

mod hex_option_16 {
    use serde::Serializer;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<[u8; 16]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&hex::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }
}
