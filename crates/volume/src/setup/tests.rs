//! The steps against a FAKE device: a model of what cryptsetup, mkfs and mount do to a disk,
//! so the order of steps and the refusals can be checked without a kernel. The real tools are
//! tested in a VM (`tests/vm.rs`).

use super::*;
use crate::key::{KeyContext, WorkloadSecret, volume_key};
use crate::luks::{Header, LABEL_FORMATTING, LABEL_READY};
use crate::plan::Mapping;

const UUID: &str = "4819a17b-9f25-41ab-be4f-0a3c11b5103c";

/// A FAKE disk and the kernel state over it.
#[derive(Debug, Default)]
struct FakeDisk {
    /// The header's label and the key its keyslot opens with.
    luks: Option<(String, [u8; 32])>,
    /// Bytes written before any Chiaro setup.
    foreign_data: bool,
    file_system: bool,
    mapped: bool,
    mounted: bool,
    /// Data written by the app.
    app_data: bool,
    /// A killed luksFormat's temporary mapping.
    leftover: bool,
    /// The host rewrote the header's data segment to `cipher_null` without integrity.
    segment_rewritten: bool,
    calls: Vec<&'static str>,
}

impl FakeDisk {
    fn observe(&self) -> Observed {
        Observed {
            header: match &self.luks {
                None => Header::Absent,
                Some((label, _)) => Header::Luks2 {
                    label: label.clone(),
                    uuid: UUID.to_owned(),
                },
            },
            zeroed: self.luks.is_none() && !self.foreign_data,
            mapping: if self.mapped {
                Mapping::Active {
                    over_device: true,
                    dm_uuid: format!("CRYPT-LUKS2-{}-chiaro-data", UUID.replace('-', "")),
                }
            } else {
                Mapping::Absent
            },
            mounted: self.mounted,
            leftovers: if self.leftover {
                vec!["temporary-cryptsetup-1".to_owned()]
            } else {
                Vec::new()
            },
        }
    }

    fn opens(&self, key: &VolumeKey) -> KeyCheck {
        match &self.luks {
            Some((_, slot)) if slot == key.as_bytes() => KeyCheck::Opens,
            _ => KeyCheck::Wrong,
        }
    }

    /// A reboot: the kernel state is gone, the disk stays.
    fn reboot(&mut self) {
        self.mapped = false;
        self.mounted = false;
        self.calls.clear();
    }
}

impl Tools for FakeDisk {
    fn close_leftovers(&mut self, _: &Volume, _: &[String]) -> Result<(), Error> {
        self.calls.push("close_leftovers");
        self.leftover = false;
        Ok(())
    }

    fn format(&mut self, _: &Volume, key: &VolumeKey) -> Result<(), Error> {
        self.calls.push("format");
        self.luks = Some((LABEL_FORMATTING.to_owned(), *key.as_bytes()));
        self.file_system = false;
        self.app_data = false;
        Ok(())
    }

    fn open(&mut self, _: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error> {
        self.calls.push("open");
        let check = self.opens(key);
        self.mapped = check == KeyCheck::Opens;
        Ok(check)
    }

    fn check_key(&mut self, _: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error> {
        self.calls.push("check_key");
        Ok(self.opens(key))
    }

    fn protection(&mut self, _: &Volume) -> Result<Protection, Error> {
        self.calls.push("protection");
        let (cipher, integrity) = if self.segment_rewritten {
            ("cipher_null-ecb", None)
        } else {
            (
                crate::protection::CIPHER,
                Some(crate::protection::INTEGRITY.to_owned()),
            )
        };
        Ok(Protection {
            cipher: Some(cipher.to_owned()),
            integrity,
            sector_size: Some(crate::protection::SECTOR_SIZE),
        })
    }

    fn authenticated(&self) -> bool {
        true
    }

    fn file_system(&mut self, _: &Volume) -> Result<FileSystem, Error> {
        self.calls.push("file_system");
        Ok(if self.file_system {
            FileSystem::Found
        } else {
            FileSystem::Unreadable
        })
    }

    fn wipe(&mut self, _: &Volume) -> Result<(), Error> {
        self.calls.push("wipe");
        self.file_system = false;
        self.app_data = false;
        Ok(())
    }

    fn make_file_system(&mut self, _: &Volume) -> Result<(), Error> {
        self.calls.push("make_file_system");
        self.file_system = true;
        self.app_data = false;
        Ok(())
    }

    fn mark_ready(&mut self, _: &Volume) -> Result<(), Error> {
        self.calls.push("mark_ready");
        if let Some((label, _)) = &mut self.luks {
            LABEL_READY.clone_into(label);
        }
        Ok(())
    }

    fn mount(&mut self, _: &Volume) -> Result<(), Error> {
        self.calls.push("mount");
        assert!(self.mapped && self.file_system);
        self.mounted = true;
        Ok(())
    }
}

fn volume() -> Volume {
    Volume::in_pod(VolumeName::parse("data").unwrap())
}

fn key(secret: u8) -> VolumeKey {
    let secret = WorkloadSecret::from_hex(&hex::encode([secret; 32])).unwrap();
    volume_key(
        &secret,
        &KeyContext {
            volume: VolumeName::parse("data").unwrap(),
            replica: None,
        },
    )
}

fn start(disk: &mut FakeDisk, key: &VolumeKey) -> Result<Vec<Step>, Error> {
    let observed = disk.observe();
    let mut steps = Vec::new();
    set_up(disk, &volume(), &observed, key, &mut |step| {
        steps.push(step);
    })?;
    Ok(steps)
}

fn refusal(result: Result<Vec<Step>, Error>) -> Refusal {
    match result {
        Err(Error::Refused { refusal, .. }) => refusal,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn first_use_formats_then_a_reboot_only_opens() {
    let mut disk = FakeDisk::default();
    start(&mut disk, &key(1)).unwrap();
    assert_eq!(
        disk.calls,
        [
            "format",
            "open",
            "protection",
            "make_file_system",
            "mark_ready",
            "mount"
        ]
    );
    disk.app_data = true;
    disk.reboot();
    start(&mut disk, &key(1)).unwrap();
    assert_eq!(disk.calls, ["open", "protection", "file_system", "mount"]);
    assert!(disk.app_data);
}

#[test]
fn a_wrong_key_is_refused_before_anything_is_written() {
    let mut disk = FakeDisk::default();
    start(&mut disk, &key(1)).unwrap();
    disk.reboot();
    assert_eq!(refusal(start(&mut disk, &key(2))), Refusal::WrongKey);
    assert_eq!(disk.calls, ["open"]);
    // Interrupted setup and the wrong key: still never formatted.
    disk.luks = Some((LABEL_FORMATTING.to_owned(), *key(1).as_bytes()));
    disk.calls.clear();
    assert_eq!(refusal(start(&mut disk, &key(2))), Refusal::WrongKey);
    assert_eq!(disk.calls, ["open"]);
}

#[test]
fn interrupted_setup_is_finished_and_a_made_file_system_kept() {
    let mut disk = FakeDisk {
        luks: Some((LABEL_FORMATTING.to_owned(), *key(1).as_bytes())),
        ..FakeDisk::default()
    };
    start(&mut disk, &key(1)).unwrap();
    assert_eq!(
        disk.calls,
        [
            "open",
            "protection",
            "file_system",
            "wipe",
            "make_file_system",
            "mark_ready",
            "mount"
        ]
    );
    // Killed after mkfs, before the relabel: the file system is kept.
    disk.reboot();
    disk.luks = Some((LABEL_FORMATTING.to_owned(), *key(1).as_bytes()));
    start(&mut disk, &key(1)).unwrap();
    assert_eq!(
        disk.calls,
        ["open", "protection", "file_system", "mark_ready", "mount"]
    );
}

#[test]
fn a_killed_format_s_temporary_mappings_are_closed_before_setup_is_finished() {
    let mut disk = FakeDisk {
        luks: Some((LABEL_FORMATTING.to_owned(), *key(1).as_bytes())),
        leftover: true,
        ..FakeDisk::default()
    };
    start(&mut disk, &key(1)).unwrap();
    assert_eq!(disk.calls.first(), Some(&"close_leftovers"));
    assert!(!disk.leftover);
}

#[test]
fn a_restart_keeps_the_mapping_and_the_mount() {
    let mut disk = FakeDisk::default();
    start(&mut disk, &key(1)).unwrap();
    disk.app_data = true;
    disk.calls.clear();
    let steps = start(&mut disk, &key(1)).unwrap();
    assert_eq!(disk.calls, ["check_key", "protection", "file_system"]);
    assert_eq!(steps.last(), Some(&Step::KeepMount));
    assert!(disk.app_data);
}

#[test]
fn foreign_data_and_a_ready_volume_without_a_file_system_are_refused_untouched() {
    let mut disk = FakeDisk {
        foreign_data: true,
        ..FakeDisk::default()
    };
    assert_eq!(refusal(start(&mut disk, &key(1))), Refusal::NotChiaroData);
    assert!(disk.calls.is_empty());
    let mut disk = FakeDisk {
        luks: Some((LABEL_READY.to_owned(), *key(1).as_bytes())),
        ..FakeDisk::default()
    };
    assert_eq!(refusal(start(&mut disk, &key(1))), Refusal::NoFileSystem);
    assert_eq!(disk.calls, ["open", "protection", "file_system"]);
}

#[test]
fn a_refusal_names_the_volume_and_the_device() {
    let mut disk = FakeDisk {
        foreign_data: true,
        ..FakeDisk::default()
    };
    let error = start(&mut disk, &key(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "volume data on /dev/chiaro-volumes/data: holds data that is not a Chiaro volume; \
         refusing to format it"
    );
}

#[test]
fn attack_a_header_rewritten_to_cipher_null_is_refused_before_anything_is_read_or_mounted() {
    let mut disk = FakeDisk::default();
    let key = key(1);
    start(&mut disk, &key).unwrap();
    disk.reboot();
    disk.segment_rewritten = true;
    let refused = refusal(start(&mut disk, &key));
    assert!(
        matches!(refused, Refusal::Unprotected { .. }),
        "{refused:?}"
    );
    assert!(
        !disk.calls.contains(&"mount") && !disk.calls.contains(&"make_file_system"),
        "{:?}",
        disk.calls
    );
}
