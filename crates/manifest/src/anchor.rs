//! What a client or a pod must know before it trusts a Coordinator: the Coordinator's own
//! reference values, pinned to its policy hash ([`CoordinatorReference`]), and for a pod also
//! the workload owners whose signed history it accepts ([`DeploymentAnchor`]).

use chiaro_attest::{Digest48, HostData};
use serde::{Deserialize, Serialize};

use crate::error::ManifestError;
use chiaro_names::PolicyHash;

use crate::hashes::KeyDigest;
use crate::manifest::{Manifest, ReferenceValueSets, Role};

/// Reference values for the Coordinator in which every set pins its launch binding (SNP
/// `HOST_DATA`, TDX `MRCONFIGID`): the genuine guest image with any other policy, e.g. the
/// host's own allow-all initdata, does not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CoordinatorReference(ReferenceValueSets);

impl CoordinatorReference {
    /// Parses a `reference_values` object and checks that every set pins the launch binding.
    ///
    /// # Errors
    /// [`ManifestError`] naming the field, or [`ManifestError::UnpinnedCoordinator`] naming the
    /// set that pins nothing.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        Self::new(ReferenceValueSets::parse(text)?)
    }

    /// Checks that every set of `sets` pins the guest and the launch binding.
    ///
    /// # Errors
    /// [`ManifestError::UnpinnedGuest`] or [`ManifestError::UnpinnedCoordinator`] naming the
    /// first set that pins nothing.
    pub fn new(sets: ReferenceValueSets) -> Result<Self, ManifestError> {
        sets.pin_the_guest("")?;
        let unpinned =
            |field: String, missing| ManifestError::UnpinnedCoordinator { field, missing };
        for (index, set) in sets.snp.iter().enumerate() {
            if set.host_data.is_none() {
                return Err(unpinned(format!("snp[{index}]"), "host_data"));
            }
        }
        for (index, set) in sets.tdx.iter().enumerate() {
            if set.mr_config_id.is_none() {
                return Err(unpinned(format!("tdx[{index}]"), "mr_config_id"));
            }
        }
        for (index, set) in sets.insecure_simulated.iter().enumerate() {
            if set.values.host_data.is_none() {
                return Err(unpinned(
                    format!("insecure_simulated[{index}].values"),
                    "host_data",
                ));
            }
        }
        Ok(Self(sets))
    }

    /// The Coordinator of a deployment whose manifest is `manifest`: its reference values, each
    /// set once per policy with the role `coordinator`, pinned to that policy hash (the
    /// Coordinator runs on the same guest image as the workloads, under its own policy).
    ///
    /// # Errors
    /// [`ManifestError::NoCoordinatorPolicy`], or [`ManifestError::ConflictingPin`] when a set
    /// already pins another binding.
    pub fn of_manifest(manifest: &Manifest) -> Result<Self, ManifestError> {
        let policies: Vec<PolicyHash> = manifest
            .policies()
            .iter()
            .filter(|(_, entry)| entry.role == Role::Coordinator)
            .map(|(hash, _)| *hash)
            .collect();
        Self::pinned(manifest.reference_values(), &policies)
    }

    /// `values`, each set once per policy of `policies`, pinned to that policy hash: the
    /// Coordinator's reference values when it runs under one of `policies`.
    ///
    /// # Errors
    /// [`ManifestError::NoCoordinatorPolicy`] for no policy, or
    /// [`ManifestError::ConflictingPin`] when a set already pins another binding.
    pub fn pinned(
        values: &ReferenceValueSets,
        policies: &[PolicyHash],
    ) -> Result<Self, ManifestError> {
        if policies.is_empty() {
            return Err(ManifestError::NoCoordinatorPolicy);
        }
        let mut sets = ReferenceValueSets::default();
        for policy in policies {
            let host_data = HostData::new(*policy.as_bytes());
            let mut config_id = [0u8; 48];
            config_id[..32].copy_from_slice(policy.as_bytes());
            let config_id = Digest48::new(config_id);
            let conflict = |field: String| ManifestError::ConflictingPin {
                field,
                policy: policy.to_string(),
            };
            for (index, set) in values.snp.iter().enumerate() {
                let mut set = set.clone();
                if set
                    .host_data
                    .replace(host_data)
                    .is_some_and(|h| h != host_data)
                {
                    return Err(conflict(format!("reference_values.snp[{index}]")));
                }
                sets.snp.push(set);
            }
            for (index, set) in values.tdx.iter().enumerate() {
                let mut set = set.clone();
                if set
                    .mr_config_id
                    .replace(config_id)
                    .is_some_and(|c| c != config_id)
                {
                    return Err(conflict(format!("reference_values.tdx[{index}]")));
                }
                sets.tdx.push(set);
            }
            for (index, set) in values.insecure_simulated.iter().enumerate() {
                let mut set = set.clone();
                if set
                    .values
                    .host_data
                    .replace(host_data)
                    .is_some_and(|h| h != host_data)
                {
                    return Err(conflict(format!(
                        "reference_values.insecure_simulated[{index}].values"
                    )));
                }
                sets.insecure_simulated.push(set);
            }
        }
        Self::new(sets)
    }

    /// The reference values.
    pub fn reference_values(&self) -> &ReferenceValueSets {
        &self.0
    }
}

/// What a pod pins about the deployment it belongs to: which Coordinator it talks to, and which
/// workload owners' signed history it accepts from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentAnchor {
    /// The Coordinator's reference values, pinned to its policy hash.
    pub coordinator: CoordinatorReference,
    /// The workload-owner keys one of which must have signed a step of the history.
    pub owner_key_digests: Vec<KeyDigest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnchor {
    coordinator: serde_json::Value,
    owner_key_digests: Vec<String>,
}

impl DeploymentAnchor {
    /// The anchor of the deployment `manifest` describes: its Coordinator and its workload
    /// owners.
    ///
    /// # Errors
    /// As [`CoordinatorReference::of_manifest`], or [`ManifestError::NoOwners`].
    pub fn of_manifest(manifest: &Manifest) -> Result<Self, ManifestError> {
        if manifest.workload_owner_key_digests().is_empty() {
            return Err(ManifestError::NoOwners);
        }
        Ok(Self {
            coordinator: CoordinatorReference::of_manifest(manifest)?,
            owner_key_digests: manifest.workload_owner_key_digests().to_vec(),
        })
    }

    /// Parses the JSON [`DeploymentAnchor::to_json`] writes.
    ///
    /// # Errors
    /// [`ManifestError`] naming the field.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let raw: RawAnchor = serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
            detail: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        let coordinator = CoordinatorReference::parse(&raw.coordinator.to_string())?;
        let mut owner_key_digests = Vec::new();
        for (index, text) in raw.owner_key_digests.iter().enumerate() {
            let digest = KeyDigest::from_hex(&text.to_ascii_lowercase()).ok_or_else(|| {
                ManifestError::MalformedHex {
                    field: format!("owner_key_digests[{index}]"),
                    expected_hex_chars: 64,
                    got: text.clone(),
                }
            })?;
            owner_key_digests.push(digest);
        }
        if owner_key_digests.is_empty() {
            return Err(ManifestError::NoOwners);
        }
        Ok(Self {
            coordinator,
            owner_key_digests,
        })
    }

    /// Compact JSON, for an environment variable.
    pub fn to_json(&self) -> String {
        // INVARIANT: strings, numbers, lists and maps only; encoding cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
