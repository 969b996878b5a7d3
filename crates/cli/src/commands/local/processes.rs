//! The processes of local mode: the Coordinator, each pod's initializer and mesh proxy (real
//! binaries built beside `chiaro`), started on this machine's loopback or in a pod's network
//! namespace, and killed when their handle is dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chiaro_api::ready::BoundAddresses;
use chiaro_attest::HostData;
use chiaro_guest_issuer::EvidenceSource;
use chiaro_k8s::{Container, INITIALIZER_NAME, MESH_NAME};
use chiaro_manifest::PolicyHash;
use chiaro_pod::env;
use chiaro_pod::layout::{MESH_STATUS_PORT, MeshArgs, READY_PATH};

use super::addresses::PodAddresses;
use super::http;
use super::pod_network::PodNetwork;
use super::pods::LocalPod;
use super::tee::TEE_FILE;

/// `command` with the environment `container`'s pod spec gives it (which the policy pins).
fn with_pod_env<'a>(command: &'a mut Command, container: &Container) -> &'a mut Command {
    for variable in &container.env {
        if let Some(value) = &variable.value {
            command.env(&variable.name, value);
        }
    }
    command
}

/// INSECURE: the simulated TEE in `tee`, reporting `policy` as HOST_DATA (the launch binding a
/// genuine guest under that policy would have).
fn simulated(tee: PathBuf, policy: PolicyHash) -> EvidenceSource {
    EvidenceSource::from_flags(Some(tee), None, Some(HostData::new(*policy.as_bytes())))
}

/// A process that is killed when dropped.
pub(super) struct Running(pub(super) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary built beside `chiaro`.
/// Chiaro's binary `name`: in `from` when given (e.g. the images' extracted root file systems),
/// else beside the running `chiaro`.
pub(super) fn binary(from: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let path = match from {
        Some(dir) => dir.join(file),
        None => std::env::current_exe()
            .context("locating the chiaro binary")?
            .with_file_name(file),
    };
    if !path.is_file() {
        bail!(
            "{} is not there: run `cargo build --bins`, or name the directory with --binaries (local mode runs the Coordinator, the initializer and the mesh proxy as processes)",
            path.display()
        );
    }
    Ok(path)
}

pub(super) fn free_port() -> anyhow::Result<SocketAddr> {
    free_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Ports handed to child processes come from below Linux's ephemeral range (32768-60999):
/// a port picked here is bound by the child a moment later, and in between the kernel gives
/// ephemeral ports (`bind` to port 0, the source port of every outgoing connection) to other
/// processes, which once took one in CI. Below the range only an explicit bind can take it.
const PICKED_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port of `address` nothing is bound to now, from [`PICKED_PORTS`], starting at a point
/// that differs between processes and calls.
fn free_port_on(address: IpAddr) -> anyhow::Result<SocketAddr> {
    use std::hash::{BuildHasher as _, Hasher as _};
    let span = u64::from(PICKED_PORTS.end - PICKED_PORTS.start);
    // Randomly keyed per process, and a new key per call.
    let seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    for step in 0..span {
        let offset = u16::try_from(seed.wrapping_add(step) % span).unwrap_or(0);
        if let Ok(listener) = TcpListener::bind((address, PICKED_PORTS.start + offset)) {
            return Ok(listener.local_addr()?);
        }
    }
    // Every one taken: fall back to the kernel's choice.
    Ok(TcpListener::bind((address, 0))?.local_addr()?)
}

/// Where one pod's processes run: on this machine's loopback, or in the pod's namespace.
#[derive(Clone, Copy)]
pub(super) enum Place<'a> {
    Loopback,
    Namespace(&'a PodNetwork, usize),
}

impl<'a> Place<'a> {
    /// Pod `index`'s place: its namespace when there is a pod network.
    pub(super) fn of(network: Option<&'a PodNetwork>, index: usize) -> Self {
        network.map_or(Self::Loopback, |network| Self::Namespace(network, index))
    }

    pub(super) fn command(self, program: &Path) -> Command {
        match self {
            Self::Loopback => Command::new(program),
            Self::Namespace(network, index) => network.command(index, program),
        }
    }
}

/// Starts `chiaro-coordinator` on ports of `address` the system chooses (port 0), with the
/// simulated TEE reporting `policy` (its policy hash) as HOST_DATA; its ready file reports
/// them once it serves, so no port is raced for.
pub(super) fn start_coordinator(
    program: &Path,
    work: &Path,
    address: IpAddr,
    policy: PolicyHash,
) -> anyhow::Result<(Running, BoundAddresses)> {
    let any_port = SocketAddr::new(address, 0).to_string();
    let ready = work.join("coordinator-ready.json");
    chiaro_api::ready::remove_stale(&ready)?;
    let log = std::fs::File::create(work.join("coordinator.log"))?;
    let coordinator = Running(
        Command::new(program)
            .args([
                "--state-dir",
                &work.join("coordinator-state").display().to_string(),
            ])
            .args(["--user-api", &any_port])
            .args(["--mesh-api", &any_port])
            .args(["--status", &any_port])
            .arg("--ready-file")
            .arg(&ready)
            .args(simulated(work.join(TEE_FILE), policy).args())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting chiaro-coordinator")?,
    );
    wait_until_serving(coordinator, &ready)
}

/// Waits for the event of the Coordinator serving (its ready file `ready` written: the
/// addresses in it), or fails at once when it exits first.
fn wait_until_serving(
    mut coordinator: Running,
    ready: &Path,
) -> anyhow::Result<(Running, BoundAddresses)> {
    let addresses = chiaro_api::ready::wait_for(&mut coordinator.0, ready, Duration::from_secs(30))
        .context("starting the Coordinator (see coordinator.log)")?;
    Ok((coordinator, addresses))
}

/// Runs the real initializer with the environment the pod spec gives it (which the policy
/// pinned) and the simulated TEE reporting the pod's policy hash as HOST_DATA.
pub(super) fn run_initializer(
    program: &Path,
    pod: &LocalPod,
    out: &Path,
    tee: &Path,
    place: Place<'_>,
) -> anyhow::Result<Vec<String>> {
    let spec = pod
        .container(INITIALIZER_NAME)
        .ok_or_else(|| anyhow!("no initializer in the pod spec"))?;
    let mut command = place.command(program);
    let output = with_pod_env(&mut command, spec)
        .args(["--out", &out.display().to_string(), "--patience-secs", "30"])
        .args(simulated(tee.to_owned(), pod.policy_hash).args())
        .stdout(Stdio::null())
        .output()
        .context("running chiaro-initializer")?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let mut written = Vec::new();
    for dir in ["tls", "secrets"] {
        if let Ok(entries) = std::fs::read_dir(out.join(dir)) {
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
                .collect();
            names.sort();
            written.extend(names);
        }
    }
    Ok(written)
}

/// Starts the real `chiaro-mesh` for `pod` with egress remotes resolved by local mode, and
/// waits until it is ready. In the pod's namespace it runs as in a cluster (transparent, the
/// pod's firewall rules, the moved kubelet probes); on loopback it gets one ingress listener
/// per declared port instead.
pub(super) fn start_mesh(
    program: &Path,
    pod: &LocalPod,
    addresses: &PodAddresses,
    credentials: &Path,
    work: &Path,
    place: Place<'_>,
) -> anyhow::Result<(Running, String)> {
    let status = match place {
        Place::Loopback => free_port()?,
        Place::Namespace(network, index) => {
            SocketAddr::from((network.pod_address(index), MESH_STATUS_PORT))
        }
    };
    let spec = pod
        .container(MESH_NAME)
        .ok_or_else(|| anyhow!("no mesh proxy in the pod spec"))?;
    // The pod spec's egress entries, with each remote resolved to where its pod listens here.
    let rewritten: Vec<String> = addresses
        .egress
        .iter()
        .map(|(rule, resolved)| format!("{}#{}#{resolved}#{}", rule.name, rule.local, rule.san))
        .collect();
    let mut command = place.command(program);
    // The proxy's configuration comes from the pod spec only, never from this shell's.
    for variable in [
        env::MESH_INGRESS,
        env::MESH_EGRESS,
        env::MESH_PROBES,
        env::MESH_WORKERS,
    ] {
        command.env_remove(variable);
    }
    let args = MeshArgs {
        transparent: matches!(place, Place::Namespace(..)),
        credentials: credentials.display().to_string(),
        ready_file: None,
    };
    with_pod_env(&mut command, spec)
        .env(env::MESH_EGRESS, rewritten.join("##"))
        .args(args.args());
    let mut summary = Vec::new();
    match place {
        Place::Loopback => {
            // No kubelet probes on loopback: the workload ports are the stand-ins' elsewhere.
            command.env_remove(env::MESH_PROBES);
            command.args(["--status", &status.to_string()]);
            for (port, listen) in &addresses.ingress {
                let target = addresses.stand_ins[port];
                command.args(["--ingress-port", &format!("{listen}={port}@{target}")]);
                summary.push(format!("ingress {port} at {listen}"));
            }
        }
        Place::Namespace(..) => {
            summary.push(
                "transparent: the pod's firewall redirects every inbound connection to it"
                    .to_owned(),
            );
        }
    }
    for (rule, resolved) in &addresses.egress {
        summary.push(format!(
            "egress {} {} -> {} ({resolved})",
            rule.name, rule.local, rule.remote
        ));
    }
    let log = std::fs::File::create(work.join(format!("mesh-{}.log", pod.name)))?;
    let child = Running(
        command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting chiaro-mesh")?,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http::get_path(status, READY_PATH).is_ok_and(|answer| answer.is_ok());
        if ready {
            break;
        }
        if Instant::now() > deadline {
            bail!("not ready after 20 s (see mesh-{}.log)", pod.name);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((child, summary.join("; ")))
}
