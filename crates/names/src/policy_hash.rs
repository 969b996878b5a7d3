//! The policy hash: SHA-256 of a pod's initdata.

crate::hash32!(
    /// The digest of a pod's initdata (SHA-256): what SNP `HOST_DATA` carries, and what TDX
    /// `MRCONFIGID` carries in its first 32 bytes (the rest zero).
    PolicyHash
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_round_trips_and_other_lengths_are_refused() {
        let hash = PolicyHash::new([0xab; 32]);
        assert_eq!(PolicyHash::from_hex(&hash.to_string()), Some(hash));
        assert_eq!(PolicyHash::from_hex(&"ab".repeat(31)), None);
        assert_eq!(PolicyHash::from_hex(&"zz".repeat(32)), None);
    }
}
