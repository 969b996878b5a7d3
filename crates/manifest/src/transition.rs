//! The manifest history: each accepted manifest is a transition `{manifest hash, previous
//! transition hash}`; the chain of transition hashes is what the Coordinator signs.

use sha2::{Digest, Sha256};

use crate::hashes::{ManifestHash, TransitionHash};

/// One step of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The manifest this step installed.
    pub manifest: ManifestHash,
    /// The transition before it ([`TransitionHash::ZERO`] for the first).
    pub previous: TransitionHash,
}

impl Transition {
    /// Bytes on disk and on the wire: manifest hash, then previous transition hash.
    pub const LEN: usize = 64;

    /// The 64-byte encoding.
    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut bytes = [0u8; Self::LEN];
        let (manifest, previous) = bytes.split_at_mut(32);
        manifest.copy_from_slice(self.manifest.as_bytes());
        previous.copy_from_slice(self.previous.as_bytes());
        bytes
    }

    /// Decodes the 64-byte encoding; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let (manifest, previous) = bytes.split_at(32);
        Some(Self {
            manifest: ManifestHash::new(manifest.try_into().ok()?),
            previous: TransitionHash::new(previous.try_into().ok()?),
        })
    }

    /// SHA-256 of the encoding: the identity of this step, which the next step points to.
    pub fn hash(self) -> TransitionHash {
        TransitionHash::new(Sha256::digest(self.to_bytes()).into())
    }

    /// The first step of `chain` (oldest first) that breaks it as a history, if any: the first
    /// step must start from zero and each next one point at the hash of the one before.
    pub fn chain_break<'a>(chain: impl IntoIterator<Item = &'a Self>) -> Option<usize> {
        let mut previous = TransitionHash::ZERO;
        for (index, step) in chain.into_iter().enumerate() {
            if step.previous != previous {
                return Some(index);
            }
            previous = step.hash();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(manifest: u8, previous: TransitionHash) -> Transition {
        Transition {
            manifest: ManifestHash::new([manifest; 32]),
            previous,
        }
    }

    #[test]
    fn encoding_round_trips_and_refuses_other_lengths() {
        let transition = step(7, TransitionHash::new([9; 32]));
        assert_eq!(
            Transition::from_bytes(&transition.to_bytes()),
            Some(transition)
        );
        assert_eq!(Transition::from_bytes(&[0; 63]), None);
        assert_eq!(Transition::from_bytes(&[0; 65]), None);
    }

    #[test]
    fn a_chain_links_each_step_to_the_hash_of_the_one_before() {
        let first = step(1, TransitionHash::ZERO);
        let second = step(2, first.hash());
        let third = step(3, second.hash());
        assert!(Transition::chain_break(&[first, second, third]).is_none());
        assert!(
            Transition::chain_break(&[second, third]).is_some(),
            "must start from zero"
        );
        assert!(
            Transition::chain_break(&[first, third]).is_some(),
            "a missing step breaks the chain"
        );
        let forged = step(9, first.hash());
        assert!(
            Transition::chain_break(&[first, forged, third]).is_some(),
            "a replaced step breaks the chain"
        );
        assert_ne!(first.hash(), step(1, TransitionHash::new([1; 32])).hash());
    }
}
