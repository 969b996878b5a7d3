//! Stand-ins for containers whose images cannot run here: a small HTTP server on each declared
//! port (a thread on loopback, or `chiaro local stand-in` in the pod's namespace).

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use chiaro_accept::http1::{self, Response, Status};

use super::http;
use super::processes::{Place, Running};
use crate::cli::{LocalGetArgs, LocalStandInArgs};
use crate::exit::Outcome;
use crate::output::Printer;

/// A built-in server standing in for a container whose image cannot run here.
pub(super) struct StandIn {
    pub(super) container: String,
    /// The workload whose container it stands in for.
    pub(super) workload: String,
    pub(super) address: SocketAddr,
    pub(super) meshed: bool,
    /// The stand-in's process when it runs in a pod's namespace (killed when dropped).
    pub(super) _process: Option<Running>,
}

fn stand_in_body(container: &str, workload: &str, declared: u16) -> String {
    format!(
        "chiaro local stand-in for container {container} of {workload} (declared port {declared}); its image cannot run here\n"
    )
}

/// Answers every request on `listener` with `body`, until the process ends.
fn serve_stand_in(listener: &TcpListener, body: &str) {
    let response = Response::text(Status::Ok, body).to_bytes();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if let Ok(Some(_)) = http1::read_request_blocking(&mut stream) {
            let _ = stream.write_all(&response);
        }
    }
}

/// `chiaro local stand-in`: a stand-in as its own process (in a pod's network namespace).
pub(crate) fn stand_in_process(args: &LocalStandInArgs) -> anyhow::Result<Outcome> {
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    serve_stand_in(&listener, &args.body);
    Ok(Outcome::Verified)
}

/// `chiaro local get`: `GET /` at an address (from inside a pod's network namespace).
pub(crate) fn get_process(args: &LocalGetArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let answer = http::get(args.address)?;
    printer.result(&serde_json::to_value(&answer)?, &answer.to_string());
    Ok(Outcome::Verified)
}

impl StandIn {
    pub(super) fn start(
        container: &str,
        workload: &str,
        declared: u16,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let address = listener.local_addr()?;
        let body = stand_in_body(container, workload, declared);
        std::thread::spawn(move || serve_stand_in(&listener, &body));
        Ok(Self {
            container: container.to_owned(),
            workload: workload.to_owned(),
            address,
            meshed: false,
            _process: None,
        })
    }

    /// A stand-in process in the pod's namespace, listening on every address of the pod;
    /// `address` is where others reach it.
    pub(super) fn start_in(
        place: Place<'_>,
        container: &str,
        workload: &str,
        declared: u16,
        address: SocketAddr,
    ) -> anyhow::Result<Self> {
        let mut child = place
            .command(&std::env::current_exe()?)
            .args([
                "local",
                "stand-in",
                "--listen",
                &format!("0.0.0.0:{declared}"),
            ])
            .args(["--body", &stand_in_body(container, workload, declared)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting a stand-in in the pod's namespace")?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            std::io::BufReader::new(stdout).read_line(&mut line)?;
        }
        let mut process = Running(child);
        if !line.starts_with("listening") {
            let mut error = String::new();
            if let Some(mut stderr) = process.0.stderr.take() {
                let _ = stderr.read_to_string(&mut error);
            }
            bail!(
                "the stand-in for {container} did not start: {}",
                error.trim()
            );
        }
        Ok(Self {
            container: container.to_owned(),
            workload: workload.to_owned(),
            address,
            meshed: false,
            _process: Some(process),
        })
    }
}
