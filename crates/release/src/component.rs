//! What each image holds and how it runs. Pure: the inputs are bytes, read by
//! [`crate::inputs`].

use std::collections::BTreeMap;

use chiaro_image::{Entry, ImageSpec, User};

use crate::ReleaseError;

/// Where the images' own binaries go.
const BIN: &str = "usr/local/bin";
/// Where the CA bundle goes: the first file rustls-native-certs (openssl-probe) looks for.
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
/// The directory of the `ca-certificates` package's roots, concatenated into [`CA_BUNDLE`].
pub(crate) const CA_DIRECTORY: &str = "usr/share/ca-certificates/mozilla";
/// The program behind every iptables name in the mesh image: the legacy (x_tables) backend.
const XTABLES: &str = "usr/sbin/xtables-legacy-multi";

/// One of Chiaro's images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// The Coordinator.
    Coordinator,
    /// The initializer, with the start gate it installs for the workload containers.
    Initializer,
    /// The mesh proxy, with the iptables it runs.
    Mesh,
    /// The volume owner of pods with encrypted volumes, with the cryptsetup and mke2fs it
    /// runs.
    Volume,
    /// `chiaro port-forward`'s forwarder: a plain pod outside every TCB, which carries TLS
    /// records.
    Forwarder,
}

/// A file of a locked Debian package, as extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebianFile {
    /// A regular file's bytes.
    File(Vec<u8>),
    /// A symbolic link's target.
    Symlink(String),
}

/// What the images are made of, read by [`crate::inputs::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The static binaries by name (`chiaro-mesh`).
    pub binaries: BTreeMap<String, Vec<u8>>,
    /// The files the images take from the locked Debian packages, by path
    /// ([`Component::debian_paths`]).
    pub debian: BTreeMap<String, DebianFile>,
    /// The `ca-certificates` package's roots (`*.crt` under `usr/share/ca-certificates/mozilla`), by file name.
    pub ca_certificates: BTreeMap<String, Vec<u8>>,
}

/// What every image is labelled and stamped with: all from the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The workspace version: the tag.
    pub version: String,
    /// The source commit.
    pub revision: String,
    /// Where the source is published (`org.opencontainers.image.source`), when known.
    pub source: Option<String>,
    /// The commit's time (`SOURCE_DATE_EPOCH`): every file's and the configuration's.
    pub epoch: u64,
}

impl Component {
    /// Every image.
    pub const ALL: [Self; 5] = [
        Self::Coordinator,
        Self::Initializer,
        Self::Mesh,
        Self::Volume,
        Self::Forwarder,
    ];

    /// The image's (and repository's) name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Coordinator => "chiaro-coordinator",
            Self::Initializer => "chiaro-initializer",
            Self::Mesh => "chiaro-mesh",
            Self::Volume => "chiaro-volume",
            Self::Forwarder => "chiaro-forwarder",
        }
    }

    /// The static binaries it holds under `/usr/local/bin`; the first is the entrypoint. The
    /// initializer copies `chiaro-start` from beside itself into the pod's volume.
    pub const fn binaries(self) -> &'static [&'static str] {
        match self {
            Self::Coordinator => &["chiaro-coordinator"],
            Self::Initializer => &["chiaro-initializer", "chiaro-start"],
            Self::Mesh => &["chiaro-mesh"],
            Self::Volume => &["chiaro-volume"],
            Self::Forwarder => &["chiaro-forwarder"],
        }
    }

    /// The files it takes from the locked Debian packages, each with whether it is executable.
    /// For the mesh: exactly what `iptables-restore`, `ip6tables-restore`, `iptables` and
    /// `ip6tables` load for `chiaro_mesh::redirect`'s rules (`-p tcp --dport`, `RETURN`,
    /// `REDIRECT`, a jump to a chain): the legacy multi-call binary, its three libraries, glibc
    /// and its loader, and the extensions `standard`, `tcp` and `REDIRECT` (a link to `NAT`).
    pub const fn debian_paths(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::Coordinator | Self::Initializer | Self::Forwarder => &[],
            Self::Mesh => &[
                (XTABLES, true),
                ("usr/lib/x86_64-linux-gnu/libxtables.so.12", false),
                ("usr/lib/x86_64-linux-gnu/libxtables.so.12.7.0", false),
                ("usr/lib/x86_64-linux-gnu/libip4tc.so.2", false),
                ("usr/lib/x86_64-linux-gnu/libip4tc.so.2.0.0", false),
                ("usr/lib/x86_64-linux-gnu/libip6tc.so.2", false),
                ("usr/lib/x86_64-linux-gnu/libip6tc.so.2.0.0", false),
                ("usr/lib/x86_64-linux-gnu/xtables/libxt_standard.so", false),
                ("usr/lib/x86_64-linux-gnu/xtables/libxt_tcp.so", false),
                // A link to libxt_NAT.so, which holds REDIRECT (and SNAT, DNAT, MASQUERADE).
                ("usr/lib/x86_64-linux-gnu/xtables/libxt_REDIRECT.so", false),
                ("usr/lib/x86_64-linux-gnu/xtables/libxt_NAT.so", false),
                ("lib/x86_64-linux-gnu/libc.so.6", true),
                ("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", true),
                ("lib64/ld-linux-x86-64.so.2", true),
            ],
            // What `cryptsetup` (with libdevmapper, OpenSSL's libcrypto, Argon2, json-c) and
            // `mke2fs` load, each library with its SONAME link, glibc and its loader.
            Self::Volume => &[
                ("sbin/cryptsetup", true),
                ("sbin/mke2fs", true),
                ("sbin/mkfs.ext4", true),
                ("etc/mke2fs.conf", false),
                ("lib/x86_64-linux-gnu/libcryptsetup.so.12", false),
                ("lib/x86_64-linux-gnu/libcryptsetup.so.12.9.0", false),
                ("lib/x86_64-linux-gnu/libdevmapper.so.1.02.1", false),
                ("lib/x86_64-linux-gnu/libselinux.so.1", false),
                ("lib/x86_64-linux-gnu/libext2fs.so.2", false),
                ("lib/x86_64-linux-gnu/libext2fs.so.2.4", false),
                ("lib/x86_64-linux-gnu/libe2p.so.2", false),
                ("lib/x86_64-linux-gnu/libe2p.so.2.3", false),
                ("lib/x86_64-linux-gnu/libcom_err.so.2", false),
                ("lib/x86_64-linux-gnu/libcom_err.so.2.1", false),
                ("usr/lib/x86_64-linux-gnu/libpopt.so.0", false),
                ("usr/lib/x86_64-linux-gnu/libpopt.so.0.0.2", false),
                ("usr/lib/x86_64-linux-gnu/libuuid.so.1", false),
                ("usr/lib/x86_64-linux-gnu/libuuid.so.1.3.0", false),
                ("usr/lib/x86_64-linux-gnu/libblkid.so.1", false),
                ("usr/lib/x86_64-linux-gnu/libblkid.so.1.1.0", false),
                ("usr/lib/x86_64-linux-gnu/libcrypto.so.3", false),
                ("usr/lib/x86_64-linux-gnu/libargon2.so.1", false),
                ("usr/lib/x86_64-linux-gnu/libjson-c.so.5", false),
                ("usr/lib/x86_64-linux-gnu/libjson-c.so.5.2.0", false),
                ("usr/lib/x86_64-linux-gnu/libudev.so.1", false),
                ("usr/lib/x86_64-linux-gnu/libudev.so.1.7.5", false),
                ("usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", false),
                ("usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2", false),
                ("lib/x86_64-linux-gnu/libc.so.6", true),
                ("lib/x86_64-linux-gnu/libm.so.6", false),
                ("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", true),
                ("lib64/ld-linux-x86-64.so.2", true),
            ],
        }
    }

    /// Whether it reaches AMD KDS or Intel PCS over HTTPS (the sender of evidence fetches its
    /// collateral), so needs the CA bundle.
    pub const fn needs_ca_bundle(self) -> bool {
        matches!(self, Self::Coordinator | Self::Initializer)
    }

    /// Who it runs as: root, each for a reason. The Coordinator and the initializer create
    /// configfs-tsm reports (`/sys/kernel/config/tsm/report` is root's; generate runs the
    /// initializer with `runAsUser: 0` and no capabilities); the mesh installs its redirect
    /// with iptables (`CAP_NET_ADMIN`, the one capability generate grants it); the volume
    /// owner sets up device-mapper. The forwarder needs nothing: nobody.
    pub const fn user(self) -> User {
        match self {
            Self::Forwarder => User::NOBODY,
            Self::Coordinator | Self::Initializer | Self::Mesh | Self::Volume => User::ROOT,
        }
    }

    /// The environment: `PATH` for the mesh and the volume owner, which run iptables, cryptsetup
    /// and mkfs.ext4 by name; nothing otherwise.
    fn env(self) -> Vec<String> {
        match self {
            Self::Mesh => vec!["PATH=/usr/local/bin:/usr/sbin".to_owned()],
            Self::Volume => vec!["PATH=/usr/local/bin:/sbin".to_owned()],
            Self::Coordinator | Self::Initializer | Self::Forwarder => Vec::new(),
        }
    }

    /// The image's specification from `inputs`, stamped with `stamp`.
    ///
    /// # Errors
    /// [`ReleaseError::BinaryMissing`] or [`ReleaseError::NotInPackages`] for an input that is
    /// not there.
    pub fn spec(self, inputs: &Inputs, stamp: &Stamp) -> Result<ImageSpec, ReleaseError> {
        let mut entries = vec![Entry::directory("tmp", 0o1777)];
        for binary in self.binaries() {
            let content =
                inputs
                    .binaries
                    .get(*binary)
                    .ok_or_else(|| ReleaseError::BinaryMissing {
                        path: (*binary).into(),
                    })?;
            entries.push(Entry::file(
                &format!("{BIN}/{binary}"),
                content.clone(),
                true,
            ));
        }
        for (path, executable) in self.debian_paths() {
            let file = inputs
                .debian
                .get(*path)
                .ok_or_else(|| ReleaseError::NotInPackages {
                    path: (*path).to_owned(),
                })?;
            entries.push(match file {
                DebianFile::File(content) => Entry::file(path, content.clone(), *executable),
                DebianFile::Symlink(target) => Entry::symlink(path, target),
            });
        }
        match self {
            Self::Mesh => {
                for name in [
                    "iptables",
                    "iptables-restore",
                    "ip6tables",
                    "ip6tables-restore",
                ] {
                    entries.push(Entry::symlink(
                        &format!("usr/sbin/{name}"),
                        "xtables-legacy-multi",
                    ));
                }
                // iptables takes a lock on this file, creating it if missing; the mesh's root
                // file system is read-only, so it is there already (opening an existing file
                // with O_CREAT works on a read-only file system).
                entries.push(Entry::file("run/xtables.lock", Vec::new(), false));
            }
            Self::Coordinator => {
                // The default state directory, for a Coordinator run without a volume there.
                entries.push(Entry::directory("var/lib/chiaro", 0o700));
            }
            Self::Volume => {
                // mke2fs checks that the device is not mounted through the mount table.
                entries.push(Entry::symlink("etc/mtab", "../proc/self/mounts"));
            }
            Self::Initializer | Self::Forwarder => {}
        }
        if self.needs_ca_bundle() {
            entries.push(Entry::file(
                CA_BUNDLE,
                ca_bundle(&inputs.ca_certificates),
                false,
            ));
        }
        let first = self.binaries().first().copied().unwrap_or_default();
        let mut labels = BTreeMap::from([
            (
                "org.opencontainers.image.title".to_owned(),
                self.name().to_owned(),
            ),
            (
                "org.opencontainers.image.version".to_owned(),
                stamp.version.clone(),
            ),
            (
                "org.opencontainers.image.revision".to_owned(),
                stamp.revision.clone(),
            ),
            (
                "org.opencontainers.image.licenses".to_owned(),
                "Apache-2.0".to_owned(),
            ),
        ]);
        if let Some(source) = &stamp.source {
            labels.insert("org.opencontainers.image.source".to_owned(), source.clone());
        }
        Ok(ImageSpec {
            entries,
            user: self.user(),
            entrypoint: vec![format!("/{BIN}/{first}")],
            env: self.env(),
            labels,
            epoch: stamp.epoch,
        })
    }
}

/// The roots concatenated in file-name order, each ending with a newline (what
/// `update-ca-certificates` writes, without running it).
fn ca_bundle(certificates: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut bundle = Vec::new();
    for pem in certificates.values() {
        bundle.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        let mut inputs = Inputs::default();
        for component in Component::ALL {
            for binary in component.binaries() {
                inputs
                    .binaries
                    .insert((*binary).to_owned(), binary.as_bytes().to_vec());
            }
            for (path, _) in component.debian_paths() {
                inputs.debian.insert(
                    (*path).to_owned(),
                    DebianFile::File(path.as_bytes().to_vec()),
                );
            }
        }
        inputs
            .ca_certificates
            .insert("b.crt".to_owned(), b"B".to_vec());
        inputs
            .ca_certificates
            .insert("a.crt".to_owned(), b"A\n".to_vec());
        inputs
    }

    fn stamp() -> Stamp {
        Stamp {
            version: "0.1.0".to_owned(),
            revision: "abc".to_owned(),
            source: None,
            epoch: 0,
        }
    }

    #[test]
    fn each_image_runs_its_first_binary_and_holds_what_it_needs() {
        let initializer = Component::Initializer.spec(&inputs(), &stamp()).unwrap();
        assert_eq!(
            initializer.entrypoint,
            ["/usr/local/bin/chiaro-initializer"]
        );
        let paths: Vec<&str> = initializer
            .entries
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert!(paths.contains(&"usr/local/bin/chiaro-start"));
        let bundle = initializer
            .entries
            .iter()
            .find(|e| e.path == CA_BUNDLE)
            .unwrap();
        assert_eq!(
            bundle.kind,
            chiaro_image::Kind::File {
                content: b"A\nB\n".to_vec(),
                executable: false
            }
        );
        let mesh = Component::Mesh.spec(&inputs(), &stamp()).unwrap();
        assert_eq!(mesh.env, ["PATH=/usr/local/bin:/usr/sbin"]);
        assert!(
            mesh.entries
                .iter()
                .any(|e| e.path == "usr/sbin/iptables-restore")
        );
        assert!(!mesh.entries.iter().any(|e| e.path == CA_BUNDLE));
        assert_eq!(mesh.labels["org.opencontainers.image.revision"], "abc");
    }

    #[test]
    fn a_missing_input_is_named() {
        let mut partial = inputs();
        partial
            .debian
            .remove("usr/lib/x86_64-linux-gnu/xtables/libxt_tcp.so");
        let error = Component::Mesh.spec(&partial, &stamp()).unwrap_err();
        assert!(error.to_string().contains("libxt_tcp.so"), "{error}");
        partial.binaries.remove("chiaro-start");
        assert!(matches!(
            Component::Initializer.spec(&partial, &stamp()),
            Err(ReleaseError::BinaryMissing { .. })
        ));
    }
}
