//! The host's attacks on the Coordinator, one module per surface the host controls, as real
//! processes over loopback with the INSECURE simulated TEE (the harness of `e2e.rs`) where the
//! attack needs them. The binaries must be built first (`cargo build --workspace --bins`;
//! scripts/test does).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

#[path = "../harness/mod.rs"]
mod harness;

mod flood;
mod identity;
mod state_dir;
