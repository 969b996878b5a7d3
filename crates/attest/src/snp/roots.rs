//! Trust anchors for SNP: AMD's pinned roots, or an explicitly requested simulated root.
//!
//! The ARK and ASK of each generation are embedded as AMD publishes them at
//! `https://kdsintf.amd.com/vcek/v1/{Milan,Genoa,Turin}/cert_chain` (byte-identical to the
//! copies the `sev` crate 8.0.0 ships) and are pinned by the SHA-256 of their DER: a build whose
//! embedded file differs refuses to construct the anchors. ASVKs (for VLEK chains) are not
//! embedded; they arrive with the evidence and must be signed by the pinned ARK.

use crate::fields::Fingerprint;
use crate::snp::certs::{AmdCertificate, pem_certificates};
use crate::snp::error::{CertRole, SnpRejection};
use crate::snp::tcb::Product;

/// SHA-256 fingerprints of AMD's ARK and ASK per generation (DER).
const PINNED: [(Product, &str, &str, &str, &str); 3] = [
    (
        Product::Milan,
        include_str!("roots/milan_ark.pem"),
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        include_str!("roots/milan_ask.pem"),
        "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
    ),
    (
        Product::Genoa,
        include_str!("roots/genoa_ark.pem"),
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        include_str!("roots/genoa_ask.pem"),
        "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
    ),
    (
        Product::Turin,
        include_str!("roots/turin_ark.pem"),
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
        include_str!("roots/turin_ask.pem"),
        "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
    ),
];

/// Where the anchors come from; it decides the platform in the claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorKind {
    /// AMD's real roots.
    Amd,
    /// A locally generated root: proves nothing about hardware (see
    /// [`crate::insecure_simulation`]).
    InsecureSimulated,
}

/// One generation's root and, where known, its ASK, both already parsed.
#[derive(Debug, Clone)]
pub(crate) struct ProductRoot {
    pub(crate) product: Product,
    pub(crate) ark: AmdCertificate,
    pub(crate) ark_key: rsa::PublicKey,
    pub(crate) ask: Option<AmdCertificate>,
}

/// The roots an SNP verification trusts, parsed once and reused across verifications.
#[derive(Debug, Clone)]
pub struct SnpTrustAnchors {
    kind: AnchorKind,
    roots: Vec<ProductRoot>,
}

/// The embedded anchors do not match their pins: a broken build, never a runtime condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("embedded AMD {product} {role} does not match its pinned fingerprint")]
pub struct PinMismatch {
    product: Product,
    role: CertRole,
}

impl SnpTrustAnchors {
    /// AMD's pinned ARKs and ASKs for Milan, Genoa and Turin.
    ///
    /// # Errors
    /// [`PinMismatch`] if an embedded certificate does not hash to its pin (tested at build time).
    pub fn amd() -> Result<Self, PinMismatch> {
        let mut roots = Vec::new();
        for (product, ark_pem, ark_pin, ask_pem, ask_pin) in PINNED {
            let ark = pinned(ark_pem, ark_pin, product, CertRole::Ark)?;
            let ask = pinned(ask_pem, ask_pin, product, CertRole::Ask)?;
            let ark_key = ark.rsa_key(CertRole::Ark).map_err(|_| PinMismatch {
                product,
                role: CertRole::Ark,
            })?;
            roots.push(ProductRoot {
                product,
                ark,
                ark_key,
                ask: Some(ask),
            });
        }
        Ok(Self {
            kind: AnchorKind::Amd,
            roots,
        })
    }

    /// Anchors for a simulated root (its ASK comes with the evidence). Only
    /// [`crate::insecure_simulation`] builds these, so the name of the module that made them is
    /// visible wherever they are used.
    pub(crate) fn insecure_simulated(
        product: Product,
        ark_der: &[u8],
    ) -> Result<Self, SnpRejection> {
        let ark = AmdCertificate::from_der(ark_der, CertRole::Ark)?;
        let ark_key = ark.rsa_key(CertRole::Ark)?;
        Ok(Self {
            kind: AnchorKind::InsecureSimulated,
            roots: vec![ProductRoot {
                product,
                ark,
                ark_key,
                ask: None,
            }],
        })
    }

    /// Where these anchors come from.
    pub fn kind(&self) -> AnchorKind {
        self.kind
    }

    /// The pinned ARK fingerprint of `product`, if trusted.
    pub fn ark_fingerprint(&self, product: Product) -> Option<Fingerprint> {
        self.root(product).map(|root| root.ark.fingerprint())
    }

    pub(crate) fn root(&self, product: Product) -> Option<&ProductRoot> {
        self.roots.iter().find(|root| root.product == product)
    }

    /// The only product these anchors know, for simulated anchors.
    pub(crate) fn single_product(&self) -> Option<Product> {
        match self.roots.as_slice() {
            [only] => Some(only.product),
            _ => None,
        }
    }
}

fn pinned(
    pem: &str,
    pin: &str,
    product: Product,
    role: CertRole,
) -> Result<AmdCertificate, PinMismatch> {
    let mismatch = PinMismatch { product, role };
    let der = pem_certificates(pem)
        .ok()
        .and_then(|ders| ders.into_iter().next())
        .ok_or_else(|| mismatch.clone())?;
    let cert = AmdCertificate::from_der(&der, role).map_err(|_| mismatch.clone())?;
    if cert.fingerprint().to_string() != pin {
        return Err(mismatch);
    }
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_roots_match_their_pins_and_sign_their_asks() {
        let anchors = SnpTrustAnchors::amd().unwrap();
        for product in Product::ALL {
            let root = anchors.root(product).unwrap();
            root.ark
                .verify_signed_by(&root.ark_key, CertRole::Ark, CertRole::Ark)
                .unwrap();
            root.ask
                .as_ref()
                .unwrap()
                .verify_signed_by(&root.ark_key, CertRole::Ask, CertRole::Ark)
                .unwrap();
        }
    }

    #[test]
    fn a_changed_pin_refuses_the_root() {
        let (product, ark_pem, _, _, _) = PINNED[0];
        let wrong = "00".repeat(32);
        assert_eq!(
            pinned(ark_pem, &wrong, product, CertRole::Ark).unwrap_err(),
            PinMismatch {
                product,
                role: CertRole::Ark
            }
        );
    }

    #[test]
    fn roots_of_one_generation_do_not_sign_another() {
        let anchors = SnpTrustAnchors::amd().unwrap();
        let milan = anchors.root(Product::Milan).unwrap();
        let genoa = anchors.root(Product::Genoa).unwrap();
        let err = genoa
            .ask
            .as_ref()
            .unwrap()
            .verify_signed_by(&milan.ark_key, CertRole::Ask, CertRole::Ark)
            .unwrap_err();
        assert_eq!(
            err,
            SnpRejection::ChainBroken {
                role: CertRole::Ask,
                issuer: CertRole::Ark
            }
        );
    }
}
