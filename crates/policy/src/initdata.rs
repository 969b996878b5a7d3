//! Kata initdata: the TOML document carrying `policy.rego`, its digest (the policy hash bound
//! into SNP `HOST_DATA` / TDX `MRCONFIGID`), and its annotation form (gzip, then base64).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use base64::Engine as _;
use chiaro_names::PolicyHash;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{InitdataError, PolicyError};

/// The pod annotation the Kata runtime reads initdata from.
pub const INITDATA_ANNOTATION: &str = "io.katacontainers.config.hypervisor.cc_init_data";

/// Largest initdata (decompressed) accepted when reading an annotation.
const MAX_INITDATA_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct InitdataDocument {
    version: String,
    algorithm: String,
    data: BTreeMap<String, String>,
}

/// An initdata document, kept as the exact text its digest is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initdata {
    text: String,
    policy: String,
}

impl Initdata {
    /// Initdata carrying `policy` (version 0.1.0, SHA-256).
    pub fn for_policy(policy: &str) -> Result<Self, PolicyError> {
        let document = InitdataDocument {
            version: "0.1.0".to_owned(),
            algorithm: "sha256".to_owned(),
            data: BTreeMap::from([("policy.rego".to_owned(), policy.to_owned())]),
        };
        let text = toml::to_string(&document)
            .map_err(|error| PolicyError::Initdata(InitdataError::Writing(error)))?;
        Ok(Self {
            text,
            policy: policy.to_owned(),
        })
    }

    /// Reads initdata TOML text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let document: InitdataDocument = toml::from_str(text)
            .map_err(|error| PolicyError::Initdata(InitdataError::Toml(error)))?;
        if document.version != "0.1.0" {
            return Err(PolicyError::Initdata(InitdataError::Version {
                version: document.version,
            }));
        }
        if document.algorithm != "sha256" {
            return Err(PolicyError::Initdata(InitdataError::Algorithm {
                algorithm: document.algorithm,
            }));
        }
        let policy = document
            .data
            .get("policy.rego")
            .ok_or(PolicyError::Initdata(InitdataError::NoPolicy))?
            .clone();
        Ok(Self {
            text: text.to_owned(),
            policy,
        })
    }

    /// Reads the annotation value: base64 of gzip of the TOML text.
    pub fn from_annotation(value: &str) -> Result<Self, PolicyError> {
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|error| PolicyError::Initdata(InitdataError::Base64(error)))?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(MAX_INITDATA_BYTES)
            .read_to_string(&mut text)
            .map_err(|error| PolicyError::Initdata(InitdataError::Gzip(error)))?;
        Self::parse(&text)
    }

    /// The annotation value.
    pub fn to_annotation(&self) -> String {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let compressed = encoder
            .write_all(self.text.as_bytes())
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(compressed)
    }

    /// The TOML text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The policy it carries.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// SHA-256 of the TOML text: the policy hash.
    pub fn policy_hash(&self) -> PolicyHash {
        PolicyHash::new(Sha256::digest(self.text.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_round_trip_keeps_the_digest() {
        let initdata = Initdata::for_policy("package agent_policy\n'''\"\\ x").unwrap();
        let back = Initdata::from_annotation(&initdata.to_annotation()).unwrap();
        assert_eq!(back, initdata);
        assert_eq!(back.policy_hash(), initdata.policy_hash());
        assert_eq!(back.policy(), "package agent_policy\n'''\"\\ x");
    }

    #[test]
    fn truncated_and_flipped_annotations_fail_cleanly() {
        let annotation = Initdata::for_policy("package agent_policy\n")
            .unwrap()
            .to_annotation();
        let good = Initdata::from_annotation(&annotation).unwrap();
        for end in 0..annotation.len() {
            if let Ok(parsed) = Initdata::from_annotation(&annotation[..end]) {
                assert_eq!(parsed, good, "a truncation parsed differently");
            }
        }
        let mut compressed = base64::engine::general_purpose::STANDARD
            .decode(&annotation)
            .unwrap();
        for index in 0..compressed.len() {
            compressed[index] ^= 0x01;
            let flipped = base64::engine::general_purpose::STANDARD.encode(&compressed);
            if let Ok(parsed) = Initdata::from_annotation(&flipped) {
                // Only flips gzip does not check (header flags, mtime) may parse; the policy
                // and the digest's text must be unchanged then.
                assert_eq!(parsed.text(), good.text());
            }
            compressed[index] ^= 0x01;
        }
    }

    #[test]
    fn bad_annotations_are_named() {
        let error = Initdata::from_annotation("!!").unwrap_err();
        assert!(
            error.to_string().starts_with("initdata: not base64"),
            "{error}"
        );
        let error =
            Initdata::parse("version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n").unwrap_err();
        assert!(error.to_string().contains("SHA-256"), "{error}");
    }
}
