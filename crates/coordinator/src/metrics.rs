//! Counters for the Prometheus endpoint.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Outcome counters of the Coordinator's operations.
#[derive(Debug, Default)]
pub struct Metrics {
    set_manifest_ok: AtomicU64,
    set_manifest_refused: AtomicU64,
    new_mesh_cert_ok: AtomicU64,
    new_mesh_cert_refused: AtomicU64,
    recover_ok: AtomicU64,
    recover_refused: AtomicU64,
    attestation_refused_user: AtomicU64,
    attestation_refused_mesh: AtomicU64,
}

/// An operation whose outcome is counted.
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    /// `SetManifest`.
    SetManifest,
    /// `NewMeshCert`.
    NewMeshCert,
    /// `Recover`.
    Recover,
}

/// Which listener refused a peer's attestation.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// The user API.
    User,
    /// The mesh API.
    Mesh,
}

impl Metrics {
    /// Counts one outcome of `operation`.
    pub fn count(&self, operation: Operation, ok: bool) {
        let counter = match (operation, ok) {
            (Operation::SetManifest, true) => &self.set_manifest_ok,
            (Operation::SetManifest, false) => &self.set_manifest_refused,
            (Operation::NewMeshCert, true) => &self.new_mesh_cert_ok,
            (Operation::NewMeshCert, false) => &self.new_mesh_cert_refused,
            (Operation::Recover, true) => &self.recover_ok,
            (Operation::Recover, false) => &self.recover_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused attested-TLS connection.
    pub fn attestation_refused(&self, api: Api) {
        let counter = match api {
            Api::User => &self.attestation_refused_user,
            Api::Mesh => &self.attestation_refused_mesh,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the current state as a gauge.
    pub fn render(&self, state: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_state The Coordinator's state (1 for the current one)."
        );
        let _ = writeln!(out, "# TYPE chiaro_coordinator_state gauge");
        for name in ["uninitialized", "recovery", "ready"] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_state{{state=\"{name}\"}} {}",
                u8::from(name == state)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_operations_total Operations by outcome."
        );
        let _ = writeln!(out, "# TYPE chiaro_coordinator_operations_total counter");
        for (operation, ok, counter) in [
            ("set_manifest", "ok", &self.set_manifest_ok),
            ("set_manifest", "refused", &self.set_manifest_refused),
            ("new_mesh_cert", "ok", &self.new_mesh_cert_ok),
            ("new_mesh_cert", "refused", &self.new_mesh_cert_refused),
            ("recover", "ok", &self.recover_ok),
            ("recover", "refused", &self.recover_refused),
        ] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_operations_total{{operation=\"{operation}\",outcome=\"{ok}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_attestation_refused_total Connections refused by attested TLS."
        );
        let _ = writeln!(
            out,
            "# TYPE chiaro_coordinator_attestation_refused_total counter"
        );
        for (api, counter) in [
            ("user", &self.attestation_refused_user),
            ("mesh", &self.attestation_refused_mesh),
        ] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_attestation_refused_total{{api=\"{api}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}
