//! The volume owner in local mode: the real `chiaro-volume`, with the arguments and environment
//! the pod spec gives it, against an INSECURE file-backed stand-in for each disk (a file in the
//! work directory, a LUKS2 header without dm-integrity, a plain directory for the file system:
//! device-mapper does not run outside a VM here). The data is not encrypted; the run says so.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chiaro_k8s::VOLUME_OWNER_NAME;
use chiaro_pod::volumes::CREDENTIALS_FLAG;
use chiaro_pod::{CredentialsDir, VolumeName, env};

use super::pods::LocalPod;
use super::processes::{Place, Running};

/// The stand-in disks' size (sparse files).
const DISK_BYTES: u64 = 64 << 20;

/// How long the owner may take to open every volume.
const PATIENCE: Duration = Duration::from_secs(60);

/// The running owner and what it opened, for the report.
pub(super) struct StartedOwner {
    pub(super) process: Running,
    pub(super) volumes: Vec<String>,
    pub(super) stand_in: String,
}

/// Starts the owner of `pod`'s encrypted volumes with the credentials in `credentials` and
/// waits until every volume is ready (or the owner fails). The stand-in disks and their plain
/// directories are under `work/volumes/<pod>`.
pub(super) fn start_volume_owner(
    program: &Path,
    pod: &LocalPod,
    credentials: &Path,
    work: &Path,
    place: Place<'_>,
) -> anyhow::Result<StartedOwner> {
    let spec = pod
        .container(VOLUME_OWNER_NAME)
        .ok_or_else(|| anyhow!("no volume owner in the pod spec"))?;
    let simulated = pod.simulated();
    let root = work.join("volumes").join(&simulated.name);
    let (devices, mounts) = (root.join("devices"), root.join("plain"));
    std::fs::create_dir_all(&devices)?;
    std::fs::create_dir_all(&mounts)?;
    let args = spec.args.clone().unwrap_or_default();
    let volumes = volume_names(&args)?;
    for volume in &volumes {
        // The host's side: a disk for each claim, blank the first time.
        let disk = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(devices.join(volume.as_str()))?;
        if disk.metadata()?.len() == 0 {
            disk.set_len(DISK_BYTES)?;
        }
    }
    let mut command = place.command(program);
    command.env_remove(env::POD_NAME);
    if spec
        .env
        .iter()
        .any(|variable| variable.name == env::POD_NAME)
    {
        // The downward API's `metadata.name`, which the policy pins to the sandbox's.
        command.env(env::POD_NAME, &simulated.name);
    }
    command
        .args(with_credentials(&args, credentials))
        .arg("--insecure-file-stand-in")
        .arg("--device-dir")
        .arg(&devices)
        .arg("--mount-root")
        .arg(&mounts);
    let log_path = work.join(format!("volumes-{}.log", pod.name));
    let log = std::fs::File::create(&log_path)?;
    let mut process = Running(
        command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting chiaro-volume")?,
    );
    wait_until_ready(&mut process, credentials, &volumes, &log_path)?;
    Ok(StartedOwner {
        process,
        volumes: volumes.iter().map(ToString::to_string).collect(),
        stand_in: format!(
            "INSECURE file stand-in: disks in {}, data in plain in {}",
            devices.display(),
            mounts.display()
        ),
    })
}

/// The volumes the owner's `--volume` arguments name.
fn volume_names(args: &[String]) -> anyhow::Result<Vec<VolumeName>> {
    let flag = format!("--{}", chiaro_pod::volumes::VOLUME_FLAG);
    args.windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| VolumeName::parse(&pair[1]).map_err(|error| anyhow!("{error}")))
        .collect()
}

/// The pod spec's arguments with the credentials directory moved to `credentials`.
fn with_credentials(args: &[String], credentials: &Path) -> Vec<String> {
    let flag = format!("--{CREDENTIALS_FLAG}");
    let mut out = Vec::with_capacity(args.len());
    let mut words = args.iter();
    while let Some(word) = words.next() {
        out.push(word.clone());
        if *word == flag && words.next().is_some() {
            out.push(credentials.display().to_string());
        }
    }
    out
}

/// Waits for every volume's ready file; fails when the owner exits first or takes too long.
fn wait_until_ready(
    process: &mut Running,
    credentials: &Path,
    volumes: &[VolumeName],
    log: &Path,
) -> anyhow::Result<()> {
    let credentials = CredentialsDir::new(credentials);
    let deadline = Instant::now() + PATIENCE;
    loop {
        if volumes
            .iter()
            .all(|volume| credentials.volume_ready(volume).is_file())
        {
            return Ok(());
        }
        if let Some(status) = process.0.try_wait()? {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("exited ({status}): {}", text.trim());
        }
        if Instant::now() > deadline {
            bail!(
                "its volumes were not ready after {PATIENCE:?} (see {})",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
