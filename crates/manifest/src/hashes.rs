//! The 32-byte hashes a manifest deals in, as newtypes with hex text forms.

use chiaro_names::hash32;

hash32!(
    /// SHA-256 of a manifest's canonical JSON.
    ManifestHash
);
hash32!(
    /// SHA-256 of a [`crate::Transition`].
    TransitionHash
);
hash32!(
    /// SHA-256 of a workload owner's public key (SubjectPublicKeyInfo DER).
    KeyDigest
);

hash32!(
    /// A deployment's identity: public, derived from its seed
    /// ([`DeploymentId::from_seed`]); every owner signature names it.
    DeploymentId
);

impl TransitionHash {
    /// The "previous transition" of the first manifest.
    pub const ZERO: Self = Self([0; 32]);
}
