//! The forwarder of `chiaro port-forward` (`docs/port-forward.md`).
//!
//! kubectl's port-forward cannot reach into a Kata VM, so `chiaro port-forward` reaches a
//! plain (runc) forwarder pod, and the forwarder connects on to the confidential pod. The CLI
//! sends one [`ForwardRequest`] line, then the bytes of a TLS session it runs with the target's
//! mesh proxy: the forwarder is untrusted and needs no trust, it carries ciphertext.
//!
//! - [`request`]: the request line, written by the CLI and read by the forwarder (one type).
//! - [`forward`]: the forwarder's loop: read the request, connect, copy both ways.

pub mod forward;
pub mod request;

/// The port the forwarder listens on, on loopback, in its pod: `chiaro install`'s Deployment
/// runs it there and `chiaro port-forward` has `kubectl port-forward` reach it there.
pub const PORT: u16 = 15100;

pub use request::{ForwardRequest, RequestError};
