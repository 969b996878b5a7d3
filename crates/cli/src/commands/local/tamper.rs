//! `chiaro local tamper`: the host changes one thing when starting a generated pod, and the
//! pod's policy, evaluated as the agent does, refuses it. In stages: the pod, the requests the
//! host sends (one of them changed), the agent's decisions.

use anyhow::{anyhow, bail};
use chiaro_k8s::{INITIALIZER_NAME, MESH_NAME};
use chiaro_pod::layout::MOUNT as CREDENTIALS_PATH;
use chiaro_policy::{Evaluator, SourceFile};
use chiaro_simulated_host::{
    DATA_DIR, SANDBOX, create_container_request, create_sandbox_request, creation_order,
    start_container_request, volume_copy_requests,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::app::read_app;
use super::pods::{LocalPod, local_pods};
use crate::cli::{LocalDirs, LocalTamperArgs, TamperChange};
use crate::exit::Outcome;
use crate::output::Printer;
use crate::reports::{TamperDecision, TamperReport};

pub(crate) fn tamper(args: &LocalTamperArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let pods = local_pods(&read_generated(&args.dirs)?)?;
    let pod = find(&pods, &args.workload)?;
    let workload_container = workload_container(pod)?;
    if args.change == TamperChange::NeverStartMesh && !pod.data.containers.contains_key(MESH_NAME) {
        bail!("workload {:?} has no mesh proxy", args.workload);
    }
    let requests = requests(pod, args.change, &workload_container)?;
    let report = evaluate(pod, args.change, &requests)?;
    let simulated = pod.simulated();
    let mut lines = vec![format!(
        "pod {}/{}: the host {}",
        simulated.namespace,
        simulated.name,
        what_the_host_does(args.change, &workload_container)
    )];
    lines.extend(report.decisions.iter().flat_map(decision_lines));
    let outcome = if report.refused.is_some() {
        lines.push(
            "The agent refused the change: the pod does not start as the host wanted.".to_owned(),
        );
        Outcome::Rejected
    } else {
        lines.push("The change was NOT refused.".to_owned());
        Outcome::Verified
    };
    printer.result(&serde_json::to_value(&report)?, &lines.join("\n"));
    Ok(outcome)
}

/// The generated pod of `workload`.
fn find<'a>(pods: &'a [LocalPod], workload: &str) -> anyhow::Result<&'a LocalPod> {
    pods.iter().find(|pod| pod.name == workload).ok_or_else(|| {
        anyhow!(
            "no workload {workload:?}; workloads: {}",
            pods.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The first container no other waits for: an application container, not an init one.
fn workload_container(pod: &LocalPod) -> anyhow::Result<String> {
    creation_order(&pod.data)
        .into_iter()
        .skip(1)
        .find(|name| {
            !pod.data
                .containers
                .values()
                .any(|rules| rules.after.contains(name))
        })
        .ok_or_else(|| anyhow!("the pod has no application container"))
}

/// One request the host sends.
struct HostRequest {
    step: String,
    kind: &'static str,
    request: Value,
    tampered: bool,
}

/// What the host sends, `change` applied: CreateSandbox, then each container's volume copies,
/// its creation and its start in order, as the kubelet and the Kata runtime send them.
fn requests(
    pod: &LocalPod,
    change: TamperChange,
    workload_container: &str,
) -> anyhow::Result<Vec<HostRequest>> {
    let simulated = pod.simulated();
    let mut requests = vec![HostRequest {
        step: "sandbox (CreateSandbox)".to_owned(),
        kind: "CreateSandboxRequest",
        request: create_sandbox_request(&pod.data, &simulated),
        tampered: false,
    }];
    for container in creation_order(&pod.data) {
        if (change == TamperChange::SkipInitializer && container == INITIALIZER_NAME)
            || (change == TamperChange::SkipMesh && container == MESH_NAME)
        {
            continue;
        }
        if container != SANDBOX {
            for copy in volume_copy_requests(&pod.data, &simulated, &container, 0, DATA_DIR)? {
                requests.push(HostRequest {
                    step: format!(
                        "{container} (CopyFile {})",
                        copy["path"].as_str().unwrap_or_default()
                    ),
                    kind: "CopyFileRequest",
                    request: copy,
                    tampered: false,
                });
            }
        }
        let mut request = create_container_request(&pod.data, &simulated, &container)?;
        let tampered = container == workload_container && tamper_create(change, &mut request)?;
        requests.push(HostRequest {
            step: container.clone(),
            kind: "CreateContainerRequest",
            request,
            tampered,
        });
        if !(change == TamperChange::NeverStartMesh && container == MESH_NAME) {
            requests.push(HostRequest {
                step: format!("{container} (start)"),
                kind: "StartContainerRequest",
                request: start_container_request(&simulated, &container, 0),
                tampered: change == TamperChange::NeverStartMesh && container == workload_container,
            });
        }
    }
    if change == TamperChange::ExtraContainer {
        requests.push(extra_container(pod, workload_container)?);
    }
    Ok(requests)
}

/// A container the pod spec does not have: a copy of the workload's running a shell.
fn extra_container(pod: &LocalPod, workload_container: &str) -> anyhow::Result<HostRequest> {
    let mut extra = create_container_request(&pod.data, &pod.simulated(), workload_container)?;
    let id = hex::encode(Sha256::digest(b"debug container"));
    extra["container_id"] = json!(id);
    extra["exec_id"] = json!(id);
    extra["OCI"]["Annotations"]["io.kubernetes.cri.container-name"] = json!("debug");
    extra["OCI"]["Process"]["Args"] = json!(["/bin/sh"]);
    Ok(HostRequest {
        step: "debug (extra)".to_owned(),
        kind: "CreateContainerRequest",
        request: extra,
        tampered: true,
    })
}

/// The agent's decisions, in order, up to the first refusal.
fn evaluate(
    pod: &LocalPod,
    change: TamperChange,
    requests: &[HostRequest],
) -> anyhow::Result<TamperReport> {
    let mut evaluator = Evaluator::new(&pod.policy)?;
    let mut report = TamperReport {
        workload: pod.name.clone(),
        change: format!("{change:?}"),
        refused: None,
        decisions: Vec::new(),
    };
    for request in requests {
        let decision = evaluator.evaluate(request.kind, &request.request)?;
        report.decisions.push(TamperDecision {
            container: request.step.clone(),
            request: request.kind.to_owned(),
            tampered: request.tampered,
            allowed: decision.allowed,
            denials: decision.denials,
        });
        if !decision.allowed {
            report.refused = Some(request.step.clone());
            break;
        }
    }
    Ok(report)
}

fn decision_lines(decision: &TamperDecision) -> Vec<String> {
    let marker = if decision.tampered { " (tampered)" } else { "" };
    if decision.allowed {
        return vec![format!("  {}{marker}: allowed", decision.container)];
    }
    let mut lines = vec![format!("  {}{marker}: REFUSED", decision.container)];
    lines.extend(
        decision
            .denials
            .iter()
            .map(|denial| format!("    {denial}")),
    );
    lines
}

fn what_the_host_does(change: TamperChange, workload_container: &str) -> String {
    match change {
        TamperChange::Env => format!("changes an environment variable of {workload_container}"),
        TamperChange::Image => format!("runs another image as {workload_container}"),
        TamperChange::ExtraContainer => "adds a container the pod spec does not have".to_owned(),
        TamperChange::SkipInitializer => "skips the initializer".to_owned(),
        TamperChange::SkipMesh => "skips the mesh proxy".to_owned(),
        TamperChange::NeverStartMesh => {
            format!("creates the mesh proxy but never starts it, then starts {workload_container}")
        }
        TamperChange::SharedMounts => format!(
            "moves the mesh proxy's service-account mount over /usr/local/bin of {workload_container}"
        ),
        TamperChange::RemovedMount => {
            format!("leaves {CREDENTIALS_PATH} out of {workload_container}")
        }
        TamperChange::ForeignSeccomp => {
            format!("gives {workload_container} a seccomp filter that fakes setuid and chmod")
        }
    }
}

/// Applies `change` to the workload's CreateContainerRequest; whether it changed it.
fn tamper_create(change: TamperChange, request: &mut Value) -> anyhow::Result<bool> {
    match change {
        TamperChange::Env => {
            let env = request["OCI"]["Process"]["Env"]
                .as_array_mut()
                .ok_or_else(|| anyhow!("request without Env"))?;
            match env
                .iter_mut()
                .find(|e| e.as_str().is_some_and(|e| !e.starts_with("HOSTNAME=")))
            {
                Some(first) => {
                    let name = first
                        .as_str()
                        .and_then(|e| e.split_once('='))
                        .map(|(n, _)| n.to_owned())
                        .unwrap_or_default();
                    *first = json!(format!("{name}=changed-by-the-host"));
                }
                None => env.push(json!("LD_PRELOAD=/tmp/evil.so")),
            }
        }
        TamperChange::Image => {
            let other = format!(
                "registry.example/evil@sha256:{}",
                hex::encode(Sha256::digest(b"another image"))
            );
            request["storages"][0]["source"] = json!(other);
            request["OCI"]["Annotations"]["io.kubernetes.cri.image-name"] = json!(other);
        }
        TamperChange::SharedMounts => {
            request["shared_mounts"] = json!([{
                "name": "bin", "src_ctr": MESH_NAME,
                "src_path": "/var/run/secrets/kubernetes.io/serviceaccount",
                "dst_ctr": request["OCI"]["Annotations"]["io.kubernetes.cri.container-name"],
                "dst_path": "/usr/local/bin",
            }]);
        }
        TamperChange::RemovedMount => {
            let mounts = request["OCI"]["Mounts"]
                .as_array_mut()
                .ok_or_else(|| anyhow!("request without Mounts"))?;
            let before = mounts.len();
            mounts.retain(|m| m["destination"] != CREDENTIALS_PATH);
            if mounts.len() == before {
                bail!("the workload container has no {CREDENTIALS_PATH} mount");
            }
        }
        TamperChange::ForeignSeccomp => {
            request["OCI"]["Linux"]["Seccomp"] = json!({
                "DefaultAction": "SCMP_ACT_ALLOW",
                "Syscalls": [{"Names": ["setuid", "setgid", "chmod"], "Action": "SCMP_ACT_ERRNO", "ErrnoRet": 0}],
            });
        }
        TamperChange::ExtraContainer
        | TamperChange::SkipInitializer
        | TamperChange::SkipMesh
        | TamperChange::NeverStartMesh => return Ok(false),
    }
    Ok(true)
}

fn read_generated(dirs: &LocalDirs) -> anyhow::Result<Vec<SourceFile>> {
    let dir = dirs.work_dir.join("generated");
    if !dir.is_dir() {
        bail!(
            "{} does not exist: run `chiaro local run {}` first",
            dir.display(),
            dirs.app.display()
        );
    }
    read_app(&dir)
}
