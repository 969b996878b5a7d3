//! The evidence a side sends, with the collateral a verifier needs.

use serde::{Deserialize, Serialize};

/// Evidence and its collateral, as sent over the attested channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum EvidenceBundle {
    /// An SEV-SNP report (also the simulated TEE's) with the VCEK/VLEK and intermediates.
    Snp {
        /// The 1184-byte report.
        #[serde(with = "base64_bytes")]
        report: Vec<u8>,
        /// Certificates (DER): the endorsement key, then intermediates.
        #[serde(with = "base64_list")]
        certificates: Vec<Vec<u8>>,
    },
    /// A TDX quote with Intel's collateral.
    Tdx {
        /// The quote.
        #[serde(with = "base64_bytes")]
        quote: Vec<u8>,
        /// The collateral JSON (`dcap-qvl`/PCCS form).
        collateral: String,
    },
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

mod base64_list {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        items: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            items
                .iter()
                .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)),
        )
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .into_iter()
            .map(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}
