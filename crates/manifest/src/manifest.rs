//! The manifest model and its validation (schema: `docs/manifest.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chiaro_attest::snp::{MAX_EXTENSIONS_PER_SET, SnpReferenceValues, extension_work};
use chiaro_attest::tdx::TdxReferenceValues;
use chiaro_attest::{Claims, InitDataBinding};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use chiaro_names::{PolicyHash, San};

use crate::draft::{DraftReferenceValues, ManifestDraft, VERSION};
use crate::error::ManifestError;
use crate::hashes::{KeyDigest, ManifestHash};

/// The smallest RSA key that may protect a seed share.
const MIN_RSA_BITS: usize = 3072;

/// A validated manifest. Only [`Manifest::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    policies: BTreeMap<PolicyHash, PolicyEntry>,
    reference_values: ReferenceValueSets,
    workload_owner_key_digests: Vec<KeyDigest>,
    seed_share_owner_keys: Vec<SeedShareOwnerKey>,
}

/// What a workload with a given policy hash is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Names in its mesh certificate (DNS names, IP addresses, URIs).
    pub sans: Vec<String>,
    /// Its role.
    #[serde(default)]
    pub role: Role,
    /// Which workload secret it receives; workloads with the same id share the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_secret_id: Option<String>,
}

/// The role of a workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An ordinary workload.
    #[default]
    Workload,
    /// A Coordinator (its own entry, for peers and upgrades).
    Coordinator,
}

/// Acceptable evidence per platform: evidence is accepted if it satisfies any one set of its
/// platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReferenceValueSets {
    /// AMD SEV-SNP under AMD's roots.
    pub snp: Vec<SnpReferenceValues>,
    /// Intel TDX under Intel's root.
    pub tdx: Vec<TdxReferenceValues>,
    /// **Insecure**: SNP-format evidence under a simulated root, listed explicitly.
    pub insecure_simulated: Vec<InsecureSimulatedReference>,
}

impl ReferenceValueSets {
    /// Parses a `reference_values` object on its own (what the CLI and the initializer are told
    /// to expect of the Coordinator), validated as in a manifest.
    ///
    /// # Errors
    /// [`ManifestError`] naming the field.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let raw: DraftReferenceValues =
            serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
                detail: e.to_string(),
                line: e.line(),
                column: e.column(),
            })?;
        validate_reference_values(&raw)
    }

    /// Validates reference values as written (a draft's) as in a manifest.
    ///
    /// # Errors
    /// [`ManifestError`] naming the field.
    pub fn from_draft(raw: &DraftReferenceValues) -> Result<Self, ManifestError> {
        validate_reference_values(raw)
    }

    /// Checks that every set pins the guest it accepts: SNP `measurements` or
    /// `vcpu_scaled_measurements`, TDX `mrtd` and
    /// RTMRs 0 to 2 (firmware configuration, kernel and command line, initrd), and the values
    /// of every simulated root. `prefix` goes before each set's name in the error.
    ///
    /// # Errors
    /// [`ManifestError::UnpinnedGuest`] naming the first set that does not.
    pub fn pin_the_guest(&self, prefix: &str) -> Result<(), ManifestError> {
        let unpinned = |field: String, missing| ManifestError::UnpinnedGuest { field, missing };
        for (index, set) in self.snp.iter().enumerate() {
            if !set.pins_the_measurement() {
                return Err(unpinned(
                    format!("{prefix}snp[{index}]"),
                    "measurements or vcpu_scaled_measurements",
                ));
            }
        }
        for (index, set) in self.tdx.iter().enumerate() {
            if set.mrtd.as_ref().is_none_or(Vec::is_empty) {
                return Err(unpinned(format!("{prefix}tdx[{index}]"), "mrtd"));
            }
            let boot = set
                .rtmrs
                .as_ref()
                .is_some_and(|rtmrs| rtmrs.iter().take(3).all(Option::is_some));
            if !boot {
                return Err(unpinned(format!("{prefix}tdx[{index}]"), "rtmrs[0..=2]"));
            }
        }
        for (index, set) in self.insecure_simulated.iter().enumerate() {
            if !set.values.pins_the_measurement() {
                return Err(unpinned(
                    format!("{prefix}insecure_simulated[{index}].values"),
                    "measurements or vcpu_scaled_measurements",
                ));
            }
        }
        Ok(())
    }

    /// Pretty JSON that [`ReferenceValueSets::parse`] reads back.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// **Insecure**: a simulated root and the values its evidence must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InsecureSimulatedReference {
    /// The simulated ARK certificate (DER).
    #[serde(serialize_with = "hex::serialize")]
    pub ark: Vec<u8>,
    /// The values its evidence must satisfy.
    pub values: SnpReferenceValues,
}

/// An RSA public key that seed shares are encrypted to.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedShareOwnerKey {
    der: Vec<u8>,
    key: rsa::PublicKey,
}

impl SeedShareOwnerKey {
    /// The SubjectPublicKeyInfo DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The key.
    pub fn key(&self) -> &rsa::PublicKey {
        &self.key
    }
}

impl fmt::Debug for SeedShareOwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SeedShareOwnerKey({} bits, {})",
            self.key.size().saturating_mul(8),
            hex::encode(Sha256::digest(&self.der))
        )
    }
}

impl Serialize for SeedShareOwnerKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.der))
    }
}

impl Manifest {
    /// Parses and validates a manifest.
    ///
    /// # Errors
    /// [`ManifestError`] naming the first field that is wrong.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        ManifestDraft::parse(text)?.validate()
    }

    /// The policies, by hash.
    pub fn policies(&self) -> &BTreeMap<PolicyHash, PolicyEntry> {
        &self.policies
    }

    /// The reference values.
    pub fn reference_values(&self) -> &ReferenceValueSets {
        &self.reference_values
    }

    /// Digests of the keys that may install the next manifest (empty: the deployment is
    /// immutable).
    pub fn workload_owner_key_digests(&self) -> &[KeyDigest] {
        &self.workload_owner_key_digests
    }

    /// The keys seed shares are encrypted to.
    pub fn seed_share_owner_keys(&self) -> &[SeedShareOwnerKey] {
        &self.seed_share_owner_keys
    }

    /// The policy entry whose hash the verified evidence carries, if any.
    pub fn entry_for(&self, claims: &Claims) -> Option<(PolicyHash, &PolicyEntry)> {
        self.entry_for_binding(&claims.init_data)
    }

    /// The policy entry for a launch binding (`HOST_DATA` / `MRCONFIGID`), if any.
    pub fn entry_for_binding(
        &self,
        binding: &InitDataBinding,
    ) -> Option<(PolicyHash, &PolicyEntry)> {
        self.policies
            .iter()
            .find(|(hash, _)| carries(binding, hash))
            .map(|(hash, entry)| (*hash, entry))
    }

    /// The canonical JSON: the schema's field order, policies sorted by hash, lists in the
    /// given order, no insignificant whitespace. Equal manifests have equal canonical JSON.
    pub fn canonical_json(&self) -> Vec<u8> {
        // INVARIANT: the view holds strings, numbers, lists and maps only; encoding cannot fail.
        serde_json::to_vec(&self.view()).unwrap_or_default()
    }

    /// SHA-256 of [`Manifest::canonical_json`].
    pub fn hash(&self) -> ManifestHash {
        ManifestHash::new(Sha256::digest(self.canonical_json()).into())
    }

    /// Pretty JSON for people and files; parses back to an equal manifest.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.view()).unwrap_or_default()
    }

    fn view(&self) -> ManifestView<'_> {
        ManifestView {
            version: VERSION,
            policies: self
                .policies
                .iter()
                .map(|(hash, entry)| (hash.to_string(), entry))
                .collect(),
            reference_values: &self.reference_values,
            workload_owner_key_digests: &self.workload_owner_key_digests,
            seed_share_owner_keys: &self.seed_share_owner_keys,
        }
    }
}

#[derive(Serialize)]
struct ManifestView<'a> {
    version: u32,
    policies: BTreeMap<String, &'a PolicyEntry>,
    reference_values: &'a ReferenceValueSets,
    workload_owner_key_digests: &'a [KeyDigest],
    seed_share_owner_keys: &'a [SeedShareOwnerKey],
}

impl Manifest {
    pub(crate) fn from_draft(draft: &ManifestDraft) -> Result<Self, ManifestError> {
        if draft.version() != VERSION {
            return Err(ManifestError::UnsupportedVersion {
                version: draft.version(),
            });
        }
        let policies = validate_policies(draft.policy_entries())?;
        let reference_values = validate_reference_values(draft.reference_values())?;
        reference_values.pin_the_guest("reference_values.")?;
        let mut workload_owner_key_digests = Vec::new();
        for (index, text) in draft.workload_owner_key_digests().iter().enumerate() {
            let field = format!("workload_owner_key_digests[{index}]");
            let digest =
                KeyDigest::from_hex(text).ok_or_else(|| malformed_hex(&field, 64, text))?;
            if workload_owner_key_digests.contains(&digest) {
                return Err(ManifestError::DuplicateKey { field });
            }
            workload_owner_key_digests.push(digest);
        }
        let mut seed_share_owner_keys: Vec<SeedShareOwnerKey> = Vec::new();
        for (index, text) in draft.seed_share_owner_keys().iter().enumerate() {
            let field = format!("seed_share_owner_keys[{index}]");
            let key = parse_rsa_key(&field, text)?;
            if seed_share_owner_keys
                .iter()
                .any(|known| known.der == key.der)
            {
                return Err(ManifestError::DuplicateKey { field });
            }
            seed_share_owner_keys.push(key);
        }
        Ok(Self {
            policies,
            reference_values,
            workload_owner_key_digests,
            seed_share_owner_keys,
        })
    }
}

fn validate_policies(
    raw: &[(String, PolicyEntry)],
) -> Result<BTreeMap<PolicyHash, PolicyEntry>, ManifestError> {
    if raw.is_empty() {
        return Err(ManifestError::NoPolicies);
    }
    let mut policies = BTreeMap::new();
    // Every identity any entry names, and the entry that names it: no two entries may share
    // one, whatever their roles.
    let mut identities: BTreeMap<San, String> = BTreeMap::new();
    for (key, entry) in raw {
        let field = format!("policies[{key:?}]");
        let hash = PolicyHash::from_hex(&key.to_ascii_lowercase())
            .ok_or_else(|| malformed_hex(&field, 64, key))?;
        if policies.contains_key(&hash) {
            return Err(ManifestError::DuplicatePolicy {
                hash: hash.to_string(),
            });
        }
        claim_identities(&mut identities, &field, entry)?;
        if entry
            .workload_secret_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(ManifestError::EmptyWorkloadSecretId {
                field: format!("{field}.workload_secret_id"),
            });
        }
        policies.insert(hash, entry.clone());
    }
    Ok(policies)
}

/// Checks `entry`'s SANs (at least one, each valid, none repeated) and records their
/// identities as `field`'s; refuses an identity another entry already named.
fn claim_identities(
    identities: &mut BTreeMap<San, String>,
    field: &str,
    entry: &PolicyEntry,
) -> Result<(), ManifestError> {
    let sans_field = || format!("{field}.sans");
    if entry.sans.is_empty() {
        return Err(ManifestError::EmptySans {
            field: sans_field(),
        });
    }
    let mut own = BTreeSet::new();
    for text in &entry.sans {
        let identity = San::parse(text)
            .map(|san| san.identity())
            .filter(|identity| own.insert(identity.clone()))
            .ok_or_else(|| ManifestError::InvalidSan {
                field: sans_field(),
                san: text.clone(),
            })?;
        if matches!(&identity, San::Dns(name) if chiaro_names::reserved::is_reserved(name)) {
            return Err(ManifestError::ReservedSan {
                field: sans_field(),
                san: text.clone(),
                domain: chiaro_names::reserved::RESERVED_DOMAIN,
            });
        }
        if let Some(other) = identities.get(&identity) {
            return Err(ManifestError::SharedSan {
                field: sans_field(),
                san: text.clone(),
                other: other.clone(),
            });
        }
    }
    for identity in own {
        identities.insert(identity, field.to_owned());
    }
    Ok(())
}

fn validate_reference_values(
    raw: &DraftReferenceValues,
) -> Result<ReferenceValueSets, ManifestError> {
    let mut insecure_simulated = Vec::new();
    for (index, simulated) in raw.insecure_simulated.iter().enumerate() {
        let field = format!("reference_values.insecure_simulated[{index}].ark");
        let ark =
            hex::decode(simulated.ark.trim()).map_err(|_| ManifestError::InvalidSimulatedRoot {
                field: field.clone(),
                detail: "not hex".to_owned(),
            })?;
        chiaro_attest::insecure_simulation::trust_anchors(&ark).map_err(|e| {
            ManifestError::InvalidSimulatedRoot {
                field,
                detail: e.to_string(),
            }
        })?;
        insecure_simulated.push(InsecureSimulatedReference {
            ark,
            values: simulated.values.clone(),
        });
    }
    let sets = ReferenceValueSets {
        snp: raw.snp.clone(),
        tdx: raw.tdx.clone(),
        insecure_simulated,
    };
    if sets.snp.is_empty() && sets.tdx.is_empty() && sets.insecure_simulated.is_empty() {
        return Err(ManifestError::NoReferenceValues);
    }
    bound_vcpu_work(&sets)?;
    Ok(sets)
}

/// Refuses a set whose vCPU-scaled measurements cost too much to check.
fn bound_vcpu_work(sets: &ReferenceValueSets) -> Result<(), ManifestError> {
    let snp = sets
        .snp
        .iter()
        .enumerate()
        .map(|(index, set)| (format!("reference_values.snp[{index}]"), set));
    let simulated = sets
        .insecure_simulated
        .iter()
        .enumerate()
        .map(|(index, set)| {
            (
                format!("reference_values.insecure_simulated[{index}].values"),
                &set.values,
            )
        });
    for (field, set) in snp.chain(simulated) {
        let work = extension_work(set.vcpu_scaled_measurements.as_deref().unwrap_or_default());
        if work > MAX_EXTENSIONS_PER_SET {
            return Err(ManifestError::TooMuchVcpuWork {
                field,
                work,
                limit: MAX_EXTENSIONS_PER_SET,
            });
        }
    }
    Ok(())
}

fn parse_rsa_key(field: &str, text: &str) -> Result<SeedShareOwnerKey, ManifestError> {
    let invalid = |detail: String| ManifestError::InvalidKey {
        field: field.to_owned(),
        detail,
    };
    let der = hex::decode(text.trim()).map_err(|_| invalid("not hex".to_owned()))?;
    let key = rsa::PublicKey::from_public_key_der(&der).map_err(|e| invalid(e.to_string()))?;
    let bits = key
        .size()
        .checked_mul(8)
        .ok_or_else(|| invalid("modulus size overflows".to_owned()))?;
    if bits < MIN_RSA_BITS {
        return Err(ManifestError::WeakKey {
            field: field.to_owned(),
            bits,
        });
    }
    Ok(SeedShareOwnerKey { der, key })
}

/// Whether a launch binding carries `hash`: SNP `HOST_DATA` is the hash, TDX `MRCONFIGID` the
/// hash followed by zeros.
fn carries(binding: &InitDataBinding, hash: &PolicyHash) -> bool {
    match binding {
        InitDataBinding::HostData(host_data) => host_data.as_bytes() == hash.as_bytes(),
        InitDataBinding::MrConfigId(config_id) => {
            let (head, tail) = config_id.as_bytes().split_at(32);
            head == hash.as_bytes() && tail.iter().all(|byte| *byte == 0)
        }
    }
}

fn malformed_hex(field: &str, expected_hex_chars: usize, got: &str) -> ManifestError {
    ManifestError::MalformedHex {
        field: field.to_owned(),
        expected_hex_chars,
        got: got.to_owned(),
    }
}
