//! `chiaro-start`, the gate in front of every workload process of a Chiaro pod.
//!
//! `chiaro generate` rewrites each workload container's command to
//! `/chiaro/bin/chiaro-start` ([`chiaro_pod::layout::START_GATE`]) `[--wait-file FILE]… [--verify-file PATH=SHA256]… [--entrypoint-from-image] [--args-from-image] -- COMMAND…`.
//! The pod's policy pins that command, so the host cannot drop the gate. The binary exists only
//! once the initializer has written the pod's credentials (it copies it into the in-guest memory
//! volume as its last step), and it execs the command only once every wait file exists: the mesh
//! proxy writes its ready file after its redirect rules, credentials and listeners are in. Neither
//! file can be written by the host (the volume is guest memory, mounted only into the pod's
//! containers; see `docs/mesh.md`). Exec probes and lifecycle hooks run behind the same gate with
//! `--require-file`: they fail at once while a file is missing. `--verify-file` pins the content
//! of the ConfigMap and Secret files the container mounts: the Kata agent shows the policy a
//! copied file's size and mode but not its bytes, so the gate, whose arguments the policy pins,
//! checks each file's SHA-256 before it runs the command (and the policy refuses a later
//! re-projection of such a volume: `docs/policy.md`).
//!
//! This module is the one definition of that command line: generate writes it with
//! [`Gate::command`], the binary reads it with [`Gate::parse`], and generate reads a command it
//! wrote before with [`Gate::unwrap`].

// Panic-free parsing: the gate's command line reaches it through the pod spec, which the
// untrusted host delivers (the policy pins it, but the gate parses it as it finds it).
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod gate;

pub use gate::{
    ARGS_FROM_IMAGE, ENTRYPOINT_FROM_IMAGE, Gate, REQUIRE_FILE, StartError, VERIFY_FILE,
    VerifiedFile, WAIT_FILE,
};
