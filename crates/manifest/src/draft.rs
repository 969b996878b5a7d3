//! The manifest as written, before validation: the one schema that every writer of
//! `manifest.json` (`chiaro generate`, local mode) serialises and [`Manifest::parse`] reads.
//!
//! A draft may be incomplete (no reference values yet, no policies): `generate` writes one for
//! the user to complete, and [`ManifestDraft::validate`] says what is missing. Its fields are
//! typed as far as a draft can be (reference values are typed; hashes, digests and keys stay
//! text until validation, so an incomplete draft still round-trips).

use std::fmt;

use chiaro_attest::snp::SnpReferenceValues;
use chiaro_attest::tdx::TdxReferenceValues;
use chiaro_names::PolicyHash;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ManifestError;
use crate::hashes::KeyDigest;
use crate::manifest::{Manifest, PolicyEntry, Role};

/// The schema version this build reads and writes.
pub(crate) const VERSION: u32 = 1;

/// A manifest as written: every field of the schema, unvalidated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDraft {
    version: u32,
    #[serde(default)]
    policies: DraftPolicies,
    #[serde(default)]
    reference_values: DraftReferenceValues,
    #[serde(default)]
    workload_owner_key_digests: Vec<String>,
    #[serde(default)]
    seed_share_owner_keys: Vec<String>,
}

/// `reference_values` as written (the insecure roots as hex text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftReferenceValues {
    /// AMD SEV-SNP sets.
    #[serde(default)]
    pub snp: Vec<SnpReferenceValues>,
    /// Intel TDX sets.
    #[serde(default)]
    pub tdx: Vec<TdxReferenceValues>,
    /// **Insecure**: simulated roots and their values.
    #[serde(default)]
    pub insecure_simulated: Vec<DraftSimulated>,
}

/// **Insecure**: one simulated root (hex DER) and the values its evidence must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftSimulated {
    /// The simulated ARK certificate, hex DER.
    pub ark: String,
    /// The values its evidence must satisfy.
    pub values: SnpReferenceValues,
}

/// The policies object in written order, keeping duplicate keys (which a map would silently
/// merge, and validation refuses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DraftPolicies(Vec<(String, PolicyEntry)>);

impl ManifestDraft {
    /// A draft with no policies, no reference values and no keys.
    pub fn skeleton() -> Self {
        Self {
            version: VERSION,
            policies: DraftPolicies::default(),
            reference_values: DraftReferenceValues::default(),
            workload_owner_key_digests: Vec::new(),
            seed_share_owner_keys: Vec::new(),
        }
    }

    /// Reads a draft (the JSON of `manifest.json`, complete or not).
    ///
    /// # Errors
    /// [`ManifestError::Syntax`] for JSON that is not of the schema.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
            detail: e.to_string(),
            line: e.line(),
            column: e.column(),
        })
    }

    /// Adds a policy entry (after the ones it has).
    #[must_use]
    pub fn with_policy(mut self, hash: PolicyHash, entry: PolicyEntry) -> Self {
        self.policies.0.push((hash.to_string(), entry));
        self
    }

    /// Replaces the reference values.
    #[must_use]
    pub fn with_reference_values(mut self, reference_values: DraftReferenceValues) -> Self {
        self.reference_values = reference_values;
        self
    }

    /// Adds a workload owner (a key that may install the next manifest).
    #[must_use]
    pub fn with_workload_owner(mut self, digest: KeyDigest) -> Self {
        self.workload_owner_key_digests.push(digest.to_string());
        self
    }

    /// Adds a seed-share owner key (SubjectPublicKeyInfo DER).
    #[must_use]
    pub fn with_seed_share_owner(mut self, spki_der: &[u8]) -> Self {
        self.seed_share_owner_keys.push(hex::encode(spki_der));
        self
    }

    /// The draft with its Coordinator entries replaced by one, `hash` with `sans`, listed
    /// first: what `chiaro install` writes for the Coordinator it generated.
    #[must_use]
    pub fn with_coordinator_policy(mut self, hash: PolicyHash, sans: Vec<String>) -> Self {
        self.policies
            .0
            .retain(|(_, entry)| entry.role != Role::Coordinator);
        let entry = PolicyEntry {
            sans,
            role: Role::Coordinator,
            workload_secret_id: None,
        };
        self.policies.0.insert(0, (hash.to_string(), entry));
        self
    }

    /// The draft with its workload entries replaced by `generated` (sorted by hash), its
    /// Coordinator entries and every other field kept: what `generate` writes.
    #[must_use]
    pub fn with_workload_policies(
        mut self,
        generated: impl IntoIterator<Item = (PolicyHash, PolicyEntry)>,
    ) -> Self {
        self.policies
            .0
            .retain(|(_, entry)| entry.role == Role::Coordinator);
        let mut generated: Vec<(PolicyHash, PolicyEntry)> = generated.into_iter().collect();
        generated.sort_by_key(|(hash, _)| *hash);
        self.policies.0.extend(
            generated
                .into_iter()
                .map(|(hash, entry)| (hash.to_string(), entry)),
        );
        self
    }

    /// The Coordinator entries, as written: `(hash text, entry)`.
    pub fn coordinator_entries(&self) -> impl Iterator<Item = (&str, &PolicyEntry)> {
        self.policies
            .0
            .iter()
            .filter(|(_, entry)| entry.role == Role::Coordinator)
            .map(|(hash, entry)| (hash.as_str(), entry))
    }

    /// The entries, as written: `(hash text, entry)`.
    pub fn policies(&self) -> impl Iterator<Item = (&str, &PolicyEntry)> {
        self.policies
            .0
            .iter()
            .map(|(hash, entry)| (hash.as_str(), entry))
    }

    /// The reference values, as written.
    pub fn reference_values(&self) -> &DraftReferenceValues {
        &self.reference_values
    }

    /// Validates the draft into a [`Manifest`].
    ///
    /// # Errors
    /// [`ManifestError`] naming the first field that is wrong or missing.
    pub fn validate(&self) -> Result<Manifest, ManifestError> {
        Manifest::from_draft(self)
    }

    /// Pretty JSON, newline-terminated: the text of `manifest.json`.
    pub fn to_json_pretty(&self) -> String {
        // INVARIANT: strings, numbers, lists and maps only; encoding cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    pub(crate) fn policy_entries(&self) -> &[(String, PolicyEntry)] {
        &self.policies.0
    }

    pub(crate) fn workload_owner_key_digests(&self) -> &[String] {
        &self.workload_owner_key_digests
    }

    pub(crate) fn seed_share_owner_keys(&self) -> &[String] {
        &self.seed_share_owner_keys
    }
}

impl Serialize for DraftPolicies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (hash, entry) in &self.0 {
            map.serialize_entry(hash, entry)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DraftPolicies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PoliciesVisitor;
        impl<'de> Visitor<'de> for PoliciesVisitor {
            type Value = DraftPolicies;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object from policy hash to policy entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DraftPolicies, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, PolicyEntry>()? {
                    entries.push((key, value));
                }
                Ok(DraftPolicies(entries))
            }
        }
        deserializer.deserialize_map(PoliciesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(san: &str, role: Role) -> PolicyEntry {
        PolicyEntry {
            sans: vec![san.to_owned()],
            role,
            workload_secret_id: None,
        }
    }

    #[test]
    fn generated_policies_replace_the_workloads_and_keep_the_coordinators() {
        let draft = ManifestDraft::skeleton()
            .with_policy(PolicyHash::new([0xaa; 32]), entry("c", Role::Coordinator))
            .with_policy(PolicyHash::new([0xbb; 32]), entry("old", Role::Workload))
            .with_workload_policies([
                (PolicyHash::new([0xdd; 32]), entry("d", Role::Workload)),
                (PolicyHash::new([0xcc; 32]), entry("c2", Role::Workload)),
            ]);
        let hashes: Vec<&str> = draft.policies().map(|(hash, _)| hash).collect();
        assert_eq!(
            hashes,
            ["aa".repeat(32), "cc".repeat(32), "dd".repeat(32)],
            "the Coordinator's first, then the generated sorted by hash"
        );
    }

    #[test]
    fn a_draft_round_trips_through_its_text_incomplete_or_not() {
        let draft = ManifestDraft::skeleton()
            .with_policy(PolicyHash::new([0xaa; 32]), entry("c", Role::Coordinator));
        let again = ManifestDraft::parse(&draft.to_json_pretty()).unwrap();
        assert_eq!(again, draft);
        assert_eq!(
            draft.validate().unwrap_err(),
            ManifestError::NoReferenceValues
        );
    }
}
