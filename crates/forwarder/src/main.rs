//! `chiaro-forwarder [--listen ADDR | --version]`: the untrusted TCP forwarder of `chiaro port-forward`.
//!
//! It listens on loopback by default: in its pod, `kubectl port-forward` reaches it there, and
//! no other pod can use it as a relay. One line per connection on stderr. Exit 64 on a usage
//! error.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["--version"] {
        let _ = writeln!(
            std::io::stdout().lock(),
            "chiaro-forwarder {}",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let listen = match listen_address(args) {
        Ok(listen) => listen,
        Err(error) => {
            log(&format!(
                "{error}\nusage: chiaro-forwarder [--listen ADDR] (default 127.0.0.1:{})",
                chiaro_forwarder::PORT
            ));
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log(&format!("starting the runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(listen))
}

fn listen_address(args: Vec<String>) -> Result<SocketAddr, String> {
    match args.as_slice() {
        [] => Ok(SocketAddr::from((
            std::net::Ipv4Addr::LOCALHOST,
            chiaro_forwarder::PORT,
        ))),
        [flag, address] if flag == "--listen" => address
            .parse()
            .map_err(|e| format!("--listen {address:?}: {e}")),
        other => Err(format!("unexpected arguments {other:?}")),
    }
}

async fn run(listen: SocketAddr) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            log(&format!("listening on {listen}: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => log(&format!("listening on {bound}")),
        Err(error) => log(&format!("listening on {listen} ({error})")),
    }
    tokio::select! {
        result = chiaro_forwarder::forward::serve(listener, log) => {
            if let Err(error) = result {
                log(&format!("{error}"));
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

/// One line on stderr.
fn log(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "chiaro-forwarder: {line}");
}
