//! What `chiaro port-forward` reports: once when it listens, then one event per connection.

use std::net::SocketAddr;

use chiaro_manifest::{DeploymentId, TransitionHash};
use serde::{Deserialize, Serialize};

/// Printed once the forward listens (stdout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwardReport {
    /// Where it listens.
    pub listening: SocketAddr,
    /// The target as given.
    pub target: String,
    /// Its namespace.
    pub namespace: String,
    /// The identity the target's mesh certificate must carry.
    pub server_name: String,
    /// The forwarder connected to.
    pub forwarder: String,
    /// Where the forwarder is asked to connect (routing only).
    pub routing: String,
    /// The deployment, verified.
    pub deployment: DeploymentId,
    /// Its latest transition, under which the owner certificate is issued.
    pub latest_transition: TransitionHash,
    /// When the first owner certificate ends (Unix seconds).
    pub owner_certificate_not_after: u64,
    /// What the user should know.
    pub notes: Vec<String>,
}

/// How one forwarded connection ended (stderr, one line each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ForwardedConnection {
    /// Carried until either side closed.
    Closed {
        /// Its number.
        connection: u64,
        /// Bytes from here to the target.
        bytes_up: u64,
        /// Bytes from the target to here.
        bytes_down: u64,
    },
    /// TLS refused the server or the stream: nothing reached the local client.
    Refused {
        /// Its number.
        connection: u64,
        /// Why.
        error: String,
    },
    /// The forwarder or the connection failed.
    Failed {
        /// Its number.
        connection: u64,
        /// Why.
        error: String,
    },
}
