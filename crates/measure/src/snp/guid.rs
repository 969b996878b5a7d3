//! GUIDs as OVMF and QEMU lay them out in memory (the mixed-endian `EFI_GUID`).

use std::fmt;

/// A GUID, held in its in-memory (`EFI_GUID`, little-endian fields) byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid([u8; 16]);

impl Guid {
    /// The GUID written `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` as `value`, the 32 hex digits
    /// read as one big-endian number.
    pub const fn from_u128(value: u128) -> Self {
        let be = value.to_be_bytes();
        let [
            a0,
            a1,
            a2,
            a3,
            b0,
            b1,
            c0,
            c1,
            d0,
            d1,
            d2,
            d3,
            d4,
            d5,
            d6,
            d7,
        ] = be;
        Self([
            a3, a2, a1, a0, b1, b0, c1, c0, d0, d1, d2, d3, d4, d5, d6, d7,
        ])
    }

    /// The GUID whose in-memory bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Its in-memory bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [
            a3,
            a2,
            a1,
            a0,
            b1,
            b0,
            c1,
            c0,
            d0,
            d1,
            d2,
            d3,
            d4,
            d5,
            d6,
            d7,
        ] = self.0;
        write!(
            f,
            "{a0:02x}{a1:02x}{a2:02x}{a3:02x}-{b0:02x}{b1:02x}-{c0:02x}{c1:02x}-{d0:02x}{d1:02x}-\
             {d2:02x}{d3:02x}{d4:02x}{d5:02x}{d6:02x}{d7:02x}"
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::Guid;

    #[test]
    fn in_memory_order_is_mixed_endian() {
        let guid = Guid::from_u128(0x96b582de_1fb2_45f7_baea_a366c55a082d);
        assert_eq!(
            guid.to_bytes(),
            [
                0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a,
                0x08, 0x2d
            ]
        );
        assert_eq!(guid.to_string(), "96b582de-1fb2-45f7-baea-a366c55a082d");
    }
}
