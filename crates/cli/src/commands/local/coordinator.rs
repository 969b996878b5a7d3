//! Stage 3: the Coordinator's deployment exactly as `chiaro install` writes it for a cluster
//! (its image a stand-in), its container creation checked against its own policy as the Kata
//! agent would, then the real Coordinator started with that policy's hash as its simulated
//! HOST_DATA. Its reference values (for `set` and `verify`) are the workloads', pinned to that
//! hash by the function `install` uses.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use chiaro_manifest::{DraftReferenceValues, ManifestDraft, PolicyHash};
use chiaro_policy::Evaluator;
use chiaro_simulated_host::{create_container_request, creation_order};

use super::Work;
use super::app::stand_in;
use super::pods::local_pods;
use super::processes::{Running, start_coordinator};
use super::story::Story;
use super::tee::COORDINATOR_REFERENCE_FILE;
use crate::commands::install::{self, Handler, InstallPlan, defaults};

/// The Coordinator image the local deployment names (the real binary runs in its place).
const LOCAL_COORDINATOR_IMAGE: &str = "chiaro.local/chiaro-coordinator:local";

/// The Coordinator as started: its process, addresses and policy.
pub(super) struct Coordinator {
    pub(super) process: Running,
    pub(super) user_api: SocketAddr,
    pub(super) mesh_api: SocketAddr,
    /// Its policy hash (the manifest's `role: coordinator` entry).
    pub(super) policy_hash: PolicyHash,
    /// Its entry's names.
    pub(super) sans: Vec<String>,
}

/// Generates the Coordinator's deployment, checks its creation, starts it; writes
/// `generated/chiaro-install.yaml` and the Coordinator's reference values.
pub(super) fn start(
    work: &Work,
    bind: IpAddr,
    reference: &DraftReferenceValues,
    story: &mut Story,
) -> anyhow::Result<Coordinator> {
    story.step("3. chiaro install: the Coordinator's deployment and its own policy; the Coordinator starts under it (its own CVM in a cluster; the simulated TEE here)");
    let (pin, _) = stand_in(LOCAL_COORDINATOR_IMAGE)?;
    let pins = BTreeMap::from([(LOCAL_COORDINATOR_IMAGE.to_owned(), pin)]);
    let installed = install::install(&plan(), &pins)?;
    let generated = work.path("generated");
    std::fs::create_dir_all(&generated)?;
    std::fs::write(generated.join("chiaro-install.yaml"), &installed.text)?;
    story.line(&format!(
        "policy {} (written to generated/chiaro-install.yaml, as `chiaro install` writes it for a cluster)",
        installed.policy_hash
    ));
    check_creation(&installed.coordinator, story)?;
    let draft = ManifestDraft::skeleton().with_reference_values(reference.clone());
    let pinned = install::coordinator_reference(&draft, installed.policy_hash)?
        .context("local mode's reference values are empty")?;
    std::fs::write(
        work.path(COORDINATOR_REFERENCE_FILE),
        pinned.reference_values().to_json_pretty(),
    )?;
    let program = work.binary("chiaro-coordinator")?;
    let (process, addresses) =
        start_coordinator(&program, work.dir(), bind, installed.policy_hash)?;
    story.line(&format!(
        "pid {}: user API {}, mesh API {}, status {}",
        process.0.id(),
        addresses.user_api,
        addresses.mesh_api,
        addresses.status
    ));
    Ok(Coordinator {
        process,
        user_api: addresses.user_api,
        mesh_api: addresses.mesh_api,
        policy_hash: installed.policy_hash,
        sans: installed.sans,
    })
}

/// `chiaro install`'s defaults.
fn plan() -> InstallPlan {
    let handler = Handler::snp(defaults::SNP_HANDLER);
    InstallPlan {
        namespace: install::DEFAULT_NAMESPACE.to_owned(),
        platforms: vec![handler.clone()],
        default_platform: handler,
        overhead_memory: defaults::overhead_memory(),
        overhead_cpu: defaults::overhead_cpu(),
        coordinator_image: LOCAL_COORDINATOR_IMAGE.to_owned(),
        coordinator_memory: defaults::COORDINATOR_MEMORY.to_owned(),
        coordinator_cpu: defaults::COORDINATOR_CPU.to_owned(),
        forwarder_image: crate::cli::DEFAULT_FORWARDER_IMAGE.to_owned(),
    }
}

/// Each container creation of the Coordinator's pod, as the host sends it, evaluated against
/// the pod's policy as the agent evaluates it: a Coordinator that its own policy refuses does
/// not start here either.
fn check_creation(
    coordinator: &chiaro_policy::SourceFile,
    story: &mut Story,
) -> anyhow::Result<()> {
    let pods = local_pods(std::slice::from_ref(coordinator))?;
    let [pod] = pods.as_slice() else {
        bail!("the Coordinator's deployment has {} pods", pods.len());
    };
    let simulated = pod.simulated();
    let mut evaluator = Evaluator::new(&pod.policy)?;
    for container in creation_order(&pod.data) {
        let request = create_container_request(&pod.data, &simulated, &container)?;
        let decision = evaluator.evaluate("CreateContainerRequest", &request)?;
        if !decision.allowed {
            bail!(
                "the Coordinator's own policy refuses its container {container:?}: {:?}",
                decision.denials
            );
        }
        story.line(&format!("  {container:<20} allowed by its policy"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The Coordinator's pod as `install` generates it, and the host's request to create its
    /// container as a well-behaved host sends it.
    fn coordinator_request() -> (chiaro_policy::AgentPolicy, Value) {
        let (pin, _) = stand_in(LOCAL_COORDINATOR_IMAGE).unwrap();
        let pins = BTreeMap::from([(LOCAL_COORDINATOR_IMAGE.to_owned(), pin)]);
        let installed = install::install(&plan(), &pins).unwrap();
        let pods = local_pods(std::slice::from_ref(&installed.coordinator)).unwrap();
        let pod = &pods[0];
        let request =
            create_container_request(&pod.data, &pod.simulated(), install::CONTAINER).unwrap();
        (pod.policy.clone(), request)
    }

    fn allowed(policy: &chiaro_policy::AgentPolicy, request: &Value) -> bool {
        let mut evaluator = Evaluator::new(policy).unwrap();
        evaluator
            .evaluate("CreateContainerRequest", request)
            .unwrap()
            .allowed
    }

    #[test]
    fn the_coordinator_as_generated_is_allowed_by_its_own_policy() {
        let (policy, request) = coordinator_request();
        assert!(allowed(&policy, &request));
    }

    #[test]
    fn attack_host_adds_the_simulated_tee_flag_to_the_coordinator_is_refused() {
        let (policy, mut request) = coordinator_request();
        let args = request["OCI"]["Process"]["Args"].as_array_mut().unwrap();
        args.push(json!("--insecure-simulated-tee"));
        args.push(json!("/tmp/host-tee.json"));
        assert!(!allowed(&policy, &request));
    }

    #[test]
    fn attack_host_gives_the_coordinator_an_environment_of_its_own_is_refused() {
        let (policy, mut request) = coordinator_request();
        request["OCI"]["Process"]["Env"]
            .as_array_mut()
            .unwrap()
            .push(json!("LD_PRELOAD=/tmp/evil.so"));
        assert!(!allowed(&policy, &request));
    }
}
