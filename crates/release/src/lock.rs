//! `images/debian.lock`: the Debian packages the images take files from, each with its exact
//! version and the SHA-256 of its `.deb`.

use sha2::{Digest as _, Sha256};

use crate::ReleaseError;

/// The parsed lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianLock {
    /// The packages, in the file's order.
    pub packages: Vec<LockedPackage>,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// The package name.
    pub name: String,
    /// The exact version (with any epoch).
    pub version: String,
    /// `amd64` or `all`.
    pub architecture: String,
    /// The SHA-256 of the `.deb`.
    pub sha256: [u8; 32],
}

impl DebianLock {
    /// Parses the lock's text (`path` names it in errors): one `name version architecture
    /// sha256` per line; blank lines and `#` comments ignored.
    ///
    /// # Errors
    /// [`ReleaseError::LockLine`] for any other line.
    pub fn parse(path: &str, text: &str) -> Result<Self, ReleaseError> {
        let mut packages = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = || ReleaseError::LockLine {
                path: path.to_owned(),
                line: index + 1,
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            let [name, version, architecture, sha256] = words.as_slice() else {
                return Err(error());
            };
            let mut hash = [0u8; 32];
            hex::decode_to_slice(sha256, &mut hash).map_err(|_| error())?;
            packages.push(LockedPackage {
                name: (*name).to_owned(),
                version: (*version).to_owned(),
                architecture: (*architecture).to_owned(),
                sha256: hash,
            });
        }
        Ok(Self { packages })
    }
}

impl LockedPackage {
    /// The file `apt-get download` writes (`:` of an epoch as `%3a`).
    pub fn file_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.name,
            self.version.replace(':', "%3a"),
            self.architecture
        )
    }

    /// Checks the `.deb`'s bytes against the lock.
    ///
    /// # Errors
    /// [`ReleaseError::DebMoved`] naming the package when they differ.
    pub fn check(&self, deb: &[u8]) -> Result<(), ReleaseError> {
        let actual: [u8; 32] = Sha256::digest(deb).into();
        if actual == self.sha256 {
            Ok(())
        } else {
            Err(ReleaseError::DebMoved {
                package: self.name.clone(),
                version: self.version.clone(),
                expected: hex::encode(self.sha256),
                actual: hex::encode(actual),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_lock_parses_and_names_apt_files() {
        let lock = DebianLock::parse(
            "images/debian.lock",
            include_str!("../../../images/debian.lock"),
        )
        .unwrap();
        let iptables = lock.packages.iter().find(|p| p.name == "iptables").unwrap();
        assert_eq!(iptables.file_name(), "iptables_1.8.9-2_amd64.deb");
        let epoch = LockedPackage {
            version: "1:2.3".to_owned(),
            ..iptables.clone()
        };
        assert_eq!(epoch.file_name(), "iptables_1%3a2.3_amd64.deb");
    }

    #[test]
    fn a_deb_that_moved_is_refused_naming_the_package() {
        let package = LockedPackage {
            name: "libc6".to_owned(),
            version: "2.36-9+deb12u14".to_owned(),
            architecture: "amd64".to_owned(),
            sha256: Sha256::digest(b"the locked deb").into(),
        };
        package.check(b"the locked deb").unwrap();
        let error = package.check(b"a rebuilt deb").unwrap_err();
        assert!(matches!(error, ReleaseError::DebMoved { .. }));
        assert!(
            error.to_string().starts_with("libc6 2.36-9+deb12u14: "),
            "{error}"
        );
        for bad in ["a b c", "a b c zz", "a b c d e"] {
            assert!(matches!(
                DebianLock::parse("l", bad),
                Err(ReleaseError::LockLine { line: 1, .. })
            ));
        }
    }
}
