//! The mesh sidecar of a workload that asks for one, and what its annotations will do at run
//! time.

use chiaro_k8s::{DocumentId, MESH_NAME, MeshSidecar, Workload};
use chiaro_pod::annotations::{MESH_EGRESS_ANNOTATION, MESH_INGRESS_ANNOTATION};
use chiaro_pod::layout::{MESH_INGRESS_PORT, MESH_STATUS_PORT};
use chiaro_pod::{parse_egress, parse_ingress};

use super::{DeploymentOptions, ImagePin, pinned};
use crate::PolicyError;

/// The sidecar for `workload` when it asks for one: the pinned mesh image and its
/// annotations as written.
pub(super) fn sidecar(
    workload: &Workload,
    pins: &std::collections::BTreeMap<String, ImagePin>,
    options: &DeploymentOptions,
) -> Result<Option<MeshSidecar>, PolicyError> {
    if !wants_mesh(workload) {
        return Ok(None);
    }
    let annotation = |key| {
        workload
            .pod_annotations
            .get(key)
            .cloned()
            .unwrap_or_default()
    };
    Ok(Some(MeshSidecar {
        image: pinned(pins, &options.mesh_image, MESH_NAME)?,
        ingress: annotation(MESH_INGRESS_ANNOTATION),
        egress: annotation(MESH_EGRESS_ANNOTATION),
    }))
}

/// Whether the pod asks for the mesh proxy (either mesh annotation, even empty).
pub(super) fn wants_mesh(workload: &Workload) -> bool {
    workload
        .pod_annotations
        .contains_key(MESH_INGRESS_ANNOTATION)
        || workload
            .pod_annotations
            .contains_key(MESH_EGRESS_ANNOTATION)
}

/// Parses the pod's mesh annotations as the sidecar will (an error names the document and
/// annotation) and returns what will go wrong at run time: an egress entry whose local port is
/// one the pod's containers declare (both bind it; whichever starts second fails).
pub(super) fn check_mesh_annotations(
    mesh: &MeshSidecar,
    workload: &Workload,
    at: &DocumentId,
) -> Result<Vec<String>, PolicyError> {
    let invalid = |annotation: &str, error: chiaro_pod::PodError| {
        PolicyError::Input(chiaro_k8s::K8sError::Invalid {
            at: at.clone(),
            path: format!("spec.template.metadata.annotations[{annotation}]"),
            detail: error.to_string(),
        })
    };
    let ingress = parse_ingress(&mesh.ingress).map_err(|e| invalid(MESH_INGRESS_ANNOTATION, e))?;
    let egress = parse_egress(&mesh.egress).map_err(|e| invalid(MESH_EGRESS_ANNOTATION, e))?;
    // A reserved identity names a workload owner's client certificate, never a server.
    if let Some(rule) = egress
        .iter()
        .find(|rule| chiaro_names::reserved::is_reserved(&rule.san))
    {
        return Err(PolicyError::Input(chiaro_k8s::K8sError::Invalid {
            at: at.clone(),
            path: format!("spec.template.metadata.annotations[{MESH_EGRESS_ANNOTATION}]"),
            detail: format!(
                "entry {:?}: SAN {:?} is a reserved identity (a workload owner's client \
                 certificate), never a server's",
                rule.name, rule.san
            ),
        }));
    }
    let declared = workload.pod_spec.container_ports();
    // The proxy's own ports: a workload listening there would take the redirected connections
    // (15006) or be reached around the redirect (15021) once the proxy is gone.
    let reserved = [MESH_INGRESS_PORT, MESH_STATUS_PORT];
    let taken = declared
        .iter()
        .map(|(container, port)| (format!("container {container:?} declares port"), *port))
        .chain(ingress.iter().map(|rule| {
            (
                format!("ingress entry {:?} governs port", rule.name),
                rule.port,
            )
        }))
        .find(|(_, port)| reserved.contains(port));
    if let Some((what, port)) = taken {
        return Err(PolicyError::Input(chiaro_k8s::K8sError::Invalid {
            at: at.clone(),
            path: "spec.template.spec".to_owned(),
            detail: format!(
                "{what} {port}, which is the mesh proxy's own ({MESH_INGRESS_PORT} receives the pod's redirected connections, {MESH_STATUS_PORT} is its status port); the workload must not listen there"
            ),
        }));
    }
    Ok(egress
        .iter()
        .filter_map(|rule| {
            let (container, port) = declared
                .iter()
                .find(|(_, port)| *port == rule.local.port())?;
            Some(format!(
                "egress entry {:?} listens on {}, and container {container:?} declares port {port}: both bind that port in the pod, and whichever starts second fails; give the egress entry another local port",
                rule.name, rule.local
            ))
        })
        .collect())
}
