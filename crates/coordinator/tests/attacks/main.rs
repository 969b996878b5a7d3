//! The host's attacks on the Coordinator, one module per surface the host controls.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod state_dir;
