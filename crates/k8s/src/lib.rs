//! Reading and rewriting Kubernetes YAML for Chiaro: multi-document files, the workload kinds
//! whose pods run confidentially, typed read-only views of their pod specs, the ConfigMaps and
//! Secrets those pods consume, the injection of Chiaro's init container, mesh sidecar, volume
//! owner (encrypted persistent volumes: [`EncryptedVolume`]), volumes and runtime class (with the network probes of meshed pods moved to the sidecar: [`probes`]),
//! and writing documents back (unchanged ones byte for byte). What the injected containers read
//! (environment, arguments, paths, the mesh annotations' syntax, the probe table) is defined in
//! `chiaro-pod`, which the pod's own binaries share without this crate's YAML parser.
//!
//! Pure: no I/O. Callers pass file contents and names; errors name the file, the document and the
//! field path, and [`K8sError::at_field`] narrows their line and column to the field's.
//!
//! What it does not do: it does not talk to a cluster, does not apply defaults the API server
//! would apply beyond those the kubelet's container runtime observably uses, and does not accept
//! a pod-spec field it does not understand — such a field is an error with a hint, never ignored,
//! because a policy generated without it would silently differ from the pod that runs.

// Panic-free parsing: users' Kubernetes YAML (documents, pod specs, probes, services), which
// `chiaro generate` reads and rewrites.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod config_sources;
mod documents;
mod encrypted_volumes;
mod error;
mod field_position;
mod fields;
mod injection;
mod namespace;
mod pod_spec;
pub mod probes;
mod service;
pub mod start_gate;
mod volume_files;
mod volume_owner;
mod workload;
mod writing;

pub use chiaro_start::VerifiedFile;
pub use config_sources::{ConfigSource, ConfigSourceKind, ConfigSources};
pub use documents::{Document, DocumentId, FileFormat, read_documents};
pub use encrypted_volumes::{ClaimSource, EncryptedVolume};
pub use error::K8sError;
pub use fields::SpecObject;
pub use injection::{
    CREDENTIALS_VOLUME, INITIALIZER_NAME, Injection, MESH_NAME, MeshSidecar, RUNTIME_CLASS,
    attesting_security_context, container_images, inject, pin_images, set_pod_annotation,
};
pub use namespace::Namespace;
pub use pod_spec::{
    Capabilities, ConfigMapKeySelector, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, ExecAction, FieldSelector, KeyToPath, Lifecycle, LifecycleHandler,
    LocalObjectReference, PodSecurityContext, PodSpec, Probe, ResourceRequirements,
    SecretKeySelector, SecurityContext, Sysctl, Volume, VolumeDevice, VolumeMount, VolumeSource,
};
pub use service::{Service, dns_names, namespace_of, services};
pub use start_gate::ImageCommand;
pub use volume_files::{
    DownwardApiFile, DownwardApiFiles, FileVolume, ObjectFiles, ProjectedFiles, ProjectedSource,
};
pub use volume_owner::{VOLUME_OWNER_BINARY, VOLUME_OWNER_NAME, VolumeOwner};
pub use workload::{Workload, WorkloadKind, refuse_unrewritable, regex_escape};
pub use writing::{new_documents, write_documents};
