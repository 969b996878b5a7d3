//! Where a Coordinator listens, defined once: its flags' defaults and what `chiaro install`
//! writes into the Coordinator's pod (container ports, Services, probes) come from here.

/// The user API's port (server-attested TLS: `set`, `verify`, `recover`).
pub const USER_API_PORT: u16 = 1313;
/// The mesh API's port (mutually attested TLS: initializers).
pub const MESH_API_PORT: u16 = 7777;
/// The plain-HTTP status port (no secrets).
pub const STATUS_PORT: u16 = 9102;

/// Status path: 200 while the process serves.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Status path: 200 only when the Coordinator is ready (it has a manifest and its seed).
pub const READYZ_PATH: &str = "/readyz";
/// Status path: Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";

/// The state directory inside the Coordinator's container.
pub const STATE_DIR: &str = "/var/lib/chiaro";
