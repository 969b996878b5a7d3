//! The volume owner on a real kernel: each test boots a qemu VM (Debian's kernel, an initramfs
//! with `chiaro-volume`, cryptsetup, mkfs.ext4 and busybox) with a disk image the test keeps
//! between boots, and plays the host: it edits the image between boots, swaps workload
//! secrets, kills the owner in the middle of its work. The init scripts print marker lines on
//! the serial console; the tests read them once the VM powered off. Each boot prints its time
//! (and the first test the first-time setup's) to stderr.

#![expect(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test helpers fail loudly and report the times measured"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use chiaro_pod::VolumeName;
use chiaro_test_support::vm::{Boot, Initramfs, Kernel, Vm, which};
use chiaro_volume::luks::{self, Header, LABEL_READY};
use chiaro_volume::{KeyContext, WorkloadSecret, volume_key};

/// The disk: small, so software emulation stays fast.
const DISK_BYTES: u64 = 64 << 20;
/// One boot's bound (software emulation formats 64 MiB with dm-integrity in a few seconds).
const DEADLINE: Duration = Duration::from_secs(180);
const SECRET_A: [u8; 32] = [0xa1; 32];
const SECRET_B: [u8; 32] = [0xb2; 32];

/// The shell functions every scenario uses: the pod's layout (the disk at
/// /dev/chiaro-volumes/data, the mount point, the credentials), starting the owner in a session
/// of its own (so `kill -9 -PID` kills it with the cryptsetup it runs, as a container's end
/// would), and waiting for its ready file or its exit.
const OWNER: &str = r#"
mkdir -p /dev/chiaro-volumes /chiaro-volumes/data
ln -s /dev/vda /dev/chiaro-volumes/data
READY=/chiaro/volumes/data.ready
start_owner() {
  rm -f "$READY"
  setsid /sbin/chiaro-volume --volume data --credentials /chiaro &
  OWNER=$!
}
wait_owner() {
  while [ ! -f "$READY" ] && kill -0 "$OWNER" 2>/dev/null; do sleep 0.05; done
  if [ -f "$READY" ]; then
    echo "OWNER ready $(cut -d' ' -f1 /proc/uptime)"
  else
    wait "$OWNER"
    echo "OWNER exited $?"
  fi
}
kill_owner() {
  kill -9 -"$OWNER"
  wait "$OWNER" 2>/dev/null
  echo "OWNER killed"
}
label() {
  echo "LABEL $(dd if=/dev/vda bs=4096 count=1 iflag=direct 2>/dev/null | dd bs=1 skip=24 count=48 2>/dev/null | tr -d '\0')"
}
"#;

/// Writes 4 MiB of a known pattern through the mount, and prints its hash.
const WRITE_DATA: &str = r#"
i=0; while [ $i -lt 65536 ]; do echo "chiaro data line $i -----------------------------------"; i=$((i+1)); done > /chiaro-volumes/data/file
sync
echo "WROTE $(sha256sum /chiaro-volumes/data/file | cut -d' ' -f1)"
"#;

/// Reads the file back: its hash, or the read's failure.
const READ_DATA: &str = r#"
if sum=$(sha256sum /chiaro-volumes/data/file 2>/tmp/read-error); then
  echo "READ $sum" | cut -d' ' -f1-2
else
  echo "READ failed: $(cat /tmp/read-error)"
fi
"#;

/// The base initramfs, assembled once per test process.
fn guest() -> &'static (Kernel, Initramfs) {
    static GUEST: OnceLock<(Kernel, Initramfs)> = OnceLock::new();
    GUEST.get_or_init(|| {
        let kernel = Kernel::debian();
        let owner = PathBuf::from(env!("CARGO_BIN_EXE_chiaro-volume"));
        let cryptsetup = which("cryptsetup");
        let mke2fs = which("mke2fs");
        let programs: [(&Path, &str); 4] = [
            (&owner, "chiaro-volume"),
            (&cryptsetup, "cryptsetup"),
            (&mke2fs, "mkfs.ext4"),
            (&mke2fs, "mke2fs"),
        ];
        let modules = [
            "virtio_pci",
            "virtio_blk",
            "dm-mod",
            "dm-crypt",
            "dm-integrity",
            "xts",
            "ecb",
            "authenc",
            "crc32c_generic",
            "ext4",
        ];
        let base = Initramfs::base(&kernel, &programs, &modules);
        (kernel, base)
    })
}

/// A scratch directory of this test, with a zeroed disk image.
fn scratch(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("chiaro-volume-vm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let disk = dir.join("disk.img");
    let file = std::fs::File::create(&disk).unwrap();
    file.set_len(DISK_BYTES).unwrap();
    (dir, disk)
}

/// Boots once with `secret` as the workload secret and `script` after the owner's functions.
fn boot(dir: &Path, disk: &Path, secret: &[u8; 32], script: &str) -> Boot {
    let (kernel, base) = guest();
    let mut image = base.clone();
    image.add_file(
        "chiaro/secrets/workload-secret-seed",
        0o600,
        hex::encode(secret).into_bytes(),
    );
    let vm = Vm {
        kernel,
        disks: vec![disk.to_path_buf()],
        deadline: DEADLINE,
    };
    let boot = vm.boot(&image.with_init(&format!("{OWNER}{script}")), dir);
    eprintln!(
        "boot: {:.1} s wall ({}), script {:.1} s",
        boot.wall.as_secs_f64(),
        boot.accel,
        boot.script_seconds()
    );
    boot
}

fn header(disk: &Path) -> Header {
    let bytes = std::fs::read(disk).unwrap();
    luks::read_header(&bytes[..luks::HEADER_LEN])
}

fn sha256(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn formatted(boot: &Boot) -> bool {
    boot.says("first use: formatting") || boot.says("making the ext4 file system")
}

/// Boot 1 formats a fresh disk, mounts it and writes a file; returns the file's hash.
fn first_start_with_data(dir: &Path, disk: &Path) -> (Boot, String) {
    let first = boot(
        dir,
        disk,
        &SECRET_A,
        &format!("start_owner\nwait_owner\n{WRITE_DATA}label\n"),
    );
    assert!(first.value("OWNER").starts_with("ready"), "{}", first.log());
    assert!(formatted(&first), "{}", first.log());
    let written = first.value("WROTE");
    assert_eq!(first.value("LABEL"), LABEL_READY, "{}", first.log());
    (first, written)
}

#[test]
fn needs_vm_first_start_formats_and_mounts_then_the_data_reads_back_after_a_reboot() {
    let (dir, disk) = scratch("reboot");
    let (first, written) = first_start_with_data(&dir, &disk);
    let uptime = |boot: &Boot, marker: &str| {
        boot.value(marker)
            .split_whitespace()
            .last()
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    eprintln!(
        "first-time setup of {} MiB: {:.1} s (guest uptime {:.1} s at start, ready at {:.1} s)",
        DISK_BYTES >> 20,
        uptime(&first, "OWNER") - uptime(&first, "CHIARO-VM-START"),
        uptime(&first, "CHIARO-VM-START"),
        uptime(&first, "OWNER"),
    );
    let Header::Luks2 { label, uuid } = header(&disk) else {
        panic!("no LUKS2 header after setup");
    };
    assert_eq!(label, LABEL_READY);

    let second = boot(
        &dir,
        &disk,
        &SECRET_A,
        &format!("start_owner\nwait_owner\n{READ_DATA}"),
    );
    assert!(
        second.value("OWNER").starts_with("ready"),
        "{}",
        second.log()
    );
    assert!(
        !formatted(&second),
        "a ready volume is never formatted:\n{}",
        second.log()
    );
    assert!(second.says("opening with the workload's key"));
    assert_eq!(second.value("READ"), written, "{}", second.log());
    assert_eq!(
        header(&disk),
        Header::Luks2 {
            label: LABEL_READY.to_owned(),
            uuid
        }
    );
    eprintln!(
        "second start (open, no format): {:.1} s",
        uptime(&second, "OWNER") - uptime(&second, "CHIARO-VM-START")
    );
}

#[test]
fn needs_vm_blocks_changed_from_outside_between_two_boots_make_reads_fail() {
    let (dir, disk) = scratch("tamper");
    let (_, written) = first_start_with_data(&dir, &disk);
    let before = header(&disk);
    // The host flips one byte in every 64 KiB of the data area past the file system's first
    // 8 MiB (its superblock and metadata stay intact, the file's blocks do not).
    let mut bytes = std::fs::read(&disk).unwrap();
    let start = (16 << 20) + (8 << 20);
    for offset in (start..bytes.len()).step_by(64 << 10) {
        bytes[offset] ^= 0x01;
    }
    std::fs::write(&disk, &bytes).unwrap();
    let tampered = sha256(&disk);

    let second = boot(
        &dir,
        &disk,
        &SECRET_A,
        &format!(
            "start_owner\nwait_owner\nif [ -f \"$READY\" ]; then {READ_DATA} fi\n\
             echo \"KERNEL $(dmesg | grep -E -m1 'INTEGRITY AEAD ERROR|Checksum failed')\"\n"
        ),
    );
    assert!(!formatted(&second), "never reformatted:\n{}", second.log());
    let owner = second.value("OWNER");
    if owner.starts_with("ready") {
        let read = second.value("READ");
        assert_ne!(
            read,
            written,
            "the original contents came back:\n{}",
            second.log()
        );
        assert!(
            read.starts_with("failed") && read.contains("Input/output error"),
            "the read must fail with an I/O error, never return altered data:\n{}",
            second.log()
        );
    } else {
        assert!(
            second.says("refusing to format it") || second.says("Input/output error"),
            "{}",
            second.log()
        );
    }
    let kernel = second.value("KERNEL");
    assert!(
        !kernel.is_empty(),
        "the kernel reports the failed integrity check:\n{}",
        second.log()
    );
    assert_eq!(header(&disk), before);
    eprintln!("after tampering: {owner}; the kernel: {kernel}; image hash {tampered}");
}

#[test]
fn needs_vm_a_wrong_key_is_refused_and_the_device_left_unformatted() {
    let (dir, disk) = scratch("wrong-key");
    let (_, written) = first_start_with_data(&dir, &disk);
    let before = sha256(&disk);

    let other = boot(&dir, &disk, &SECRET_B, "start_owner\nwait_owner\nlabel\n");
    assert_eq!(other.value("OWNER"), "exited 1", "{}", other.log());
    assert!(
        other.says(
            "volume data on /dev/chiaro-volumes/data: cannot be opened with this workload's key"
        ),
        "{}",
        other.log()
    );
    assert!(!formatted(&other), "{}", other.log());
    assert_eq!(sha256(&disk), before, "not one byte of the device changed");

    let right = boot(
        &dir,
        &disk,
        &SECRET_A,
        &format!("start_owner\nwait_owner\n{READ_DATA}"),
    );
    assert!(right.value("OWNER").starts_with("ready"), "{}", right.log());
    assert_eq!(right.value("READ"), written, "{}", right.log());
}

#[test]
fn needs_vm_a_kill_during_first_time_setup_is_completed_by_the_next_start_without_data_loss() {
    let (dir, disk) = scratch("kill");
    // Killed while luksFormat wipes the device through its temporary dm-integrity mapping
    // (once the header is on the device; the keyslot is written before the wipe): labelled
    // chiaro:formatting, tags unwritten, the temporary mapping left. The next start, in the same
    // VM as a container restart is, closes it and finishes; killed again while it makes the
    // file system, the start after that reuses its mapping and finishes.
    let first = boot(
        &dir,
        &disk,
        &SECRET_A,
        &format!(
            r#"
wiping() {{
  dd if=/dev/vda bs=4096 count=1 iflag=direct 2>/dev/null | grep -q LUKS &&
    ls /dev/mapper | grep -q temporary-cryptsetup
}}
start_owner
until wiping || ! kill -0 "$OWNER"; do sleep 0.01; done
kill_owner
label
start_owner
until pidof mkfs.ext4 >/dev/null || ! kill -0 "$OWNER"; do sleep 0.01; done
kill_owner
label
start_owner
wait_owner
{WRITE_DATA}label
"#
        ),
    );
    assert_eq!(
        first.values("LABEL"),
        ["chiaro:formatting", "chiaro:formatting", LABEL_READY],
        "{}",
        first.log()
    );
    assert_eq!(
        first
            .values("OWNER")
            .last()
            .map(String::as_str)
            .map(|o| o.starts_with("ready")),
        Some(true),
        "{}",
        first.log()
    );
    assert!(
        first.says("closing the temporary mappings of an interrupted format"),
        "{}",
        first.log()
    );
    assert!(
        first.says("writing zeros through the mapping"),
        "{}",
        first.log()
    );
    assert!(first.says("keeping the active mapping"), "{}", first.log());
    let written = first.value("WROTE");

    // A later start of the volume holding data, killed once its mapping is open: nothing is
    // lost, the start after it mounts the same data.
    let later = boot(
        &dir,
        &disk,
        &SECRET_A,
        &format!(
            r#"
start_owner
until [ -e /dev/mapper/chiaro-data ] || ! kill -0 "$OWNER"; do sleep 0.01; done
kill_owner
start_owner
wait_owner
{READ_DATA}"#
        ),
    );
    assert!(!formatted(&later), "{}", later.log());
    assert!(!later.says("writing zeros"), "{}", later.log());
    assert_eq!(later.value("READ"), written, "{}", later.log());
}

#[test]
fn needs_vm_a_restarted_owner_keeps_the_mapping_and_the_mount() {
    let (dir, disk) = scratch("restart");
    let restarted = boot(
        &dir,
        &disk,
        &SECRET_A,
        &format!(
            r#"
start_owner
wait_owner
{WRITE_DATA}
kill_owner
echo "AFTER-KILL"
{READ_DATA}
start_owner
wait_owner
echo "READY-FILE $(cat "$READY")"
"#
        ),
    );
    let written = restarted.value("WROTE");
    assert_eq!(
        restarted.value("READ"),
        written,
        "readable while the owner is gone"
    );
    assert_eq!(restarted.values("OWNER").len(), 3, "{}", restarted.log());
    let after_kill = restarted.log();
    let after_kill = after_kill.split("AFTER-KILL").nth(1).unwrap();
    assert!(
        after_kill.contains("keeping the active mapping"),
        "{after_kill}"
    );
    assert!(
        after_kill.contains("already mounted: keeping the mount"),
        "{after_kill}"
    );
    assert!(!after_kill.contains("formatting") && !after_kill.contains("making the ext4"));
    assert_eq!(restarted.value("READY-FILE"), "/chiaro-volumes/data");
}

#[test]
fn needs_vm_a_restarted_owner_given_another_device_under_its_mapping_refuses_it() {
    let (dir, disk) = scratch("swapped");
    let other = dir.join("other.img");
    std::fs::File::create(&other)
        .unwrap()
        .set_len(DISK_BYTES)
        .unwrap();
    let (kernel, base) = guest();
    let mut image = base.clone();
    image.add_file(
        "chiaro/secrets/workload-secret-seed",
        0o600,
        hex::encode(SECRET_A).into_bytes(),
    );
    // Set up on vda, then the device node points at vdb (a fresh disk) when the owner restarts.
    let script = format!(
        r#"{OWNER}
start_owner
wait_owner
kill_owner
ln -sf /dev/vdb /dev/chiaro-volumes/data
start_owner
wait_owner
"#
    );
    let vm = Vm {
        kernel,
        disks: vec![disk, other.clone()],
        deadline: DEADLINE,
    };
    let swapped = vm.boot(&image.with_init(&script), &dir);
    let owner = swapped.values("OWNER");
    assert_eq!(owner.len(), 3, "{}", swapped.log());
    assert!(owner[0].starts_with("ready"), "{}", swapped.log());
    assert_eq!(owner[1..], ["killed", "exited 1"], "{}", swapped.log());
    assert!(
        swapped.says("its mapping is active over another device; refusing to reuse it"),
        "{}",
        swapped.log()
    );
    assert!(
        std::fs::read(&other).unwrap().iter().all(|&b| b == 0),
        "the other disk is untouched"
    );
}

#[test]
fn needs_vm_the_header_written_in_the_vm_is_read_by_cryptsetup_luksdump_and_opens_with_the_derived_key()
 {
    let (dir, disk) = scratch("luksdump");
    let setup = boot(&dir, &disk, &SECRET_A, "start_owner\nwait_owner\n");
    assert!(setup.value("OWNER").starts_with("ready"), "{}", setup.log());
    let dump = Command::new("cryptsetup")
        .arg("luksDump")
        .arg(&disk)
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    for line in [
        "Version:       \t2",
        "Label:         \tchiaro:ready",
        "hmac(sha256)",
        "aes-xts-plain64",
        "sector: 4096",
        "PBKDF:      pbkdf2",
    ] {
        assert!(dump.contains(line), "{line:?} not in:\n{dump}");
    }
    assert_eq!(
        test_passphrase(&disk, &SECRET_A),
        Some(0),
        "the derived key opens it"
    );
    assert_eq!(
        test_passphrase(&disk, &SECRET_B),
        Some(2),
        "another secret's key does not"
    );
}

/// The host rewrites the header so the data segment is `cipher_null` without integrity while
/// the keyslot still opens with the volume's key (here: a header made so in the VM, labelled
/// ready, as the owner would find the rewritten one). The owner refuses it once opened, before
/// it reads, formats or mounts anything.
#[test]
fn needs_vm_attack_a_header_rewritten_to_cipher_null_is_refused() {
    let (dir, disk) = scratch("cipher-null");
    let key: String = derived_key(&SECRET_A)
        .iter()
        .map(|byte| format!("\\x{byte:02x}"))
        .collect();
    let script = format!(
        "printf '{key}' > /tmp/key\n\
         cryptsetup luksFormat --batch-mode --type luks2 --cipher cipher_null-ecb --key-size 256 \
         --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label chiaro:ready --key-file /tmp/key \
         /dev/vda && echo 'NULL made'\n\
         start_owner\nwait_owner\n"
    );
    let attacked = boot(&dir, &disk, &SECRET_A, &script);
    assert_eq!(attacked.value("NULL"), "made", "{}", attacked.log());
    assert_eq!(attacked.value("OWNER"), "exited 1", "{}", attacked.log());
    assert!(
        attacked.says("opens, but its mapping uses cipher cipher_null-ecb"),
        "{}",
        attacked.log()
    );
    assert!(
        !formatted(&attacked) && !attacked.says(": mounting"),
        "{}",
        attacked.log()
    );
}

/// `secret`'s key for the volume `data`, as the owner derives it.
fn derived_key(secret: &[u8; 32]) -> [u8; 32] {
    let secret = WorkloadSecret::from_hex(&hex::encode(secret)).unwrap();
    let key = volume_key(
        &secret,
        &KeyContext {
            volume: VolumeName::parse("data").unwrap(),
            replica: None,
        },
    );
    *key.as_bytes()
}

/// `cryptsetup open --test-passphrase` on the image with `secret`'s key for `data`.
fn test_passphrase(disk: &Path, secret: &[u8; 32]) -> Option<i32> {
    let secret = WorkloadSecret::from_hex(&hex::encode(secret)).unwrap();
    let key = volume_key(
        &secret,
        &KeyContext {
            volume: VolumeName::parse("data").unwrap(),
            replica: None,
        },
    );
    let mut child = Command::new("cryptsetup")
        .args(["open", "--test-passphrase", "--key-file", "-"])
        .arg(disk)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key.as_bytes())
        .unwrap();
    child.wait().unwrap().code()
}
