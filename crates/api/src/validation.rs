//! Turning reference-value sets (a manifest's, or what a client expects of the Coordinator)
//! into an attested-TLS validator.

use chiaro_atls::ReferenceValidator;
use chiaro_attest::snp::SnpTrustAnchors;
use chiaro_manifest::ReferenceValueSets;

/// A validator accepting evidence that satisfies any one set of its platform; simulated
/// evidence only under the simulated roots the sets list.
///
/// # Errors
/// A description when AMD's pinned roots or a listed simulated root cannot be loaded.
pub fn reference_validator(sets: &ReferenceValueSets) -> Result<ReferenceValidator, String> {
    let amd = SnpTrustAnchors::amd().map_err(|e| e.to_string())?;
    let mut validator = ReferenceValidator::new(amd, sets.snp.clone(), sets.tdx.clone());
    for simulated in &sets.insecure_simulated {
        let anchors = chiaro_attest::insecure_simulation::trust_anchors(&simulated.ark)
            .map_err(|e| e.to_string())?;
        validator = validator.with_insecure_simulated(anchors, simulated.values.clone());
    }
    Ok(validator)
}
