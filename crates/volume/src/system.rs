//! The shell's side on a real guest: what it observes (the device's first bytes, the kernel's
//! device-mapper table in sysfs, the mount table) and the [`Tools`] it runs (`cryptsetup`,
//! `mkfs.ext4`, mount(2)). Tested in a VM (`tests/vm.rs`), since device-mapper needs a kernel of
//! its own.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;
use crate::key::VolumeKey;
use crate::luks::{self, EXT4_PROBE_LEN, HEADER_LEN, LABEL_FORMATTING, LABEL_READY};
use crate::plan::{FileSystem, Mapping, Observed, ZERO_CHECK_LEN};
use crate::protection::Protection;
use crate::setup::{KeyCheck, Tools, Volume};

/// The `luksFormat` of a Chiaro volume on `device`: AES-XTS for confidentiality, HMAC-SHA256 per
/// 4096-byte sector for integrity (dm-integrity; left out only by the INSECURE file stand-in,
/// which has no device-mapper), and PBKDF2 at cryptsetup's minimum of 1000 iterations: the key
/// is 32 random-looking bytes from HKDF, not a password, so a slow password hash would add time
/// and no strength. The key comes on stdin.
pub(crate) fn format_args(device: &str, authenticated: bool) -> Vec<&str> {
    let mut args = vec![
        "luksFormat",
        "--batch-mode",
        "--type",
        "luks2",
        "--cipher",
        crate::protection::CIPHER,
    ];
    if authenticated {
        args.extend(["--integrity", "hmac-sha256"]);
    }
    args.extend([
        "--sector-size",
        "4096",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--label",
        LABEL_FORMATTING,
        "--key-file",
        "-",
        device,
    ]);
    args
}

/// cryptsetup's exit status for a passphrase that opens no keyslot.
const WRONG_KEY_STATUS: i32 = 2;

/// Observes `volume` on this machine: its first bytes, its mapping and its mount.
///
/// # Errors
/// The device or the kernel's tables cannot be read.
pub fn observe(volume: &Volume) -> Result<Observed, Error> {
    let (header, zeroed) = read_start(&volume.device)?;
    let mapper = volume.name.mapper_name();
    let (mapping, mapper_dev) = match find_mapping(&mapper)? {
        None => (Mapping::Absent, None),
        Some(dm) => {
            let leaf = leaf_device(&dm)?;
            let device = device_number(&volume.device)?;
            let dm_uuid = read_trimmed(&dm.join("dm/uuid"))?;
            let mapper_dev = read_trimmed(&dm.join("dev"))?;
            let mapping = Mapping::Active {
                over_device: !device.is_empty() && leaf == device,
                dm_uuid,
            };
            (mapping, Some(mapper_dev))
        }
    };
    let mounted = match mapper_dev {
        Some(dev) => top_mount_is(&volume.mount_dir, &dev)?,
        None => false,
    };
    Ok(Observed {
        header,
        zeroed,
        mapping,
        mounted,
        leftovers: leftovers(&volume.device)?,
    })
}

/// Reads the header and whether the first [`ZERO_CHECK_LEN`] bytes are zero (a device or file).
pub(crate) fn read_start(device: &Path) -> Result<(luks::Header, bool), Error> {
    let what = || format!("reading the start of {}", device.display());
    let file = File::open(device).map_err(|source| Error::Io {
        what: what(),
        source,
    })?;
    let mut start = Vec::new();
    file.take(ZERO_CHECK_LEN)
        .read_to_end(&mut start)
        .map_err(|source| Error::Io {
            what: what(),
            source,
        })?;
    let header = luks::read_header(start.get(..HEADER_LEN).unwrap_or(&start));
    let zeroed = start.iter().all(|&b| b == 0);
    Ok((header, zeroed))
}

/// The real tools: cryptsetup, mkfs.ext4 and mount(2), logged by the caller.
#[derive(Debug, Default)]
pub struct System;

impl Tools for System {
    fn close_leftovers(&mut self, _: &Volume, names: &[String]) -> Result<(), Error> {
        for name in names {
            cryptsetup(&["close", name], None).and_then(expect_success)?;
        }
        Ok(())
    }

    fn format(&mut self, volume: &Volume, key: &VolumeKey) -> Result<(), Error> {
        let args = format_args(path_str(&volume.device)?, true);
        cryptsetup(&args, Some(key)).and_then(expect_success)
    }

    fn open(&mut self, volume: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error> {
        let mapper = volume.name.mapper_name();
        let args = [
            "open",
            "--type",
            "luks2",
            "--key-file",
            "-",
            path_str(&volume.device)?,
            &mapper,
        ];
        cryptsetup(&args, Some(key)).and_then(key_check)
    }

    fn check_key(&mut self, volume: &Volume, key: &VolumeKey) -> Result<KeyCheck, Error> {
        check_key(&volume.device, key)
    }

    fn protection(&mut self, volume: &Volume) -> Result<Protection, Error> {
        let name = volume.name.mapper_name();
        cryptsetup_output(&["status", &name]).map(|text| Protection::parse(&text))
    }

    fn authenticated(&self) -> bool {
        true
    }

    fn file_system(&mut self, volume: &Volume) -> Result<FileSystem, Error> {
        let mapper = volume.mapper_device();
        let mut file = File::open(&mapper).map_err(|source| Error::Io {
            what: format!("opening {}", mapper.display()),
            source,
        })?;
        let mut start = vec![0; EXT4_PROBE_LEN];
        Ok(match file.read_exact(&mut start) {
            Ok(()) if luks::has_ext4_magic(&start) => FileSystem::Found,
            Ok(()) => FileSystem::Absent,
            Err(_) => FileSystem::Unreadable,
        })
    }

    fn wipe(&mut self, volume: &Volume) -> Result<(), Error> {
        let mapper = volume.mapper_device();
        let io = |source| Error::Io {
            what: format!("writing zeros to {}", mapper.display()),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .open(&mapper)
            .map_err(io)?;
        let size = file.seek(SeekFrom::End(0)).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let zeros = vec![0; 1 << 20];
        let mut left = size;
        while left > 0 {
            let chunk = usize::try_from(left.min(1 << 20)).unwrap_or(1 << 20);
            file.write_all(zeros.get(..chunk).unwrap_or(&zeros))
                .map_err(io)?;
            left = left.saturating_sub(chunk as u64);
        }
        file.sync_all().map_err(io)
    }

    fn make_file_system(&mut self, volume: &Volume) -> Result<(), Error> {
        let mapper = volume.mapper_device();
        let args = [
            "-q",
            "-F",
            "-t",
            "ext4",
            "-E",
            "nodiscard",
            path_str(&mapper)?,
        ];
        run("mkfs.ext4", &args, None).and_then(expect_success)
    }

    fn mark_ready(&mut self, volume: &Volume) -> Result<(), Error> {
        relabel_ready(&volume.device)
    }

    fn mount(&mut self, volume: &Volume) -> Result<(), Error> {
        use rustix::mount::{MountFlags, mount};
        let io = |source| Error::Io {
            what: format!("mounting at {}", volume.mount_dir.display()),
            source,
        };
        fs::create_dir_all(&volume.mount_dir).map_err(io)?;
        mount(
            volume.mapper_device().as_path(),
            volume.mount_dir.as_path(),
            "ext4",
            MountFlags::NOSUID | MountFlags::NODEV,
            None,
        )
        .map_err(|errno| io(errno.into()))
    }
}

/// The name cryptsetup gives the mappings it makes while it formats.
const TEMPORARY_PREFIX: &str = "temporary-cryptsetup-";

/// The top temporary mappings (no holders) over `device`: what a killed `luksFormat` leaves.
fn leftovers(device: &Path) -> Result<Vec<String>, Error> {
    let device = device_number(device)?;
    if device.is_empty() {
        return Ok(Vec::new());
    }
    let entries = fs::read_dir("/sys/block").map_err(|source| Error::Io {
        what: "listing /sys/block".to_owned(),
        source,
    })?;
    let mut names = Vec::new();
    for dir in entries.flatten().map(|entry| entry.path()) {
        let Ok(name) = read_trimmed(&dir.join("dm/name")) else {
            continue;
        };
        let unheld = fs::read_dir(dir.join("holders")).is_ok_and(|mut h| h.next().is_none());
        if name.starts_with(TEMPORARY_PREFIX) && unheld && leaf_device(&dir)? == device {
            names.push(name);
        }
    }
    Ok(names)
}

/// `cryptsetup open --test-passphrase`: whether the key opens the header's keyslot.
pub(crate) fn check_key(device: &Path, key: &VolumeKey) -> Result<KeyCheck, Error> {
    let args = [
        "open",
        "--test-passphrase",
        "--key-file",
        "-",
        path_str(device)?,
    ];
    cryptsetup(&args, Some(key)).and_then(key_check)
}

/// `cryptsetup config --label chiaro:ready`.
pub(crate) fn relabel_ready(device: &Path) -> Result<(), Error> {
    let args = ["config", "--label", LABEL_READY, path_str(device)?];
    cryptsetup(&args, None).and_then(expect_success)
}

/// A finished command: its status and what it said.
pub(crate) struct Ran {
    command: String,
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// `cryptsetup ARGS` (no key) and what it printed, when it succeeds.
pub(crate) fn cryptsetup_output(args: &[&str]) -> Result<String, Error> {
    let ran = cryptsetup(args, None)?;
    let stdout = ran.stdout.clone();
    expect_success(ran).map(|()| stdout)
}

/// `cryptsetup ARGS`, without its lock files: the owner runs one cryptsetup at a time, and
/// its container's root (where `/run/cryptsetup` would be) is read-only.
pub(crate) fn cryptsetup(args: &[&str], key: Option<&VolumeKey>) -> Result<Ran, Error> {
    let mut with_flags = vec!["--disable-locks"];
    with_flags.extend_from_slice(args);
    run("cryptsetup", &with_flags, key)
}

/// Runs `program` with `args`, the key (if any) on stdin; udev is not asked to make the
/// device nodes (a guest container has none: libdevmapper makes them).
fn run(program: &str, args: &[&str], key: Option<&VolumeKey>) -> Result<Ran, Error> {
    let command = format!("{program} {}", args.join(" "));
    let io = |source| Error::Io {
        what: format!("running {command}"),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .env("DM_DISABLE_UDEV", "1")
        .stdin(if key.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let (Some(key), Some(mut stdin)) = (key, child.stdin.take()) {
        stdin.write_all(key.as_bytes()).map_err(io)?;
    }
    let output = child.wait_with_output().map_err(io)?;
    Ok(Ran {
        command,
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

pub(crate) fn expect_success(ran: Ran) -> Result<(), Error> {
    if ran.status.success() {
        Ok(())
    } else {
        Err(failure(ran))
    }
}

fn key_check(ran: Ran) -> Result<KeyCheck, Error> {
    match ran.status.code() {
        Some(0) => Ok(KeyCheck::Opens),
        Some(WRONG_KEY_STATUS) => Ok(KeyCheck::Wrong),
        _ => Err(failure(ran)),
    }
}

fn failure(ran: Ran) -> Error {
    Error::Tool {
        command: ran.command,
        detail: format!("{}: {}", ran.status, ran.stderr),
    }
}

pub(crate) fn path_str(path: &Path) -> Result<&str, Error> {
    path.to_str().ok_or_else(|| Error::Io {
        what: format!("{} is not UTF-8", path.display()),
        source: io::ErrorKind::InvalidInput.into(),
    })
}

/// `/sys/block/dm-N` of the mapping named `mapper`, if active.
fn find_mapping(mapper: &str) -> Result<Option<PathBuf>, Error> {
    let entries = fs::read_dir("/sys/block").map_err(|source| Error::Io {
        what: "listing /sys/block".to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let dir = entry.path();
        if fs::read_to_string(dir.join("dm/name")).is_ok_and(|name| name.trim() == mapper) {
            return Ok(Some(dir));
        }
    }
    Ok(None)
}

/// The `MAJOR:MINOR` of the device at the bottom of a mapping's stack (through dm-integrity's
/// `_dif` mapping to the disk); empty for a stack over more than one device.
fn leaf_device(dm: &Path) -> Result<String, Error> {
    let mut dir = dm.to_path_buf();
    for _ in 0..8 {
        let slaves: Vec<PathBuf> = fs::read_dir(dir.join("slaves"))
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        match slaves.as_slice() {
            [] => return read_trimmed(&dir.join("dev")),
            [only] => {
                dir = fs::canonicalize(only).map_err(|source| Error::Io {
                    what: format!("following {}", only.display()),
                    source,
                })?;
            }
            _ => break,
        }
    }
    Ok(String::new())
}

/// The `MAJOR:MINOR` of a block device node (empty for anything else, which no mapping is
/// over).
fn device_number(device: &Path) -> Result<String, Error> {
    let meta = fs::metadata(device).map_err(|source| Error::Io {
        what: format!("reading {}", device.display()),
        source,
    })?;
    if !meta.file_type().is_block_device() {
        return Ok(String::new());
    }
    let rdev = meta.rdev();
    Ok(format!(
        "{}:{}",
        rustix::fs::major(rdev),
        rustix::fs::minor(rdev)
    ))
}

/// Whether the top mount at `dir` is of the device `dev` (`MAJOR:MINOR`), from
/// `/proc/self/mountinfo` (field 3: the device, field 5: the mount point).
fn top_mount_is(dir: &Path, dev: &str) -> Result<bool, Error> {
    let table = fs::read_to_string("/proc/self/mountinfo").map_err(|source| Error::Io {
        what: "reading /proc/self/mountinfo".to_owned(),
        source,
    })?;
    let dir = dir.to_str().unwrap_or("");
    let top = table.lines().rev().find_map(|line| {
        let mut fields = line.split(' ').skip(2);
        let device = fields.next()?;
        let mount_point = fields.nth(1)?;
        (mount_point == dir).then_some(device)
    });
    Ok(top == Some(dev))
}

fn read_trimmed(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|source| Error::Io {
            what: format!("reading {}", path.display()),
            source,
        })
}
