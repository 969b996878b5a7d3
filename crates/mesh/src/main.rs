//! `chiaro-mesh`: the mesh sidecar. Loads the credentials, opens the ingress listener(s) and
//! the egress listeners, reloads the credentials when they change, stops on SIGTERM. With
//! `--ready-file` it writes that file once it is ready, and never before.
//!
//! [`run`] is the start-up in its order, one named stage per step: the order is the security
//! argument (the redirect rules before any ingress listener, the ready file after everything).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chiaro_mesh::admission::{Caps, descriptor_limit};
use chiaro_mesh::credentials::SharedTls;
use chiaro_mesh::egress::Egress;
use chiaro_mesh::events::Events;
use chiaro_mesh::ingress::{Destination, HANDSHAKE_TIMEOUT, Ingress, check_fixed_target};
use chiaro_mesh::status::{Readiness, StatusPort, remove_ready_file, write_ready_file};
use chiaro_mesh::workers::Workers;
use chiaro_pod::layout::{
    CREDENTIALS_FLAG, MESH_INGRESS_PORT, MESH_STATUS_PORT, MOUNT, READY_FILE_FLAG, TRANSPARENT_FLAG,
};
use chiaro_pod::{EgressRule, IngressRule, ProbeTable, env, parse_egress, parse_ingress};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The Chiaro mesh proxy.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// The initializer's output (with `tls/cert.pem`, `tls/key.pem`, `tls/mesh-ca.pem`).
    #[arg(long = CREDENTIALS_FLAG, default_value = MOUNT)]
    credentials: PathBuf,
    /// Ingress entries (`NAME#PORT[#TLS[#ALLOWED]]`, separated by `##`).
    #[arg(long, env = env::MESH_INGRESS, default_value = "")]
    ingress: String,
    /// Egress entries (`NAME#LOCAL#REMOTE[#SAN]`, separated by `##`).
    #[arg(long, env = env::MESH_EGRESS, default_value = "")]
    egress: String,
    /// The workload's probes run for the kubelet on the status port (`chiaro generate` moves
    /// them here; JSON, see docs/mesh.md).
    #[arg(long, env = env::MESH_PROBES, default_value = "")]
    probes: String,
    /// Transparent ingress: install the pod's firewall rules redirecting every inbound TCP
    /// connection to `--ingress-listen` (needs CAP_NET_ADMIN in the pod's network namespace).
    #[arg(long = TRANSPARENT_FLAG)]
    transparent: bool,
    /// Where redirected inbound connections arrive (their original destination decides the
    /// workload port).
    #[arg(long, value_name = "ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], MESH_INGRESS_PORT)))]
    ingress_listen: SocketAddr,
    /// The status port (`/ready`, `/healthz`), never redirected.
    #[arg(long, value_name = "ADDR", default_value_t = SocketAddr::from(([0, 0, 0, 0], MESH_STATUS_PORT)))]
    status: SocketAddr,
    /// Without redirection: `LISTEN=PORT[@TARGET]`, a listener for workload port PORT,
    /// forwarding to TARGET (default `127.0.0.1:PORT`).
    #[arg(long, value_name = "ADDR=PORT[@TARGET]")]
    ingress_port: Vec<String>,
    /// Close connections idle this long.
    #[arg(long, default_value_t = 3600)]
    idle_secs: u64,
    /// How often to look for new credentials.
    #[arg(long, default_value_t = 5)]
    reload_secs: u64,
    /// On SIGTERM: stop accepting, then wait this long for open connections to end.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// Written (atomically, `PID ready`) once the redirect rules, the credentials and the
    /// listeners are in, when `/ready` turns 200; removed first thing at start. The workload's
    /// entrypoint waits for it.
    #[arg(long = READY_FILE_FLAG, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// Worker threads; by default two, or one on a one-CPU pod (a sidecar shares the pod's
    /// CPUs with the workload; Istio runs Envoy with two as well).
    #[arg(long, env = env::MESH_WORKERS)]
    workers: Option<usize>,
}

/// What the flags and the environment say, parsed before anything listens.
struct Config {
    ingress_rules: Vec<IngressRule>,
    egress_rules: Vec<EgressRule>,
    probes: Arc<ProbeTable>,
    idle: Duration,
}

/// What the listeners share: readiness, the connection events and the caps.
struct Shared {
    readiness: Readiness,
    events: Events,
    workers: Workers,
    status_caps: Caps,
    handshake_caps: Caps,
}

fn log(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "chiaro-mesh: {line}");
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    if let Some(path) = &flags.ready_file {
        remove_ready_file(path)?;
    }
    let shared = shared(&flags)?;
    let config = config(&flags)?;
    let mut tasks = JoinSet::new();
    serve_status(&flags, &shared, &config, &mut tasks).await?;
    if flags.transparent {
        // First the rules: until the listener below is up, redirected connections are refused.
        redirect(&flags)?;
    }
    let tls = Arc::new(SharedTls::load(&flags.credentials)?);
    let ingress = Arc::new(
        Ingress::new(
            config.ingress_rules,
            Arc::clone(&tls),
            config.idle,
            shared.events.clone(),
            shared.workers.clone(),
        )
        .with_handshakes(shared.handshake_caps, HANDSHAKE_TIMEOUT),
    );
    if flags.transparent {
        serve_redirected(flags.ingress_listen, &ingress, &mut tasks).await?;
    }
    let egress_locals: Vec<SocketAddr> = config.egress_rules.iter().map(|r| r.local).collect();
    for pair in &flags.ingress_port {
        serve_ingress_port(pair, &egress_locals, &ingress, &mut tasks).await?;
    }
    serve_egress(config.egress_rules, &tls, config.idle, &shared, &mut tasks).await?;
    reload_credentials(tls, flags.reload_secs, &mut tasks);
    // Rules, credentials and every listener are in: now, and not before, the ready file.
    if let Some(path) = &flags.ready_file {
        write_ready(path)?;
    }
    shared.readiness.set_ready();
    log("ready");
    until_stopped().await?;
    drain(tasks, &shared.events, Duration::from_secs(flags.drain_secs)).await;
    Ok(())
}

/// The connection workers and the caps for the descriptor limit.
fn shared(flags: &Flags) -> anyhow::Result<Shared> {
    let workers = Workers::start(flags.workers.unwrap_or_else(default_workers))
        .context("starting the connection workers")?;
    let descriptors = descriptor_limit();
    let (status_caps, handshake_caps) = (Caps::status(descriptors), Caps::handshakes(descriptors));
    log(&format!(
        "descriptor limit {}: the status port holds at most {} connections ({} per source), \
         ingress at most {} handshakes ({} per source)",
        descriptors.map_or_else(|| "unlimited".to_owned(), |limit| limit.to_string()),
        status_caps.total,
        status_caps.per_source,
        handshake_caps.total,
        handshake_caps.per_source,
    ));
    Ok(Shared {
        readiness: Readiness::default(),
        events: Events::default(),
        workers,
        status_caps,
        handshake_caps,
    })
}

/// The annotations and the probe table, parsed with the syntax generate checked them with.
fn config(flags: &Flags) -> anyhow::Result<Config> {
    let egress_rules = parse_egress(&flags.egress)?;
    for rule in &egress_rules {
        chiaro_mesh::egress::check_san(rule)?;
    }
    Ok(Config {
        ingress_rules: parse_ingress(&flags.ingress)?,
        egress_rules,
        probes: Arc::new(ProbeTable::parse(&flags.probes)?),
        idle: Duration::from_secs(flags.idle_secs),
    })
}

/// The status port, on IPv6 as well where the kernel has it.
async fn serve_status(
    flags: &Flags,
    shared: &Shared,
    config: &Config,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let status_port = StatusPort::new(
        shared.readiness.clone(),
        Arc::clone(&config.probes),
        shared.status_caps,
        shared.events.clone(),
    );
    let status = TcpListener::bind(flags.status)
        .await
        .with_context(|| format!("listening on {}", flags.status))?;
    if !config.probes.is_empty() {
        log(&format!(
            "{} workload probe(s) served on the status port",
            config.probes.len()
        ));
    }
    if flags.status.ip().is_unspecified()
        && flags.status.is_ipv4()
        && chiaro_mesh::redirect::has_ipv6()
    {
        // The kubelet of an IPv6 (or dual-stack) cluster probes the pod's IPv6 address.
        let listener = ipv6_listener(flags.status.port())?;
        tasks.spawn(Arc::clone(&status_port).serve(listener));
    }
    tasks.spawn(status_port.serve(status));
    Ok(())
}

/// The pod's redirect rules: every inbound TCP connection but the status port's to the ingress.
fn redirect(flags: &Flags) -> anyhow::Result<()> {
    let ipv6 = chiaro_mesh::redirect::install(flags.ingress_listen.port(), &[flags.status.port()])?;
    log(&format!(
        "inbound TCP ({}) redirected to port {} (status port {} excluded)",
        if ipv6 {
            "IPv4 and IPv6"
        } else {
            "IPv4; no IPv6 here"
        },
        flags.ingress_listen.port(),
        flags.status.port()
    ));
    Ok(())
}

/// The ingress listener for redirected connections, on IPv6 as well where the kernel has it.
async fn serve_redirected(
    address: SocketAddr,
    ingress: &Arc<Ingress>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    tasks.spawn(Arc::clone(ingress).serve(listener, Destination::Original));
    log(&format!("ingress on {address} (redirected connections)"));
    if address.is_ipv4() && chiaro_mesh::redirect::has_ipv6() {
        let listener = ipv6_listener(address.port())?;
        tasks.spawn(Arc::clone(ingress).serve(listener, Destination::Original));
        log(&format!(
            "ingress on [::]:{} (redirected IPv6 connections)",
            address.port()
        ));
    }
    Ok(())
}

/// One `--ingress-port ADDR=PORT[@TARGET]` listener.
async fn serve_ingress_port(
    pair: &str,
    egress_locals: &[SocketAddr],
    ingress: &Arc<Ingress>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let (address, rest) = pair
        .split_once('=')
        .with_context(|| format!("--ingress-port {pair:?}: expected ADDR=PORT[@TARGET]"))?;
    let (port, target) = rest
        .split_once('@')
        .map_or((rest, None), |(p, t)| (p, Some(t)));
    let address: SocketAddr = address
        .parse()
        .with_context(|| format!("--ingress-port {pair:?}: bad address"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("--ingress-port {pair:?}: bad port"))?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let target: SocketAddr = match target {
        Some(target) => target
            .parse()
            .with_context(|| format!("--ingress-port {pair:?}: bad target"))?,
        None => SocketAddr::from(([127, 0, 0, 1], port)),
    };
    check_fixed_target(pair, target, egress_locals)?;
    tasks.spawn(Arc::clone(ingress).serve(listener, Destination::Fixed { port, target }));
    log(&format!(
        "ingress on {address} -> workload port {port} at {target}"
    ));
    Ok(())
}

/// One loopback listener per egress entry.
async fn serve_egress(
    rules: Vec<EgressRule>,
    tls: &Arc<SharedTls>,
    idle: Duration,
    shared: &Shared,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    for rule in rules {
        let listener = TcpListener::bind(rule.local)
            .await
            .with_context(|| format!("listening on {}", rule.local))?;
        log(&format!(
            "egress {} on {} -> {} ({})",
            rule.name, rule.local, rule.remote, rule.san
        ));
        let egress = Arc::new(Egress::new(
            rule,
            Arc::clone(tls),
            idle,
            shared.events.clone(),
            shared.workers.clone(),
        ));
        tasks.spawn(egress.serve(listener));
    }
    Ok(())
}

/// Looks for new credentials every `reload_secs` (at least one second).
fn reload_credentials(tls: Arc<SharedTls>, reload_secs: u64, tasks: &mut JoinSet<()>) {
    let every = Duration::from_secs(reload_secs.max(1));
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match tls.reload() {
                Ok(true) => log("new credentials loaded (new connections use them)"),
                Ok(false) => {}
                Err(error) => log(&format!(
                    "keeping the current credentials: {}",
                    chiaro_pod::with_causes(&error)
                )),
            }
        }
    });
}

/// Returns on SIGTERM or an interrupt.
async fn until_stopped() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = terminate.recv() => log("SIGTERM: no new connections; draining"),
        _ = tokio::signal::ctrl_c() => log("interrupted: no new connections; draining"),
    }
    Ok(())
}

/// Stops the listeners, then waits up to `patience` for the open connections (which run on
/// in their own tasks) to end.
async fn drain(mut tasks: JoinSet<()>, events: &Events, patience: Duration) {
    tasks.abort_all();
    let deadline = tokio::time::Instant::now() + patience;
    while events.open_connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log(&format!(
        "stopping with {} connection(s) still open",
        events.open_connections()
    ));
}

fn write_ready(path: &Path) -> anyhow::Result<()> {
    write_ready_file(path, &format!("{} ready\n", std::process::id()))?;
    log(&format!("ready file {} written", path.display()));
    Ok(())
}

/// The IPv6 listener beside an IPv4 one on `port`.
fn ipv6_listener(port: u16) -> anyhow::Result<TcpListener> {
    chiaro_mesh::ingress::ipv6_listener(port).with_context(|| format!("listening on [::]:{port}"))
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |cpus| cpus.get().min(2))
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    // Listeners, status, reload and signals; connections run on the workers.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log(&format!("error: starting the runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log(&format!(
                "error: {}",
                chiaro_pod::with_causes(error.as_ref())
            ));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use chiaro_pod::MeshArgs;
    use chiaro_pod::layout::MESH_READY_FILE;

    use super::*;

    #[test]
    fn the_arguments_generate_writes_are_the_flags_the_proxy_reads() {
        let args = MeshArgs::sidecar().args();
        let flags = Flags::try_parse_from(std::iter::once("chiaro-mesh".to_owned()).chain(args))
            .expect("parses");
        assert!(flags.transparent);
        assert_eq!(flags.credentials, Path::new(MOUNT));
        assert_eq!(
            flags.ready_file.as_deref(),
            Some(Path::new(MESH_READY_FILE))
        );
        assert_eq!(flags.ingress_listen.port(), MESH_INGRESS_PORT);
        assert_eq!(flags.status.port(), MESH_STATUS_PORT);
    }
}
