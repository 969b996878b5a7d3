//! Reading the files named on the command line: evidence in raw, hex or base64 form,
//! certificates and CRLs as DER or PEM, reference values, the verification time.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use chiaro_attest::UnixTime;
use chiaro_manifest::ReferenceValueSets;

/// The file's bytes.
pub(crate) fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Evidence bytes: hex text (optionally `0x`-prefixed) and base64 text are decoded, anything
/// else is taken as raw binary.
pub(crate) fn evidence(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = read(path, what)?;
    Ok(decode_text_encodings(bytes))
}

fn decode_text_encodings(bytes: Vec<u8>) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return bytes;
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let hex_text = compact.strip_prefix("0x").unwrap_or(&compact);
    if !hex_text.is_empty()
        && hex_text.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(decoded) = hex::decode(hex_text)
    {
        return decoded;
    }
    if !compact.is_empty()
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(&compact)
    {
        return decoded;
    }
    bytes
}

/// Every certificate in a file: one DER certificate, or each block of a PEM bundle.
pub(crate) fn certificates(path: &Path, what: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = read(path, what)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            let ders = chiaro_attest::snp::pem_certificates(text)
                .with_context(|| format!("{what} {}", path.display()))?;
            if ders.is_empty() {
                bail!("{what} {} holds no CERTIFICATE block", path.display());
            }
            Ok(ders)
        }
        _ => Ok(vec![bytes]),
    }
}

/// A CRL as DER (PEM `X509 CRL` is decoded).
pub(crate) fn crl(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = read(path, "CRL")?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    let Some(start) = text.find("-----BEGIN X509 CRL-----") else {
        return Ok(bytes);
    };
    let body: String = text
        .get(start + "-----BEGIN X509 CRL-----".len()..)
        .and_then(|rest| rest.split("-----END X509 CRL-----").next())
        .ok_or_else(|| anyhow!("CRL {}: missing END line", path.display()))?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .with_context(|| format!("CRL {}: PEM body is not base64", path.display()))
}

/// Reference values from a JSON file: a `reference_values` object, as in a manifest.
pub(crate) fn reference(path: &Path) -> anyhow::Result<ReferenceValueSets> {
    let text = String::from_utf8(read(path, "reference values")?)
        .with_context(|| format!("reference values {} are not UTF-8", path.display()))?;
    ReferenceValueSets::parse(&text).with_context(|| format!("reference values {}", path.display()))
}

/// The verification time: `--at`, else the clock, read here once.
pub(crate) fn verification_time(at: Option<&str>) -> anyhow::Result<UnixTime> {
    match at {
        Some(text) => text.parse().with_context(|| "--at"),
        None => {
            #[expect(
                clippy::disallowed_methods,
                reason = "the CLI reads the clock once, at the edge"
            )]
            let now = std::time::SystemTime::now();
            let secs = now
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            Ok(UnixTime::from_secs(secs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_base64_and_raw_are_told_apart() {
        assert_eq!(
            decode_text_encodings(b"0x0102ff\n".to_vec()),
            vec![1, 2, 0xff]
        );
        assert_eq!(decode_text_encodings(b"AQL/\n".to_vec()), vec![1, 2, 0xff]);
        assert_eq!(decode_text_encodings(vec![0, 1, 2]), vec![0, 1, 2]);
        assert_eq!(
            decode_text_encodings(b"not evidence!".to_vec()),
            b"not evidence!".to_vec()
        );
    }
}
