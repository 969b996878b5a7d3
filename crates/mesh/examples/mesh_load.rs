//! The load tool of `bench/mesh/run`: an echo server, bulk throughput through a path, and
//! request/response latency at a fixed rate; and the test PKI the proxies use. Prints one JSON
//! object per measurement.
//!
//! ```text
//! mesh_load certs DIR                              CA, server (SAN "server") and client (SAN "client")
//! mesh_load echo ADDR                              echo every byte back
//! mesh_load throughput ADDR STREAMS SECONDS        bytes echoed per second over STREAMS connections
//! mesh_load latency ADDR CONNECTIONS RATE SECONDS  64-byte request/response round trips at RATE/s
//! ```

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic,
    reason = "a benchmark tool fails loudly and prints its numbers"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

fn certs(dir: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL-family verifiers take a leaf whose issuer equals its subject for
    // self-signed (rcgen's default name is the same for every certificate).
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "chiaro bench mesh CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(format!("{dir}/ca.pem"), ca.pem()).unwrap();
    for name in ["server", "client"] {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let certificate = params
            .signed_by(&key, &rcgen::Issuer::from_params(&ca_params, &ca_key))
            .unwrap();
        // chiaro-mesh reads the initializer's layout; Envoy the plain files.
        let files = chiaro_pod::CredentialsDir::new(format!("{dir}/{name}"));
        std::fs::create_dir_all(files.tls()).unwrap();
        std::fs::write(files.certificate(), certificate.pem()).unwrap();
        std::fs::write(files.key(), key.serialize_pem()).unwrap();
        std::fs::write(files.mesh_ca(), ca.pem()).unwrap();
    }
}

async fn echo(address: SocketAddr) {
    let listener = TcpListener::bind(address).await.unwrap();
    loop {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let (mut read, mut write) = stream.split();
            let _ = tokio::io::copy(&mut read, &mut write).await;
        });
    }
}

async fn throughput(address: SocketAddr, streams: usize, seconds: u64) {
    let total = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let total = Arc::clone(&total);
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(address).await.unwrap();
            let _ = stream.set_nodelay(true);
            let (mut read, mut write) = stream.into_split();
            let writer = tokio::spawn(async move {
                let chunk = vec![0x5au8; 64 * 1024];
                while Instant::now() < deadline {
                    if write.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let _ = write.shutdown().await;
            });
            let mut buffer = vec![0u8; 64 * 1024];
            let start = Instant::now();
            loop {
                match read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if Instant::now() < deadline {
                            total.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
            }
            let _ = writer.await;
            start.elapsed()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let bytes = total.load(Ordering::Relaxed);
    let mbps = bytes as f64 * 8.0 / seconds as f64 / 1e6;
    println!(
        "{{\"measure\":\"throughput\",\"streams\":{streams},\"seconds\":{seconds},\"bytes\":{bytes},\"mbit_per_s\":{mbps:.1}}}"
    );
}

async fn latency(address: SocketAddr, connections: usize, rate: u64, seconds: u64) {
    let per_connection = Duration::from_secs_f64(connections as f64 / rate as f64);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let _ = stream.set_nodelay(true);
            let request = [0x42u8; 64];
            let mut answer = [0u8; 64];
            let mut samples = Vec::new();
            let mut next = tokio::time::Instant::now();
            while Instant::now() < deadline {
                tokio::time::sleep_until(next).await;
                next += per_connection;
                let start = Instant::now();
                stream.write_all(&request).await.unwrap();
                stream.read_exact(&mut answer).await.unwrap();
                samples.push(start.elapsed());
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6
    };
    println!(
        "{{\"measure\":\"latency\",\"connections\":{connections},\"rate\":{rate},\"requests\":{},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
        samples.len(),
        at(0.50),
        at(0.99)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let parse = |i: usize| -> u64 { args[i].parse().expect("a number") };
    match args.get(1).map(String::as_str) {
        Some("certs") => certs(&args[2]),
        Some("echo") => runtime.block_on(echo(args[2].parse().unwrap())),
        Some("throughput") => runtime.block_on(throughput(
            args[2].parse().unwrap(),
            parse(3) as usize,
            parse(4),
        )),
        Some("latency") => runtime.block_on(latency(
            args[2].parse().unwrap(),
            parse(3) as usize,
            parse(4),
            parse(5),
        )),
        _ => panic!(
            "usage: mesh_load certs DIR | echo ADDR | throughput ADDR STREAMS SECONDS | latency ADDR CONNECTIONS RATE SECONDS"
        ),
    }
}
