//! The environment generate writes into a pod's Chiaro containers, and the names their
//! binaries read it under. The policy pins every variable's value, so the host cannot change
//! one.

#[cfg(feature = "probes")]
use crate::probes::ProbeTable;

/// The initializer: the Coordinator's mesh API (`HOST:PORT`).
pub const COORDINATOR: &str = "CHIARO_COORDINATOR";
/// The initializer: what the pod pins about its deployment (`chiaro_manifest::DeploymentAnchor`
/// as JSON).
pub const DEPLOYMENT_ANCHOR: &str = "CHIARO_DEPLOYMENT_ANCHOR";
/// The mesh proxy: the ingress annotation's value ([`crate::parse_ingress`]).
pub const MESH_INGRESS: &str = "CHIARO_MESH_INGRESS";
/// The mesh proxy: the egress annotation's value ([`crate::parse_egress`]).
pub const MESH_EGRESS: &str = "CHIARO_MESH_EGRESS";
/// The mesh proxy: the workload probes moved to its status port (`ProbeTable`).
pub const MESH_PROBES: &str = "CHIARO_MESH_PROBES";
/// The volume owner: the pod's name (downward API `metadata.name`), set only for per-replica
/// volumes (`--per-replica`), whose keys depend on it.
pub const POD_NAME: &str = "CHIARO_POD_NAME";
/// The mesh proxy: its number of worker threads (not written by generate).
pub const MESH_WORKERS: &str = "CHIARO_MESH_WORKERS";

/// The initializer's environment, as generate writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitializerEnv {
    /// [`COORDINATOR`].
    pub coordinator: String,
    /// [`DEPLOYMENT_ANCHOR`], when the deployment has one.
    pub deployment_anchor: Option<String>,
}

impl InitializerEnv {
    /// The variables, in the order they appear in the pod spec.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![(COORDINATOR.to_owned(), self.coordinator.clone())];
        if let Some(anchor) = &self.deployment_anchor {
            vars.push((DEPLOYMENT_ANCHOR.to_owned(), anchor.clone()));
        }
        vars
    }
}

/// The mesh proxy's environment, as generate writes it.
#[cfg(feature = "probes")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshEnv {
    /// [`MESH_INGRESS`]: the ingress annotation's value, as written.
    pub ingress: String,
    /// [`MESH_EGRESS`]: the egress annotation's value, as written.
    pub egress: String,
    /// [`MESH_PROBES`]: left out when empty.
    pub probes: ProbeTable,
}

#[cfg(feature = "probes")]
impl MeshEnv {
    /// The variables, in the order they appear in the pod spec.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (MESH_INGRESS.to_owned(), self.ingress.clone()),
            (MESH_EGRESS.to_owned(), self.egress.clone()),
        ];
        if !self.probes.is_empty() {
            vars.push((MESH_PROBES.to_owned(), self.probes.to_json()));
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initializer_gets_the_anchor_only_when_there_is_one() {
        let mut initializer = InitializerEnv {
            coordinator: "c:7777".to_owned(),
            deployment_anchor: None,
        };
        assert_eq!(
            initializer.vars(),
            [(COORDINATOR.to_owned(), "c:7777".to_owned())]
        );
        initializer.deployment_anchor = Some("{}".to_owned());
        let names: Vec<String> = initializer.vars().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [COORDINATOR, DEPLOYMENT_ANCHOR]);
    }

    #[cfg(feature = "probes")]
    #[test]
    fn the_mesh_gets_the_probe_table_only_when_probes_moved() {
        let mesh = MeshEnv {
            ingress: "web#8080".to_owned(),
            ..MeshEnv::default()
        };
        let names: Vec<String> = mesh.vars().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, [MESH_INGRESS, MESH_EGRESS]);
    }
}
