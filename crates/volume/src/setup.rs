//! Setting one volume up: the plan's steps run through the [`Tools`] port (cryptsetup,
//! mkfs.ext4 and mount(2) in the shell, a fake in tests), each reported as it starts.

use std::fmt;
use std::path::PathBuf;

use chiaro_pod::VolumeName;

use crate::key::VolumeKey;
use crate::plan::{self, FileSystem, Observed, Open, State};
use crate::protection::Protection;
use crate::{Error, Refusal};

/// One volume and where its pieces are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Its name in the pod spec.
    pub name: VolumeName,
    /// Its block device (a regular file for the INSECURE stand-in).
    pub device: PathBuf,
    /// Where it is mounted.
    pub mount_dir: PathBuf,
}

impl Volume {
    /// The volume in a pod: [`VolumeName::device_path`], [`VolumeName::owner_mount_dir`].
    pub fn in_pod(name: VolumeName) -> Self {
        Self {
            device: name.device_path(),
            mount_dir: name.owner_mount_dir(),
            name,
        }
    }

    /// `/dev/mapper/chiaro-NAME`: the opened volume.
    pub fn mapper_device(&self) -> PathBuf {
        PathBuf::from("/dev/mapper").join(self.name.mapper_name())
    }

    /// A refusal about this volume.
    pub fn refused(&self, refusal: Refusal) -> Error {
        Error::Refused {
            volume: self.name.clone(),
            device: self.device.display().to_string(),
            refusal,
        }
    }
}

/// Whether the key opened the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// It did.
    Opens,
    /// It did not (cryptsetup: no key available with this passphrase).
    Wrong,
}

/// What setting a volume up needs from the machine. Each method is one step of [`Step`].
pub trait Tools {
    /// Closes the temporary mappings a killed `luksFormat` left over the device.
    ///
    /// # Errors
    /// The step failed.
    fn close_leftovers(&mut self, volume: &Volume, names: &[String]) -> Result<(), Error>;
    /// `luksFormat`, labelled [`crate::luks::LABEL_FORMATTING`].
    ///
    /// # Errors
    /// The step failed.
    fn format(&mut self, volume: &Volume, key: &VolumeKey) -> Result<(), Error>;
    /// Opens the device as the mapping `chiaro-NAME`.
    ///
    /// # Errors
    /// The step failed for another reason than the key.
    fn open(&mut self, volume: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error>;
    /// Checks the key against the header without opening.
    ///
    /// # Errors
    /// The step failed for another reason than the key.
    fn check_key(&mut self, volume: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error>;
    /// What protects the opened volume (`cryptsetup status` of the mapping).
    ///
    /// # Errors
    /// The step failed.
    fn protection(&mut self, volume: &Volume) -> Result<Protection, Error>;
    /// Whether these tools make authenticated volumes (dm-integrity): false only for the
    /// INSECURE file stand-in.
    fn authenticated(&self) -> bool;
    /// Reads the start of the mapping.
    ///
    /// # Errors
    /// The mapping cannot be opened at all (an I/O error reading it is [`FileSystem::Unreadable`]).
    fn file_system(&mut self, volume: &Volume) -> Result<FileSystem, Error>;
    /// Writes zeros through the whole mapping.
    ///
    /// # Errors
    /// The step failed.
    fn wipe(&mut self, volume: &Volume) -> Result<(), Error>;
    /// `mkfs.ext4` on the mapping.
    ///
    /// # Errors
    /// The step failed.
    fn make_file_system(&mut self, volume: &Volume) -> Result<(), Error>;
    /// Relabels the header [`crate::luks::LABEL_READY`].
    ///
    /// # Errors
    /// The step failed.
    fn mark_ready(&mut self, volume: &Volume) -> Result<(), Error>;
    /// Mounts the mapping at the mount point.
    ///
    /// # Errors
    /// The step failed.
    fn mount(&mut self, volume: &Volume) -> Result<(), Error>;
}

/// A step, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// [`Tools::close_leftovers`].
    CloseLeftovers,
    /// [`Tools::format`].
    Format,
    /// [`Tools::open`].
    Open,
    /// [`Tools::check_key`] of a kept mapping.
    Reuse,
    /// [`Tools::protection`].
    CheckProtection,
    /// [`Tools::file_system`].
    LookForFileSystem,
    /// [`Tools::wipe`].
    Wipe,
    /// [`Tools::make_file_system`].
    MakeFileSystem,
    /// [`Tools::mark_ready`].
    MarkReady,
    /// [`Tools::mount`].
    Mount,
    /// Already mounted: nothing done.
    KeepMount,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CloseLeftovers => "closing the temporary mappings of an interrupted format",
            Self::Format => "first use: formatting (LUKS2, label chiaro:formatting)",
            Self::Open => "opening with the workload's key",
            Self::Reuse => "keeping the active mapping of an earlier start (key checked)",
            Self::CheckProtection => "checking the mapping's cipher and integrity",
            Self::LookForFileSystem => "looking for the file system through the mapping",
            Self::Wipe => "writing zeros through the mapping (setup was interrupted)",
            Self::MakeFileSystem => "making the ext4 file system",
            Self::MarkReady => "relabelling chiaro:ready",
            Self::Mount => "mounting",
            Self::KeepMount => "already mounted: keeping the mount",
        })
    }
}

/// Sets `volume` up as `observed` allows, reporting each step before it runs.
///
/// # Errors
/// [`Error::Refused`] as the plan decides (before any step that changes the device), or
/// [`Error::Step`] naming the step that failed.
pub fn set_up(
    tools: &mut dyn Tools,
    volume: &Volume,
    observed: &Observed,
    key: &VolumeKey,
    report: &mut dyn FnMut(Step),
) -> Result<(), Error> {
    let plan = plan::plan(observed).map_err(|refusal| volume.refused(refusal))?;
    if plan.close_leftovers {
        report(Step::CloseLeftovers);
        tools
            .close_leftovers(volume, &observed.leftovers)
            .map_err(failed(volume, Step::CloseLeftovers))?;
    }
    if plan.state == State::Fresh {
        report(Step::Format);
        tools
            .format(volume, key)
            .map_err(failed(volume, Step::Format))?;
    }
    let key_check = match plan.open {
        Open::Open => {
            report(Step::Open);
            tools
                .open(volume, key)
                .map_err(failed(volume, Step::Open))?
        }
        Open::Reuse => {
            report(Step::Reuse);
            tools
                .check_key(volume, key)
                .map_err(failed(volume, Step::Reuse))?
        }
    };
    if key_check == KeyCheck::Wrong {
        return Err(volume.refused(Refusal::WrongKey));
    }
    report(Step::CheckProtection);
    let protection = tools
        .protection(volume)
        .map_err(failed(volume, Step::CheckProtection))?;
    if !protection.is_required(tools.authenticated()) {
        return Err(volume.refused(Refusal::Unprotected {
            found: protection.to_string(),
        }));
    }
    let file_system = match plan.state {
        State::Fresh => FileSystem::Absent,
        State::Interrupted | State::Ready => {
            report(Step::LookForFileSystem);
            tools
                .file_system(volume)
                .map_err(failed(volume, Step::LookForFileSystem))?
        }
    };
    let finish = plan::finish(plan.state, file_system).map_err(|r| volume.refused(r))?;
    if finish.wipe {
        report(Step::Wipe);
        tools.wipe(volume).map_err(failed(volume, Step::Wipe))?;
    }
    if finish.make_file_system {
        report(Step::MakeFileSystem);
        tools
            .make_file_system(volume)
            .map_err(failed(volume, Step::MakeFileSystem))?;
    }
    if finish.mark_ready {
        report(Step::MarkReady);
        tools
            .mark_ready(volume)
            .map_err(failed(volume, Step::MarkReady))?;
    }
    if plan.mount {
        report(Step::Mount);
        tools.mount(volume).map_err(failed(volume, Step::Mount))?;
    } else {
        report(Step::KeepMount);
    }
    Ok(())
}

/// Wraps a step's failure with the volume and the step.
fn failed(volume: &Volume, step: Step) -> impl FnOnce(Error) -> Error + '_ {
    move |source| Error::Step {
        volume: volume.name.clone(),
        device: volume.device.display().to_string(),
        step: step.to_string(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests;
