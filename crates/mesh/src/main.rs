//! `chiaro-mesh`: the mesh sidecar. Loads the credentials, opens the ingress listener(s) and
//! the egress listeners, reloads the credentials when they change, stops on SIGTERM. With
//! `--ready-file` it writes that file once it is ready, and never before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chiaro_k8s::mesh_annotations::{parse_egress, parse_ingress};
use chiaro_mesh::admission::{Caps, descriptor_limit};
use chiaro_mesh::app_probes::parse_probes;
use chiaro_mesh::credentials::SharedTls;
use chiaro_mesh::egress::Egress;
use chiaro_mesh::events::Events;
use chiaro_mesh::ingress::{Destination, HANDSHAKE_TIMEOUT, Ingress, check_fixed_target};
use chiaro_mesh::status::{Readiness, StatusPort, remove_ready_file, write_ready_file};
use chiaro_mesh::workers::Workers;
use clap::Parser;
use tokio::net::TcpListener;

/// The Chiaro mesh proxy.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// The initializer's output (with `tls/cert.pem`, `tls/key.pem`, `tls/mesh-ca.pem`).
    #[arg(long, default_value = "/chiaro")]
    credentials: PathBuf,
    /// Ingress entries (`NAME#PORT[#TLS[#ALLOWED]]`, separated by `##`).
    #[arg(long, env = "CHIARO_MESH_INGRESS", default_value = "")]
    ingress: String,
    /// Egress entries (`NAME#LOCAL#REMOTE[#SAN]`, separated by `##`).
    #[arg(long, env = "CHIARO_MESH_EGRESS", default_value = "")]
    egress: String,
    /// The workload's probes run for the kubelet on the status port (`chiaro generate` moves
    /// them here; JSON, see docs/mesh.md).
    #[arg(long, env = "CHIARO_MESH_PROBES", default_value = "")]
    probes: String,
    /// Transparent ingress: install the pod's firewall rules redirecting every inbound TCP
    /// connection to `--ingress-listen` (needs CAP_NET_ADMIN in the pod's network namespace).
    #[arg(long)]
    transparent: bool,
    /// Where redirected inbound connections arrive (their original destination decides the
    /// workload port).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:15006")]
    ingress_listen: SocketAddr,
    /// The status port (`/ready`, `/healthz`), never redirected.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:15021")]
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
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// Worker threads; by default two, or one on a one-CPU pod (a sidecar shares the pod's
    /// CPUs with the workload; Istio runs Envoy with two as well).
    #[arg(long, env = "CHIARO_MESH_WORKERS")]
    workers: Option<usize>,
}

fn log(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "chiaro-mesh: {line}");
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    if let Some(path) = &flags.ready_file {
        remove_ready_file(path)?;
    }
    let workers = Workers::start(flags.workers.unwrap_or_else(default_workers))
        .context("starting the connection workers")?;
    let ingress_rules = parse_ingress(&flags.ingress)?;
    let egress_rules = parse_egress(&flags.egress)?;
    let probes = Arc::new(parse_probes(&flags.probes)?);
    let readiness = Readiness::default();
    let events = Events::default();
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
    let status_port = StatusPort::new(
        readiness.clone(),
        Arc::clone(&probes),
        status_caps,
        events.clone(),
    );
    let status = TcpListener::bind(flags.status)
        .await
        .with_context(|| format!("listening on {}", flags.status))?;
    let mut tasks = tokio::task::JoinSet::new();
    if !probes.is_empty() {
        log(&format!(
            "{} workload probe(s) served on the status port",
            probes.len()
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
    if flags.transparent {
        // First the rules: until the listener below is up, redirected connections are refused.
        let ipv6 =
            chiaro_mesh::redirect::install(flags.ingress_listen.port(), &[flags.status.port()])?;
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
    }
    let tls = Arc::new(SharedTls::load(&flags.credentials)?);
    let idle = Duration::from_secs(flags.idle_secs);
    let ingress = Arc::new(
        Ingress::new(
            ingress_rules,
            Arc::clone(&tls),
            idle,
            events.clone(),
            workers.clone(),
        )
        .with_handshakes(handshake_caps, HANDSHAKE_TIMEOUT),
    );
    let egress_locals: Vec<SocketAddr> = egress_rules.iter().map(|rule| rule.local).collect();
    if flags.transparent {
        let address = flags.ingress_listen;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address}"))?;
        tasks.spawn(Arc::clone(&ingress).serve(listener, Destination::Original));
        log(&format!("ingress on {address} (redirected connections)"));
        if address.is_ipv4() && chiaro_mesh::redirect::has_ipv6() {
            let listener = ipv6_listener(address.port())?;
            tasks.spawn(Arc::clone(&ingress).serve(listener, Destination::Original));
            log(&format!(
                "ingress on [::]:{} (redirected IPv6 connections)",
                address.port()
            ));
        }
    }
    for pair in &flags.ingress_port {
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
        check_fixed_target(pair, target, &egress_locals)?;
        tasks.spawn(Arc::clone(&ingress).serve(listener, Destination::Fixed { port, target }));
        log(&format!(
            "ingress on {address} -> workload port {port} at {target}"
        ));
    }
    for rule in egress_rules {
        let listener = TcpListener::bind(rule.local)
            .await
            .with_context(|| format!("listening on {}", rule.local))?;
        log(&format!(
            "egress {} on {} -> {} ({})",
            rule.name, rule.local, rule.remote, rule.san
        ));
        let egress = Arc::new(Egress::new(
            rule,
            Arc::clone(&tls),
            idle,
            events.clone(),
            workers.clone(),
        ));
        tasks.spawn(egress.serve(listener));
    }
    let reloader = Arc::clone(&tls);
    let every = Duration::from_secs(flags.reload_secs.max(1));
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match reloader.reload() {
                Ok(true) => log("new credentials loaded (new connections use them)"),
                Ok(false) => {}
                Err(error) => log(&format!("keeping the current credentials: {error}")),
            }
        }
    });
    // Rules, credentials and every listener are in: now, and not before, the ready file.
    if let Some(path) = &flags.ready_file {
        write_ready(path)?;
    }
    readiness.set_ready();
    log("ready");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = terminate.recv() => log("SIGTERM: no new connections; draining"),
        _ = tokio::signal::ctrl_c() => log("interrupted: no new connections; draining"),
    }
    // The listeners stop; connections already accepted run on in their own tasks.
    tasks.abort_all();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(flags.drain_secs);
    while events.open_connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log(&format!(
        "stopping with {} connection(s) still open",
        events.open_connections()
    ));
    Ok(())
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
            log(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    }
}
