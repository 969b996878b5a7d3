//! The INSECURE file stand-in of local mode on this machine (no VM, no device-mapper): the
//! real binary, the real cryptsetup on a regular file, the real header and key logic.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use chiaro_test_support::prerequisite::Prerequisite;
use chiaro_volume::luks::{self, Header, LABEL_READY};

const SECRET_A: [u8; 32] = [0xa1; 32];
const SECRET_B: [u8; 32] = [0xb2; 32];

/// A pod's directories for the stand-in: the volumes' files, their plain directories, the
/// credentials.
struct Pod {
    devices: PathBuf,
    mounts: PathBuf,
    credentials: PathBuf,
}

impl Pod {
    /// A fresh pod with one zeroed 32 MiB volume file `data`.
    fn new(name: &str) -> Self {
        Prerequisite::Cryptsetup.require();
        let dir = std::env::temp_dir().join(format!(
            "chiaro-volume-stand-in-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let pod = Self {
            devices: dir.join("devices"),
            mounts: dir.join("mounts"),
            credentials: dir.join("credentials"),
        };
        std::fs::create_dir_all(&pod.devices).unwrap();
        std::fs::create_dir_all(pod.credentials.join("secrets")).unwrap();
        std::fs::File::create(pod.device())
            .unwrap()
            .set_len(32 << 20)
            .unwrap();
        pod
    }

    fn device(&self) -> PathBuf {
        self.devices.join("data")
    }

    /// Runs the owner with `secret` (and `replica` as the pod's name, per replica) until it
    /// says every volume is ready or exits; returns its log and how it ended.
    fn run(&self, secret: &[u8; 32], replica: Option<&str>) -> (String, ExitStatus) {
        std::fs::write(
            self.credentials.join("secrets/workload-secret-seed"),
            hex::encode(secret),
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_chiaro-volume"));
        command
            .args(["--volume", "data", "--insecure-file-stand-in"])
            .arg("--credentials")
            .arg(&self.credentials)
            .arg("--device-dir")
            .arg(&self.devices)
            .arg("--mount-root")
            .arg(&self.mounts)
            .env_remove(chiaro_pod::env::POD_NAME);
        if let Some(replica) = replica {
            command
                .arg("--per-replica")
                .env(chiaro_pod::env::POD_NAME, replica);
        }
        let mut owner = command.stderr(Stdio::piped()).spawn().unwrap();
        // The owner stays up once every volume is ready: read its log up to that line.
        let mut log = String::new();
        let stderr = std::io::BufReader::new(owner.stderr.take().unwrap());
        for line in stderr.lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
            if line.contains("every volume is ready") {
                break;
            }
        }
        let _ = owner.kill();
        (log, owner.wait().unwrap())
    }
}

fn header(device: &Path) -> Header {
    let bytes = std::fs::read(device).unwrap();
    luks::read_header(&bytes[..luks::HEADER_LEN])
}

fn bytes(device: &Path) -> Vec<u8> {
    std::fs::read(device).unwrap()
}

#[test]
fn needs_cryptsetup_the_insecure_file_stand_in_formats_a_fresh_file_refuses_a_wrong_key_and_says_insecure()
 {
    let pod = Pod::new("fresh");
    let (first, _) = pod.run(&SECRET_A, None);
    assert!(first.contains("INSECURE file stand-in"), "{first}");
    assert!(first.contains("the data is not encrypted"), "{first}");
    assert!(first.contains("first use: formatting"), "{first}");
    assert!(first.contains("every volume is ready"), "{first}");
    assert_eq!(
        std::fs::read_to_string(pod.credentials.join("volumes/data.ready")).unwrap(),
        format!("{}\n", pod.mounts.join("data").display())
    );
    assert!(pod.mounts.join("data").is_dir());
    assert!(matches!(header(&pod.device()), Header::Luks2 { label, .. } if label == LABEL_READY));
    let before = bytes(&pod.device());

    let (wrong, status) = pod.run(&SECRET_B, None);
    assert_eq!(status.code(), Some(1), "{wrong}");
    assert!(
        wrong.contains("cannot be opened with this workload's key"),
        "{wrong}"
    );
    assert!(!wrong.contains("formatting"), "{wrong}");
    assert!(bytes(&pod.device()) == before, "the file is unchanged");
    assert!(
        !pod.credentials.join("volumes/data.ready").exists(),
        "attack: the first start's ready file does not outlive a start that failed, so no \
         workload starts on the bare directory"
    );

    let (again, _) = pod.run(&SECRET_A, None);
    assert!(
        again.contains("every volume is ready") && !again.contains("first use"),
        "{again}"
    );
}

#[test]
fn needs_cryptsetup_one_replica_s_volume_given_to_another_replica_is_refused() {
    let pod = Pod::new("replicas");
    let (first, _) = pod.run(&SECRET_A, Some("db-0"));
    assert!(first.contains("every volume is ready"), "{first}");
    let before = bytes(&pod.device());
    let (swapped, status) = pod.run(&SECRET_A, Some("db-1"));
    assert_eq!(status.code(), Some(1), "{swapped}");
    assert!(
        swapped.contains("cannot be opened with this workload's key"),
        "{swapped}"
    );
    assert!(bytes(&pod.device()) == before, "the file is unchanged");
    let (without, status) = pod.run(&SECRET_A, None);
    assert_eq!(
        status.code(),
        Some(1),
        "a per-replica key is not the shared one: {without}"
    );
    let (back, _) = pod.run(&SECRET_A, Some("db-0"));
    assert!(back.contains("every volume is ready"), "{back}");
}

#[test]
fn needs_cryptsetup_data_that_is_not_a_chiaro_volume_is_never_formatted() {
    let pod = Pod::new("foreign");
    let mut data = bytes(&pod.device());
    data[(4 << 20) + 17] = 1;
    std::fs::write(pod.device(), &data).unwrap();
    let (log, status) = pod.run(&SECRET_A, None);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("holds data that is not a Chiaro volume; refusing to format it"),
        "{log}"
    );
    assert!(bytes(&pod.device()) == data);
}
