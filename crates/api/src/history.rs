//! The signed history on the wire ↔ `chiaro-manifest`'s types. Every conversion from the wire
//! checks lengths and parses manifests; nothing here decides trust (that is
//! [`chiaro_manifest::verify_history`] and [`chiaro_manifest::verify_endorsement`]).

use chiaro_manifest::{DeploymentId, Manifest, OwnerSignature, SignedStep, Transition};

use crate::v1;
use crate::wire::{WireError, manifest_text};

/// A decoded history: its deployment id and its steps, each with its manifest when sent.
#[derive(Debug, Clone)]
pub struct WireHistory {
    /// The deployment id.
    pub deployment: DeploymentId,
    /// Oldest first.
    pub steps: Vec<(SignedStep, Option<Manifest>)>,
}

impl WireHistory {
    /// The steps without their manifests.
    pub fn signed_steps(&self) -> Vec<SignedStep> {
        self.steps.iter().map(|(step, _)| step.clone()).collect()
    }

    /// The steps with their manifests, for [`chiaro_manifest::verify_history`].
    ///
    /// # Errors
    /// [`WireError::Malformed`] naming a step sent without its manifest.
    pub fn with_manifests(self) -> Result<Vec<(SignedStep, Manifest)>, WireError> {
        self.steps
            .into_iter()
            .enumerate()
            .map(|(index, (step, manifest))| {
                manifest.map(|m| (step, m)).ok_or(WireError::Malformed {
                    field: format!("history.steps[{index}].manifest"),
                    detail: "missing",
                })
            })
            .collect()
    }
}

/// An owner signature for the wire.
pub fn owner_to_wire(owner: &OwnerSignature) -> v1::OwnerSignature {
    v1::OwnerSignature {
        public_key: owner.public_key().to_vec(),
        signature: owner.signature().to_vec(),
    }
}

/// A signature from the wire.
///
/// # Errors
/// [`WireError::Malformed`] for a missing key or signature.
pub fn owner_from_wire(
    field: &str,
    owner: Option<&v1::OwnerSignature>,
) -> Result<OwnerSignature, WireError> {
    let malformed = |detail| WireError::Malformed {
        field: field.to_owned(),
        detail,
    };
    let owner = owner.ok_or_else(|| malformed("missing"))?;
    if owner.public_key.is_empty() || owner.signature.is_empty() {
        return Err(malformed("needs a public key and a signature"));
    }
    Ok(OwnerSignature::new(
        owner.public_key.clone(),
        owner.signature.clone(),
    ))
}

/// A history for the wire; steps without a manifest carry only transition and signature.
pub fn history_to_wire<'a>(
    deployment: &DeploymentId,
    steps: impl IntoIterator<Item = (&'a SignedStep, Option<&'a Manifest>)>,
) -> v1::SignedHistory {
    v1::SignedHistory {
        deployment_id: deployment.as_bytes().to_vec(),
        steps: steps
            .into_iter()
            .map(|(step, manifest)| v1::HistoryStep {
                transition: step.transition.to_bytes().to_vec(),
                owner: Some(owner_to_wire(&step.owner)),
                manifest: manifest.map(Manifest::canonical_json).unwrap_or_default(),
            })
            .collect(),
    }
}

/// A history from the wire: lengths checked, manifests parsed where sent.
///
/// # Errors
/// [`WireError`] naming the field.
pub fn history_from_wire(history: Option<&v1::SignedHistory>) -> Result<WireHistory, WireError> {
    let history = history.ok_or(WireError::Malformed {
        field: "history".to_owned(),
        detail: "missing",
    })?;
    let deployment = <[u8; 32]>::try_from(history.deployment_id.as_slice())
        .map(DeploymentId::new)
        .map_err(|_| WireError::Malformed {
            field: "history.deployment_id".to_owned(),
            detail: "not 32 bytes",
        })?;
    let steps = history
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| step_from_wire(index, step))
        .collect::<Result<_, _>>()?;
    Ok(WireHistory { deployment, steps })
}

fn step_from_wire(
    index: usize,
    step: &v1::HistoryStep,
) -> Result<(SignedStep, Option<Manifest>), WireError> {
    let field = format!("history.steps[{index}]");
    let transition =
        Transition::from_bytes(&step.transition).ok_or_else(|| WireError::Malformed {
            field: format!("{field}.transition"),
            detail: "not 64 bytes",
        })?;
    let owner = owner_from_wire(&format!("{field}.owner"), step.owner.as_ref())?;
    let manifest = if step.manifest.is_empty() {
        None
    } else {
        let field = format!("{field}.manifest");
        let text = manifest_text(&field, &step.manifest)?;
        Some(Manifest::parse(text).map_err(|source| WireError::Manifest { field, source })?)
    };
    Ok((SignedStep { transition, owner }, manifest))
}
