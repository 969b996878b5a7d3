//! Chiaro's mesh proxy, the sidecar of every confidential pod: all pod-to-pod traffic is
//! mutual TLS with the mesh certificates the initializer fetched after attestation.
//!
//! - what generate hands the proxy (its arguments, environment and paths, the ingress and
//!   egress annotations' syntax, the probe table) is [`chiaro_pod`], shared with `generate`,
//!   which checks the annotations and probes with the same parsers; the proxy links no YAML.
//! - [`credentials`]: the TLS configurations from `/chiaro/tls`, reloaded when the mesh CA
//!   rotates (new connections get the new ones; established ones are not dropped).
//! - [`ingress`]: inbound connections terminated with mutual TLS, peer identity checked,
//!   forwarded in plaintext to the workload at the pod address they were sent to (never to
//!   loopback).
//! - [`egress`]: loopback listeners whose connections leave with mutual TLS to a named peer.
//! - [`pipe`]: the byte copy: both directions, one bounded buffer each (plus a read-ahead under
//!   TLS), records gathered into one write, half-close, idle timeout.
//! - [`events`]: what happened to each connection; [`metrics`]: its counters and their
//!   Prometheus exposition (`/metrics` on the status port).
//! - [`redirect`]: transparent ingress: the pod's firewall rules, installed before the proxy
//!   listens (fail closed).
//! - [`app_probes`]: the workload's HTTP and TCP probes, run by the proxy for the kubelet
//!   (which cannot pass the mesh's mutual TLS).
//! - [`status`]: readiness for the kubelet (a native sidecar's startup probe holds the
//!   workload back until the proxy is ready), and the ready file the workload's entrypoint
//!   waits for (`--ready-file`).
//! - [`admission`] and [`chiaro_accept`]: what a flood can hold (caps as a share of the descriptor
//!   limit, eviction for newcomers) and the pause after a failed accept.
//! - [`workers`]: the threads connections run on, one connection on one thread for its life.
//!
//! Security model: the network and every other pod are untrusted. A peer is accepted only with
//! a certificate from the current mesh CA (which only the Coordinator can issue, and only to
//! attested pods whose policy is in the manifest), and, where the entry lists names, only with
//! one of them. A port reachable in plaintext is an explicit opt-out in the pod's annotations,
//! which the pod's policy pins.
//!
//! What it does not do: parse application protocols, balance across endpoints, or redirect
//! outbound traffic (egress is explicit: the workload connects to the loopback listeners its
//! annotations name; a plaintext connection around them reaches no mesh pod, whose ingress
//! demands mutual TLS).

// Panic-free parsing: peer traffic (attested TLS from other pods, plaintext from anywhere on
// the pod network), the application's probe answers, and the pod's arguments, environment and
// annotations, which the untrusted host delivers.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

pub mod admission;
pub mod app_probes;
pub mod credentials;
pub mod egress;
mod error;
pub mod events;
pub mod ingress;
pub mod metrics;
pub mod pipe;
pub mod redirect;
pub mod status;
pub mod workers;

pub use error::{CredentialsFault, MeshError};
