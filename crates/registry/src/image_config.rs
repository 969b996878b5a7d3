//! What the registry reads from an image's OCI configuration (`config` of the config blob).

/// An image's canonical pinned reference and the parts of its OCI configuration that decide the
/// process it runs. The registry's own type: callers (the CLI for policy generation) adapt it
/// to theirs, so this crate depends on no consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfiguration {
    /// The reference pinned by digest, `registry/repository@sha256:…`.
    pub reference: String,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, `NAME=value` each.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `User`: `uid`, `uid:gid`, or names.
    pub user: String,
    /// `Volumes`: directories the runtime mounts from outside the image.
    pub volumes: Vec<String>,
}
