//! Kata agent policies for Chiaro pods.
//!
//! - [`generate()`]: a workload's pod spec, image configurations and the ConfigMaps and Secrets
//!   it consumes become [`PolicyData`]: what every container must be (image, command,
//!   environment, user, capabilities, mounts, devices, exec commands) and the order containers
//!   must start in.
//! - [`AgentPolicy`]: Chiaro's rules ([`RULES`], Rego, package `agent_policy`) with that data.
//! - [`Initdata`]: the TOML document carrying the policy into the TEE launch, its digest (the
//!   policy hash) and its annotation form.
//! - [`generate_deployment`]: a whole deployment's YAML rewritten for Chiaro (initializer,
//!   pinned images, initdata) and the policy entries of its manifest (which the caller writes
//!   with `chiaro_manifest::ManifestDraft`).
//! - [`generate_coordinator`]: the Coordinator's own deployment through the same stages, without
//!   Chiaro's containers; its policy hash is what clients and pods pin the Coordinator by.
//! - [`Evaluator`]: evaluates agent requests as the Kata agent does, with policy state, and
//!   explains denials.
//!
//! Security model: the host (kubelet, containerd, Kata shim) is untrusted and sends the agent
//! every request; the policy, measured into the TEE, decides which are allowed. Every request
//! kind is refused unless a rule allows it. Containers are pinned by name: each must be exactly
//! as generated, each has at most one live instance (a restart passes every check again), no
//! container is created before the init containers that precede it or started before they were
//! started (a sidecar: while it runs), and Chiaro's own containers take only teardown signals —
//! so an initializer or mesh sidecar cannot be skipped or left unstarted.
//!
//! What it does not do: it fetches nothing (image configurations come from `chiaro-registry`
//! or the caller), reads no image layers (so image users must be numeric or set by the pod),
//! and does not yet pin the contents of ConfigMap and Secret *volumes* (their files come from
//! the host); environment values from them are pinned. Generation is pure; evaluation runs
//! regorus with a time limit.

// Panic-free parsing: the evaluator takes the Kata agent's requests, which the untrusted host
// sends, and initdata; generation parses users' YAML (environment expansion, resource
// quantities) and image configs from registries.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod agent_policy;
mod copy_files;
mod data;
mod deployment;
mod error;
mod evaluate;
mod generate;
mod image;
mod image_source;
mod initdata;
mod platform;
mod qos;
mod sizing;

pub use agent_policy::{AgentPolicy, RULES};
pub use copy_files::{
    CopyVolumes, DATA_DIR_REGEX, DEFAULT_FILE_MODE, FileRule, PinnedSecretFile, VolumeFiles,
};
pub use data::{
    ContainerRules, DeviceRule, EnvRule, MountRule, OomScoreAdj, PodRules, PolicyData,
    ProcessRules, SandboxValue, UserRules,
};
pub use deployment::{
    Anchor, CoordinatorEntry, DeploymentOptions, ExistingManifest, GeneratedCoordinator,
    GeneratedDeployment, GeneratedEntry, ImagePin, SANS_ANNOTATION, SanSource, SourceFile,
    WORKLOAD_SECRET_ANNOTATION, WorkloadReport, generate_coordinator, generate_deployment,
    images_to_resolve,
};
pub use error::{EngineError, InitdataError, PolicyError, RequestError, StateError};
pub use evaluate::{Decision, Evaluator};
pub use generate::{GenerateOptions, GeneratedPolicy, PinnedSecret, generate};
pub use image::{ImageConfig, runtime_names};
pub use image_source::{ImageSource, Unpinned, pin_images};
pub use initdata::{INITDATA_ANNOTATION, Initdata};
pub use platform::{EPHEMERAL_DIR, Namespace, NetworkRules, Platform, StorageTemplate};
pub use sizing::{
    MIN_BASE_MEMORY_MIB, VM_MEMORY_ANNOTATION, VM_VCPUS_ANNOTATION, VmSize, memory_mib,
};
