//! Where things are in a Chiaro pod: the credentials volume, the files the initializer writes
//! into it (and the mesh proxy and the start gate read), the mesh proxy's arguments and ports.
//!
//! The volume is guest memory mounted only into the pod's containers (generate refuses any
//! other volume at or under [`MOUNT`]), so the host can write none of these files: the start
//! gate exists only once the initializer wrote the credentials, and the ready file only once
//! the mesh proxy's redirect rules are in (`docs/mesh.md`).

use std::path::{Path, PathBuf};

use crate::volumes::VolumeName;

/// The credentials mount, spelled once for the constants below.
macro_rules! mount {
    () => {
        "/chiaro"
    };
}

/// Where the credentials volume is mounted in every container of a Chiaro pod.
pub const MOUNT: &str = mount!();
/// The start gate's file name: beside the initializer in its image, under `bin/` in the pod.
pub const START_GATE_NAME: &str = "chiaro-start";
/// The start gate in a pod: the first word of every workload command generate writes.
pub const START_GATE: &str = concat!(mount!(), "/bin/chiaro-start");
/// The file the mesh proxy writes once its redirect rules, credentials and listeners are in;
/// every workload process of a meshed pod waits for it (`chiaro-start --wait-file`).
pub const MESH_READY_FILE: &str = concat!(mount!(), "/mesh-ready");

/// The mesh proxy's transparent ingress port, where the pod's inbound TCP is redirected.
pub const MESH_INGRESS_PORT: u16 = 15006;
/// The mesh proxy's status port (readiness, moved probes), probed by the kubelet and never
/// redirected.
pub const MESH_STATUS_PORT: u16 = 15021;
/// The status port's readiness path (the mesh container's startup probe).
pub const READY_PATH: &str = "/ready";

/// The mesh proxy's flag: install the redirect rules (transparent ingress).
pub const TRANSPARENT_FLAG: &str = "transparent";
/// The mesh proxy's flag: the credentials directory.
pub const CREDENTIALS_FLAG: &str = "credentials";
/// The mesh proxy's flag: the ready file to write.
pub const READY_FILE_FLAG: &str = "ready-file";

/// The files of a credentials directory: [`MOUNT`] in a pod, any directory in tests and in
/// local mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsDir {
    root: PathBuf,
}

impl CredentialsDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory in a pod, [`MOUNT`].
    pub fn pod() -> Self {
        Self::new(MOUNT)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `tls/`: the certificates and the mesh key.
    pub fn tls(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// `tls/cert.pem`: the pod's mesh certificate.
    pub fn certificate(&self) -> PathBuf {
        self.tls().join("cert.pem")
    }

    /// `tls/key.pem`: the pod's mesh key (private).
    pub fn key(&self) -> PathBuf {
        self.tls().join("key.pem")
    }

    /// `tls/mesh-ca.pem`: the mesh CA certificate.
    pub fn mesh_ca(&self) -> PathBuf {
        self.tls().join("mesh-ca.pem")
    }

    /// `tls/coordinator-root-ca.pem`: the Coordinator's root CA certificate.
    pub fn root_ca(&self) -> PathBuf {
        self.tls().join("coordinator-root-ca.pem")
    }

    /// `secrets/`: the workload's secrets.
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }

    /// `secrets/workload-secret-seed`: the workload secret, hex (private).
    pub fn workload_secret_seed(&self) -> PathBuf {
        self.secrets().join("workload-secret-seed")
    }

    /// `bin/`: the start gate's directory.
    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// `bin/chiaro-start`: the start gate, written last by the initializer.
    pub fn start_gate(&self) -> PathBuf {
        self.bin().join(START_GATE_NAME)
    }

    /// `mesh-ready`: the mesh proxy's ready file.
    pub fn mesh_ready(&self) -> PathBuf {
        self.root.join("mesh-ready")
    }

    /// `volumes/`: the volume owner's ready files.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// `volumes/NAME.ready`: written by the volume owner once the volume is mounted; the apps'
    /// start gate waits for it.
    pub fn volume_ready(&self, volume: &VolumeName) -> PathBuf {
        self.volumes().join(format!("{volume}.ready"))
    }
}

/// The mesh proxy's arguments, as generate writes them and the proxy's flags read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshArgs {
    /// `--transparent`.
    pub transparent: bool,
    /// `--credentials DIR`.
    pub credentials: String,
    /// `--ready-file FILE`.
    pub ready_file: Option<String>,
}

impl MeshArgs {
    /// The sidecar of a meshed pod: transparent, the pod's credentials, the pod's ready file.
    pub fn sidecar() -> Self {
        Self {
            transparent: true,
            credentials: MOUNT.to_owned(),
            ready_file: Some(MESH_READY_FILE.to_owned()),
        }
    }

    /// The container's `args`.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.transparent {
            args.push(format!("--{TRANSPARENT_FLAG}"));
        }
        args.extend([format!("--{CREDENTIALS_FLAG}"), self.credentials.clone()]);
        if let Some(file) = &self.ready_file {
            args.extend([format!("--{READY_FILE_FLAG}"), file.clone()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract as deployed pods and their pinned policies have it: changing a value here
    /// changes every generated policy.
    #[test]
    fn the_paths_are_those_of_deployed_pods() {
        let pod = CredentialsDir::pod();
        assert_eq!(pod.start_gate(), Path::new(START_GATE));
        assert_eq!(pod.mesh_ready(), Path::new(MESH_READY_FILE));
        assert_eq!(START_GATE, "/chiaro/bin/chiaro-start");
        assert_eq!(MESH_READY_FILE, "/chiaro/mesh-ready");
        assert_eq!(pod.key(), Path::new("/chiaro/tls/key.pem"));
        assert_eq!(
            pod.workload_secret_seed(),
            Path::new("/chiaro/secrets/workload-secret-seed")
        );
        assert_eq!(
            MeshArgs::sidecar().args(),
            [
                "--transparent",
                "--credentials",
                "/chiaro",
                "--ready-file",
                "/chiaro/mesh-ready"
            ]
        );
    }
}
