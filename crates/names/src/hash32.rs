//! `hash32!`: a 32-byte hash newtype with its hex text form (Display, Debug, serde), the one
//! definition behind the policy hash here and the manifest's hashes in `chiaro-manifest`.

/// Defines `pub struct NAME([u8; 32])` with `new`, `as_bytes`, `from_hex` (exactly 64 hex
/// digits), lower-case hex `Display`, `NAME(hex)` `Debug`, and serde as the hex string.
#[macro_export]
macro_rules! hash32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw bytes.
            pub const fn new(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Parses exactly 64 hex characters.
            pub fn from_hex(text: &str) -> Option<Self> {
                if text.len() != 64 {
                    return None;
                }
                let bytes = $crate::__private::hex::decode(text).ok()?;
                <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&$crate::__private::hex::encode(self.0))
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), $crate::__private::hex::encode(self.0))
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let text: ::std::string::String =
                    $crate::__private::serde::Deserialize::deserialize(deserializer)?;
                Self::from_hex(&text).ok_or_else(|| {
                    <D::Error as $crate::__private::serde::de::Error>::custom(::std::format!("expected 64 hex digits, got {text:?}"))
                })
            }
        }
    };
}
