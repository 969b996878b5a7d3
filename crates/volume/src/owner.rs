//! The owner's run: the workload secret, then per volume observe, set up and write its ready
//! file. What the binary calls once its flags are parsed.

use std::fs;

use chiaro_atomic_file::Mode;
use chiaro_pod::{CredentialsDir, VolumeName};

use crate::Error;
use crate::key::{KeyContext, WorkloadSecret, volume_key};
use crate::setup::{Tools, Volume, set_up};
use crate::stand_in::{self, InsecureFileStandIn};
use crate::system::{self, System};

/// What the owner sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The volumes, in order.
    pub volumes: Vec<Volume>,
    /// The pod's credentials: the workload secret in, the ready files out.
    pub credentials: CredentialsDir,
    /// The pod's name, for per-replica keys.
    pub replica: Option<String>,
    /// INSECURE: files and plain directories instead of devices and mounts ([`stand_in`]).
    pub insecure_file_stand_in: bool,
}

impl Owner {
    /// Sets every volume up and writes its ready file, logging each step with `log`.
    ///
    /// # Errors
    /// The first volume that is refused or fails; the volumes before it are set up.
    pub fn run(&self, log: &mut dyn FnMut(&str)) -> Result<(), Error> {
        // A ready file of an earlier start says nothing about this one: until this start has
        // mounted the volume again, no workload may start on the bare directory.
        for volume in &self.volumes {
            self.remove_ready(&volume.name)?;
        }
        let secret = self.secret()?;
        for volume in &self.volumes {
            let context = KeyContext {
                volume: volume.name.clone(),
                replica: self.replica.clone(),
            };
            let key = volume_key(&secret, &context);
            let (observed, mut tools): (_, Box<dyn Tools>) = if self.insecure_file_stand_in {
                log(&format!("{}: {}", volume.name, stand_in::WARNING));
                (stand_in::observe(volume)?, Box::new(InsecureFileStandIn))
            } else {
                (system::observe(volume)?, Box::new(System))
            };
            let name = &volume.name;
            set_up(tools.as_mut(), volume, &observed, &key, &mut |step| {
                log(&format!("{name}: {step}"));
            })?;
            self.write_ready(name, volume)?;
            log(&format!("{name}: ready at {}", volume.mount_dir.display()));
        }
        Ok(())
    }

    fn secret(&self) -> Result<WorkloadSecret, Error> {
        let path = self.credentials.workload_secret_seed();
        let text = fs::read_to_string(&path).map_err(|source| Error::NoSecret {
            path: path.display().to_string(),
            source,
        })?;
        WorkloadSecret::from_hex(&text)
    }

    fn remove_ready(&self, name: &VolumeName) -> Result<(), Error> {
        let ready = self.credentials.volume_ready(name);
        match fs::remove_file(&ready) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                what: format!("removing the earlier start's {}", ready.display()),
                source: error,
            }),
            _ => Ok(()),
        }
    }

    fn write_ready(&self, name: &VolumeName, volume: &Volume) -> Result<(), Error> {
        let ready = self.credentials.volume_ready(name);
        let io = |source| Error::Io {
            what: format!("writing {}", ready.display()),
            source,
        };
        fs::create_dir_all(self.credentials.volumes()).map_err(io)?;
        let content = format!("{}\n", volume.mount_dir.display());
        chiaro_atomic_file::write(&ready, content.as_bytes(), Mode::PUBLIC).map_err(io)
    }
}
