//! `chiaro-release`: `debs` lists the locked packages for `apt-get download`; `images` builds
//! the three images, writes their OCI layouts (and tarballs), optionally pushes them, and
//! prints each image's digest and compressed size. Run by `scripts/images`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use chiaro_registry::{ClientOptions, RegistryClient};
use chiaro_release::inputs::{self, Sources};
use chiaro_release::{Component, DebianLock, Stamp, output};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Flags {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints `NAME=VERSION FILE` for each locked package.
    Debs {
        /// The Debian lock.
        #[arg(long)]
        lock: PathBuf,
    },
    /// Builds, writes and optionally pushes the images.
    Images {
        /// The static binaries.
        #[arg(long)]
        binaries: PathBuf,
        /// The downloaded `.deb` files.
        #[arg(long)]
        debs: PathBuf,
        /// The Debian lock.
        #[arg(long)]
        lock: PathBuf,
        /// Where the layouts go (`<out>/<image>/`).
        #[arg(long)]
        out: PathBuf,
        /// The source commit (`org.opencontainers.image.revision`).
        #[arg(long)]
        revision: String,
        /// The commit's time: every file's and `created`.
        #[arg(long)]
        epoch: u64,
        /// Where the source is published (`org.opencontainers.image.source`).
        #[arg(long)]
        source: Option<String>,
        /// Also writes `<out>/<image>-<version>.oci.tar`.
        #[arg(long)]
        tarballs: bool,
        /// Pushes to `REGISTRY/<image>:<version>`.
        #[arg(long)]
        push: Option<String>,
        /// A registry host spoken to over plain HTTP.
        #[arg(long = "insecure-registry")]
        insecure: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Flags::parse().command {
        Command::Debs { lock } => {
            let lock = read_lock(&lock)?;
            let mut stdout = std::io::stdout().lock();
            for package in &lock.packages {
                writeln!(
                    stdout,
                    "{}={} {}",
                    package.name,
                    package.version,
                    package.file_name()
                )?;
            }
            Ok(())
        }
        Command::Images {
            binaries,
            debs,
            lock,
            out,
            revision,
            epoch,
            source,
            tarballs,
            push,
            insecure,
        } => {
            let lock = read_lock(&lock)?;
            let sources = Sources {
                binaries,
                debs,
                scratch: out.join(".debian-root"),
            };
            let inputs = inputs::read(&sources, &lock)?;
            let stamp = Stamp {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                revision,
                source,
                epoch,
            };
            let client = push
                .as_ref()
                .map(|_| {
                    RegistryClient::new(ClientOptions {
                        insecure: insecure.into_iter().collect::<BTreeSet<_>>(),
                        ..ClientOptions::default()
                    })
                })
                .transpose()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut stdout = std::io::stdout().lock();
            for component in Component::ALL {
                let image = component.spec(&inputs, &stamp)?.build()?;
                let directory = output::write_layout(&out, component, &image, &stamp.version)?;
                if tarballs {
                    output::write_tarball(&out, component, &image, &stamp.version, epoch)?;
                }
                writeln!(
                    stdout,
                    "{} {} {} bytes compressed ({:.2} MiB) {}",
                    component.name(),
                    image.digest(),
                    image.compressed_size(),
                    mib(image.compressed_size()),
                    directory.display()
                )?;
                if let (Some(client), Some(registry)) = (&client, &push) {
                    let digest = runtime.block_on(output::push(
                        client,
                        registry,
                        component,
                        &image,
                        &stamp.version,
                    ))?;
                    writeln!(
                        stdout,
                        "pushed {registry}/{}:{}@{digest}",
                        component.name(),
                        stamp.version
                    )?;
                }
            }
            Ok(())
        }
    }
}

fn read_lock(path: &PathBuf) -> anyhow::Result<DebianLock> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(DebianLock::parse(&path.display().to_string(), &text)?)
}

/// `bytes` in MiB, for people.
#[expect(clippy::cast_precision_loss, reason = "a size shown with two decimals")]
fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}
