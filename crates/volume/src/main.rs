//! `chiaro-volume`: the volume owner of a Chiaro pod (the `chiaro-volumes` sidecar). Sets up
//! each `--volume`, writes its ready file, then stays running: the mapping and the mount stay
//! in place when it is stopped, and a restart finds and keeps them.
//!
//! Exit codes: 1 when a volume is refused or its setup fails, 2 for a command line generate
//! does not write (clap).

use std::path::PathBuf;
use std::process::ExitCode;

use chiaro_pod::layout::MOUNT;
use chiaro_pod::volumes::{
    CREDENTIALS_FLAG, DEVICE_DIR_FLAG, INSECURE_FILE_STAND_IN_FLAG, MOUNT_ROOT_FLAG,
    PER_REPLICA_FLAG, VOLUME_FLAG,
};
use chiaro_pod::{CredentialsDir, VolumeName, env, with_causes};
use chiaro_volume::{Error, Owner, Volume};
use clap::Parser;

/// The Chiaro volume owner.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// A volume to open (repeated): its device is /dev/chiaro-volumes/NAME, its mount
    /// /chiaro-volumes/NAME.
    #[arg(long = VOLUME_FLAG, value_name = "NAME", required = true, value_parser = parse_name)]
    volumes: Vec<VolumeName>,
    /// Keys per replica: also derived from the pod's name (CHIARO_POD_NAME).
    #[arg(long = PER_REPLICA_FLAG)]
    per_replica: bool,
    /// The credentials directory: the workload secret in, the ready files out.
    #[arg(long = CREDENTIALS_FLAG, value_name = "DIR", default_value = MOUNT)]
    credentials: PathBuf,
    /// INSECURE, local mode only: each volume is a regular file, its "mount" a plain
    /// directory; the data is not encrypted.
    #[arg(long = INSECURE_FILE_STAND_IN_FLAG)]
    insecure_file_stand_in: bool,
    /// With the stand-in only: the directory of the volumes' files.
    #[arg(long = DEVICE_DIR_FLAG, value_name = "DIR", requires = "insecure_file_stand_in")]
    device_dir: Option<PathBuf>,
    /// With the stand-in only: the directory of the volumes' plain directories.
    #[arg(long = MOUNT_ROOT_FLAG, value_name = "DIR", requires = "insecure_file_stand_in")]
    mount_root: Option<PathBuf>,
}

fn parse_name(text: &str) -> Result<VolumeName, String> {
    VolumeName::parse(text).map_err(|error| error.to_string())
}

fn log(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "chiaro-volume: {line}");
}

fn owner(flags: Flags) -> Result<Owner, Error> {
    let replica = if flags.per_replica {
        let name = std::env::var(env::POD_NAME).unwrap_or_default();
        if name.is_empty() {
            return Err(Error::NoReplicaName);
        }
        Some(name)
    } else {
        None
    };
    let volumes = flags
        .volumes
        .into_iter()
        .map(|name| {
            let mut volume = Volume::in_pod(name);
            if let Some(dir) = &flags.device_dir {
                volume.device = dir.join(volume.name.as_str());
            }
            if let Some(dir) = &flags.mount_root {
                volume.mount_dir = dir.join(volume.name.as_str());
            }
            volume
        })
        .collect();
    Ok(Owner {
        volumes,
        credentials: CredentialsDir::new(flags.credentials),
        replica,
        insecure_file_stand_in: flags.insecure_file_stand_in,
    })
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Err(error) = owner(flags).and_then(|owner| owner.run(&mut |line| log(line))) {
        log(&with_causes(&error));
        return ExitCode::FAILURE;
    }
    log("every volume is ready; staying up (the mappings and mounts stay when stopped)");
    loop {
        std::thread::park();
    }
}
