//! The host's attacks on the Coordinator, as real processes over loopback with the INSECURE
//! simulated TEE (the harness of `e2e.rs`). The binaries must be built first
//! (`cargo build --workspace --bins`; scripts/test does).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

#[path = "../harness/mod.rs"]
mod harness;

mod flood;
