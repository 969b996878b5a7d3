//! The contract between `chiaro generate` (the writer, through `chiaro-k8s`) and the Chiaro
//! containers of a pod (the readers: the initializer, the mesh proxy, the start gate and the
//! volume owner), defined once: the environment variables, the mesh proxy's arguments, the
//! credentials mount and the files under it, the mesh proxy's ports, the mesh annotations'
//! syntax, the table of moved probes and the encrypted volumes' annotation, arguments and
//! layout. The writer serialises these types into the pod spec; the readers parse what they
//! find with the same types; no name or path is spelled anywhere else.
//!
//! What it does not do: no I/O, no Kubernetes YAML (that is `chiaro-k8s`), no TLS. It is in
//! every pod's trusted computing base, so it stays small: std and `thiserror`; `serde` with
//! `serde_json` only under the feature `probes`, for the probe table (a JSON value in the mesh
//! proxy's environment), which the start gate does not link.
//!
//! Entry points: [`env`](mod@env) (variable names, [`InitializerEnv`], `MeshEnv`), [`layout`]
//! ([`CredentialsDir`], [`MeshArgs`], the ports), [`annotations`] ([`parse_ingress`],
//! [`parse_egress`]), [`volumes`] ([`parse_encrypted_volumes`], [`VolumeName`],
//! [`VolumeArgs`]) and, with the feature `probes`, `probes` (`ProbeTable`).
//!
//! ```
//! use chiaro_pod::{CredentialsDir, MeshArgs, layout};
//!
//! assert_eq!(CredentialsDir::pod().start_gate().to_str(), Some(layout::START_GATE));
//! assert!(MeshArgs::sidecar().args().contains(&layout::MESH_READY_FILE.to_owned()));
//! ```

// Panic-free parsing: the readers parse the environment, arguments and probe table that reach
// their container through the pod spec the untrusted host delivers, and the mesh annotations
// come from users' YAML.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

pub mod annotations;
pub mod env;
mod error;
pub mod layout;
#[cfg(feature = "probes")]
pub mod probes;
pub mod volumes;

pub use annotations::{EgressRule, IngressRule, parse_egress, parse_ingress};
pub use env::InitializerEnv;
#[cfg(feature = "probes")]
pub use env::MeshEnv;
#[cfg(feature = "probes")]
pub use error::ProbeFault;
pub use error::{AnnotationFault, PodError, with_causes};
pub use layout::{CredentialsDir, MeshArgs};
#[cfg(feature = "probes")]
pub use probes::{AppProbe, ProbeTable};
pub use volumes::{VolumeArgs, VolumeName, parse_encrypted_volumes};
