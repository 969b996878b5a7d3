//! The CLI's JSON outputs, defined once: the commands serialise these types (`--output json`),
//! and every reader (local mode in process, the tests, scripts in Rust) deserialises them.
//! No reader looks values up by key strings.

mod deployment;
mod generate;
mod install;
mod keys;
mod local;
mod measure;
mod port_forward;
mod version;

pub use deployment::{HistoryStep, SetReport, VerifyReport};
pub use generate::GenerateSummary;
pub use install::InstallSummary;
pub use keys::{SeedShareOwnerKey, WorkloadOwnerKey};
pub use local::{
    ContainerOutcome, ContainerRun, HttpAnswer, PodNetworking, PodRun, RunReport, StandInServer,
    StoryStep, TamperDecision, TamperReport, TrafficCheck, TrafficKind,
};
pub use measure::{GuestSummary, Launch, MeasuredGuest, MeasurementExplained};
pub use port_forward::{ForwardedConnection, PortForwardReport};
pub use version::{CoordinatorVersion, VersionReport};

use serde::{Deserialize, Serialize};

/// The JSON envelope of a command that shows fields (`keygen`, `set`, `verify`):
/// `{"kind": …, "fields": …, "notes": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown<T> {
    /// What is shown.
    pub kind: String,
    /// The command's result.
    pub fields: T,
    /// What the user should know.
    pub notes: Vec<String>,
}
