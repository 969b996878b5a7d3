//! What `chiaro local run`, `chiaro local tamper` and `chiaro local get` report.

use std::fmt;
use std::net::SocketAddr;

use chiaro_manifest::{KeyDigest, PolicyHash};
use serde::{Deserialize, Serialize};

use super::{SetReport, VerifyReport};

/// What `chiaro local run` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Where its files are.
    pub work_dir: String,
    /// How the pods were networked.
    pub network: PodNetworking,
    /// The Coordinator's user API (for `chiaro verify`, `set` or `port-forward` while
    /// `--keep-running` keeps it).
    pub coordinator: SocketAddr,
    /// The workload owner's key digest.
    pub owner_key_digest: KeyDigest,
    /// What `set` installed.
    pub installed: SetReport,
    /// Each pod, as the agent started it.
    pub pods: Vec<PodRun>,
    /// The traffic checks between and into the pods.
    pub traffic: Vec<TrafficCheck>,
    /// What `verify` found.
    pub verified: VerifyReport,
    /// Pods that did not start plus mesh checks that failed.
    pub refused_or_failed: usize,
    /// The story as printed.
    pub steps: Vec<StoryStep>,
}

/// How local mode networks its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PodNetworking {
    /// Every pod on this machine's loopback; proxies on ports of their own.
    Loopback,
    /// A network namespace per pod on a bridge; proxies transparent.
    Namespaces,
}

/// One pod, as the agent started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRun {
    /// The workload's name.
    pub workload: String,
    /// The pod's name (as its controller would give it).
    pub pod: String,
    /// Its namespace.
    pub namespace: String,
    /// Its policy hash.
    pub policy_hash: PolicyHash,
    /// Its containers in creation order, up to the first that did not start.
    pub containers: Vec<ContainerRun>,
}

impl PodRun {
    /// Whether every container started.
    pub fn started(&self) -> bool {
        self.containers.iter().all(|run| run.outcome.started())
    }
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRun {
    /// Its name (the sandbox is `sandbox`).
    pub container: String,
    /// What happened.
    pub outcome: ContainerOutcome,
}

/// What happened to a container the host asked the agent to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ContainerOutcome {
    /// The policy refused it.
    Refused {
        /// Why.
        denials: Vec<String>,
    },
    /// The sandbox was allowed.
    Sandbox,
    /// Allowed; the real initializer ran and wrote these files.
    Initializer {
        /// Paths under the pod's `/chiaro`.
        wrote: Vec<String>,
    },
    /// Allowed; the real mesh proxy runs.
    Mesh {
        /// Transparent (the pod's firewall redirects to it) rather than on ports of its own.
        transparent: bool,
        /// Its listeners.
        summary: String,
    },
    /// Allowed; the real volume owner runs and opened these encrypted volumes, on an INSECURE
    /// file-backed stand-in for the disks (no encryption: no device-mapper outside a VM).
    VolumeOwner {
        /// The volumes it opened.
        volumes: Vec<String>,
        /// Where the stand-in disks and their plain data are, and that they are not encrypted.
        stand_in: String,
    },
    /// Allowed; a stand-in server runs on each declared port.
    StandIn {
        /// One per declared port.
        servers: Vec<StandInServer>,
    },
    /// Allowed, but its process failed.
    Failed {
        /// Which process.
        process: String,
        /// Its error.
        error: String,
    },
}

impl ContainerOutcome {
    /// Whether the container started.
    pub fn started(&self) -> bool {
        !matches!(self, Self::Refused { .. } | Self::Failed { .. })
    }
}

/// A stand-in server for a declared port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandInServer {
    /// The declared port.
    pub declared: u16,
    /// Where it listens.
    pub address: SocketAddr,
    /// Where the mesh reaches it, when it is meshed.
    pub ingress: Option<SocketAddr>,
}

/// One traffic check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficCheck {
    /// The pod (workload name) it is about.
    pub pod: String,
    /// What was checked.
    pub kind: TrafficKind,
    /// What came back (`None`: no HTTP answer).
    pub answer: Option<HttpAnswer>,
    /// Whether it went as the mesh requires.
    pub passed: bool,
}

/// What a traffic check sends where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum TrafficKind {
    /// `GET /` through an egress entry: must cross both proxies (mutual TLS).
    Egress {
        /// The entry's name.
        name: String,
        /// Where it listens in the pod.
        local: String,
        /// Its remote as written.
        remote: String,
        /// Where the remote resolved to.
        through: SocketAddr,
    },
    /// Plaintext `GET /` straight to a TLS ingress: must be refused.
    Plaintext {
        /// The address.
        address: SocketAddr,
        /// The declared port.
        port: u16,
        /// The pod's own port, redirected to its proxy (namespaces), rather than the proxy's.
        redirected: bool,
    },
    /// A kubelet probe moved to the proxy's status port: must answer 200.
    Probe {
        /// The probe's path.
        path: String,
        /// The proxy's status address.
        status: SocketAddr,
    },
    /// `GET /` to a stand-in that is not meshed (told, not judged).
    Direct {
        /// The container.
        container: String,
        /// The address.
        address: SocketAddr,
    },
}

/// An HTTP/1 answer, its status line parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The body, trimmed.
    pub body: String,
}

impl HttpAnswer {
    /// Whether the status is 200.
    pub fn is_ok(&self) -> bool {
        self.status == 200
    }
}

impl fmt::Display for HttpAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP/1.1 {} {}: {}", self.status, self.reason, self.body)
    }
}

/// One step of the printed story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryStep {
    /// Its title.
    pub step: String,
    /// Its lines.
    pub lines: Vec<String>,
}

/// What `chiaro local tamper` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamperReport {
    /// The workload.
    pub workload: String,
    /// The change (as named on the command line, in Rust case).
    pub change: String,
    /// The first request the agent refused, if any.
    pub refused: Option<String>,
    /// Each request's decision, up to the first refusal.
    pub decisions: Vec<TamperDecision>,
}

/// The agent's decision on one request of a tampered start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamperDecision {
    /// The step (container, and what of it).
    pub container: String,
    /// The request kind.
    pub request: String,
    /// Whether the host changed this request.
    pub tampered: bool,
    /// The decision.
    pub allowed: bool,
    /// Why not.
    pub denials: Vec<String>,
}
