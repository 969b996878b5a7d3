//! Stand-ins for containers whose images cannot run here: a small HTTP server on each declared
//! port (a thread on loopback, or `chiaro local stand-in` in the pod's namespace), and the
//! `GET` local mode checks traffic with.

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

use super::processes::{Place, Running};
use crate::cli::{LocalGetArgs, LocalStandInArgs};
use crate::exit::Outcome;
use crate::output::Printer;

/// A built-in server standing in for a container whose image cannot run here.
pub(super) struct StandIn {
    pub(super) container: String,
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
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => request.extend_from_slice(&buffer[..read]),
            }
        }
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
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
    printer.line(&http_get(args.address)?);
    Ok(Outcome::Verified)
}

/// `GET /` at `address` as seen from `place`.
pub(super) fn get_from(place: Place<'_>, address: SocketAddr) -> anyhow::Result<String> {
    match place {
        Place::Loopback => http_get(address),
        Place::Namespace(..) => {
            let exe = std::env::current_exe()?;
            let output = place
                .command(&exe)
                .args(["local", "get", &address.to_string()])
                .output()
                .context("running chiaro local get in the pod's namespace")?;
            if !output.status.success() {
                bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
            }
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
    }
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
            address,
            meshed: false,
            _process: Some(process),
        })
    }

    pub(super) fn get(&self) -> anyhow::Result<String> {
        http_get(self.address)
    }
}

/// `GET /` at `address`: `status line: body`, or what came back.
pub(super) fn http_get(address: SocketAddr) -> anyhow::Result<String> {
    http_get_path(address, "/")
}

/// `GET path` at `address`.
pub(super) fn http_get_path(address: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_owned())
        .unwrap_or_default();
    Ok(format!("{status}: {body}"))
}
