//! Turning reference-value sets (a manifest's, or what a client expects of the Coordinator)
//! into an attested-TLS validator.

use chiaro_atls::ReferenceValidator;
use chiaro_attest::insecure_simulation::SimulationError;
use chiaro_attest::snp::{PinMismatch, SnpTrustAnchors};
use chiaro_manifest::ReferenceValueSets;

/// Reference values that cannot become a validator: a fault of whoever configured them (this
/// side's manifest or pin), never of the peer whose evidence they would judge.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// AMD's embedded roots do not match their pins (a broken build).
    #[error("AMD's pinned roots do not load")]
    AmdRoots(#[source] PinMismatch),
    /// A simulated root the sets list does not load.
    #[error("the simulated root of insecure_simulated[{index}] does not load")]
    SimulatedRoot {
        /// Its place in the list.
        index: usize,
        /// Why.
        #[source]
        source: SimulationError,
    },
}

/// A validator accepting evidence that satisfies any one set of its platform; simulated
/// evidence only under the simulated roots the sets list.
///
/// # Errors
/// [`ReferenceError`] when AMD's pinned roots or a listed simulated root cannot be loaded.
pub fn reference_validator(
    sets: &ReferenceValueSets,
) -> Result<ReferenceValidator, ReferenceError> {
    let amd = SnpTrustAnchors::amd().map_err(ReferenceError::AmdRoots)?;
    let mut validator = ReferenceValidator::new(amd, sets.snp.clone(), sets.tdx.clone());
    for (index, simulated) in sets.insecure_simulated.iter().enumerate() {
        let anchors = chiaro_attest::insecure_simulation::trust_anchors(&simulated.ark)
            .map_err(|source| ReferenceError::SimulatedRoot { index, source })?;
        validator = validator.with_insecure_simulated(anchors, simulated.values.clone());
    }
    Ok(validator)
}
