//! `chiaro local run` and `chiaro local tamper`: a whole deployment on this machine, with no
//! cluster and an INSECURE simulated TEE.
//!
//! What is real: `generate` and the policies it writes, the Coordinator (a process), `set` and
//! `verify` (the CLI's own functions, in process: attested TLS, the manifest history), each
//! pod's initializer (the real binary, attesting with the simulated TEE and the pod's policy
//! hash as HOST_DATA), and the agent's decision on every container creation (the pod's own
//! policy, evaluated with its state as the Kata agent does). What is simulated: the TEE (a
//! locally generated key chain that proves nothing about hardware), the host's requests (what
//! a well-behaved containerd and Kata shim send), and the application
//! images, which cannot run here: each container is stood in for by a small built-in server on
//! its declared ports, and the output says so.
//!
//! As root (with `ip` and `iptables`), each pod gets its own network namespace on a bridge
//! ([`pod_network`]) and its mesh proxy runs transparent, as in a cluster; otherwise everything
//! shares this machine's loopback and the proxies listen on ports of their own.
//!
//! `run` is a sequence of stages, each a function of its own module, and returns a typed
//! [`RunReport`] (its JSON output; the printed story is for people).

mod addresses;
mod app;
mod coordinator;
mod http;
mod owners;
mod pod_network;
mod pods;
mod processes;
mod stand_in;
mod start_pods;
mod stop;
mod story;
mod tamper;
mod tee;
mod traffic;
mod volumes;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::{LocalNetworkMode, LocalRunArgs};
use crate::exit::Outcome;
use crate::output::Printer;
use crate::reports::{PodNetworking, RunReport};
use pod_network::PodNetwork;
pub(crate) use stand_in::{get_process, stand_in_process};
use story::Story;
pub(crate) use tamper::tamper;

pub(crate) fn run(args: &LocalRunArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let work = Work::fresh(&args.dirs.work_dir, args.binaries.as_deref())?;
    let mut story = Story::new(printer);
    printer.line("WARNING: local mode uses an INSECURE simulated TEE: nothing here proves anything about hardware.");
    let reference = tee::create(&work, &mut story)?;
    let owners = owners::create(&work, &mut story)?;
    let mut network = Network::choose(args.network)?;
    let coordinator = coordinator::start(&work, network.bind(), &reference, &mut story)?;
    let app = app::generate(
        &args.dirs.app,
        &work,
        &reference,
        &owners,
        &coordinator,
        &mut story,
    )?;
    let installed = owners::install(&work, coordinator.user_api, &mut story)?;
    let pods = pods::local_pods(&app.files)?;
    let started = start_pods::start(&work, &pods, &app.files, &mut network, &mut story)?;
    let traffic = traffic::check(&pods, &started, network.pods.as_ref(), &mut story)?;
    let verified = owners::verify(&work, coordinator.user_api, &mut story)?;
    let refused_or_failed = started.runs.iter().filter(|pod| !pod.started()).count()
        + traffic.iter().filter(|check| !check.passed).count();
    let report = RunReport {
        work_dir: work.dir.display().to_string(),
        network: network.kind(),
        coordinator: coordinator.user_api,
        owner_key_digest: owners.workload.manifest_workload_owner_key_digest,
        installed,
        pods: started.runs,
        traffic,
        verified,
        refused_or_failed,
        steps: story.into_steps(),
    };
    // Caught before the report is out: whoever reads it may stop the run at once.
    let stop = if args.keep_running {
        Some(stop::StopSignals::catch()?)
    } else {
        None
    };
    let outcome = conclude(&report, printer)?;
    if let Some(stop) = stop.filter(|_| outcome == Outcome::Verified) {
        printer.line("Running until Ctrl-C or SIGTERM.");
        let signal = stop.wait();
        printer.line(&format!(
            "{signal}: stopping the processes, removing the namespaces."
        ));
    }
    drop(started.servers);
    drop(started.proxies);
    drop(started.volume_owners);
    drop(coordinator.process);
    Ok(outcome)
}

/// Prints the report: JSON, or the last line of the story.
fn conclude(report: &RunReport, printer: Printer) -> anyhow::Result<Outcome> {
    let json = serde_json::to_value(report)?;
    if report.refused_or_failed > 0 {
        printer.result(
            &json,
            &format!("\n{} pod(s) did not start", report.refused_or_failed),
        );
        return Ok(Outcome::Failed);
    }
    printer.result(
        &json,
        &format!(
            "\nAll {} pods started under their policies; the deployment verifies. Files: {}",
            report.pods.len(),
            report.work_dir
        ),
    );
    Ok(Outcome::Verified)
}

/// The work directory (emptied at the start of a run), and where Chiaro's own binaries come
/// from.
struct Work {
    dir: PathBuf,
    binaries: Option<PathBuf>,
}

impl Work {
    fn fresh(dir: &Path, binaries: Option<&Path>) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            binaries: binaries.map(Path::to_owned),
        })
    }

    /// A file or directory in it.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory.
    fn dir(&self) -> &Path {
        &self.dir
    }

    /// Chiaro's binary `name`: from `--binaries` when given, else beside `chiaro`.
    fn binary(&self, name: &str) -> anyhow::Result<PathBuf> {
        processes::binary(self.binaries.as_deref(), name)
    }
}

/// The pods' network: namespaces on a bridge, or this machine's loopback (and why).
struct Network {
    pods: Option<PodNetwork>,
    /// Why there are no namespaces, when there are none.
    unavailable: Option<String>,
}

impl Network {
    fn choose(mode: LocalNetworkMode) -> anyhow::Result<Self> {
        let unavailable = pod_network::unavailable();
        let pods = match (mode, &unavailable) {
            (LocalNetworkMode::Loopback, _) | (LocalNetworkMode::Auto, Some(_)) => None,
            (LocalNetworkMode::Namespaces, Some(why)) => bail!("--network namespaces: {why}"),
            (_, None) => Some(PodNetwork::create().context("creating the pod network")?),
        };
        Ok(Self { pods, unavailable })
    }

    /// Where this machine's services (the Coordinator) listen.
    fn bind(&self) -> IpAddr {
        IpAddr::V4(
            self.pods
                .as_ref()
                .map_or(Ipv4Addr::LOCALHOST, PodNetwork::host_address),
        )
    }

    fn kind(&self) -> PodNetworking {
        match self.pods {
            Some(_) => PodNetworking::Namespaces,
            None => PodNetworking::Loopback,
        }
    }
}
