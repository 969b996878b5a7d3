//! INSECURE, local mode only (`--insecure-file-stand-in`): the same plan with the real
//! cryptsetup and the real header and key logic, but without device-mapper, which local mode
//! does not have. The device is a regular file (`DEVICE-DIR/NAME`), formatted LUKS2 without
//! dm-integrity; "opening" checks the key (`open --test-passphrase`), so a wrong key is refused
//! and never reformatted; the "file system" is the plain directory `MOUNT-ROOT/NAME`, whose
//! data is NOT encrypted.

use std::fs;

use crate::Error;
use crate::key::VolumeKey;
use crate::plan::{FileSystem, Mapping, Observed};
use crate::protection::Protection;
use crate::setup::{KeyCheck, Tools, Volume};
use crate::system::{self, cryptsetup, expect_success, path_str};

/// What the stand-in says once per volume.
pub const WARNING: &str = "INSECURE file stand-in: the volume is a regular file, its \
                           directory a plain one; the data is not encrypted";

/// Observes a stand-in volume: its file's first bytes; no mapping, no mount.
///
/// # Errors
/// The file cannot be read.
pub fn observe(volume: &Volume) -> Result<Observed, Error> {
    let (header, zeroed) = system::read_start(&volume.device)?;
    Ok(Observed {
        header,
        zeroed,
        mapping: Mapping::Absent,
        mounted: false,
        leftovers: Vec::new(),
    })
}

/// The INSECURE stand-in's tools.
#[derive(Debug, Default)]
pub struct InsecureFileStandIn;

impl Tools for InsecureFileStandIn {
    fn close_leftovers(&mut self, _: &Volume, _: &[String]) -> Result<(), Error> {
        Ok(())
    }

    fn format(&mut self, volume: &Volume, key: &VolumeKey) -> Result<(), Error> {
        let args = system::format_args(path_str(&volume.device)?, false);
        cryptsetup(&args, Some(key)).and_then(expect_success)
    }

    fn open(&mut self, volume: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error> {
        system::check_key(&volume.device, key)
    }

    fn check_key(&mut self, volume: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error> {
        system::check_key(&volume.device, key)
    }

    fn protection(&mut self, volume: &Volume) -> Result<Protection, Error> {
        system::cryptsetup_output(&["luksDump", path_str(&volume.device)?])
            .map(|text| Protection::parse(&text))
    }

    fn authenticated(&self) -> bool {
        false
    }

    fn file_system(&mut self, volume: &Volume) -> Result<FileSystem, Error> {
        Ok(if volume.mount_dir.is_dir() {
            FileSystem::Found
        } else {
            FileSystem::Absent
        })
    }

    fn wipe(&mut self, _: &Volume) -> Result<(), Error> {
        Ok(())
    }

    fn make_file_system(&mut self, volume: &Volume) -> Result<(), Error> {
        fs::create_dir_all(&volume.mount_dir).map_err(|source| Error::Io {
            what: format!("creating {}", volume.mount_dir.display()),
            source,
        })
    }

    fn mark_ready(&mut self, volume: &Volume) -> Result<(), Error> {
        system::relabel_ready(&volume.device)
    }

    fn mount(&mut self, _: &Volume) -> Result<(), Error> {
        Ok(())
    }
}
