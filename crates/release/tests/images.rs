//! Chiaro's images from the real static binaries and the locked Debian packages
//! (`scripts/images --prepare` makes them): the same digests from differently stamped copies
//! of the inputs, pushed and read back by skopeo and by chiaro-registry, and run from their
//! extracted root file systems.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use chiaro_image::BuiltImage;
use chiaro_registry::{ClientOptions, RegistryClient};
use chiaro_release::inputs::{self, Sources};
use chiaro_release::{Component, DebianLock, Stamp, output};
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use chiaro_test_support::prerequisite::{self, Prerequisite};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn lock() -> DebianLock {
    DebianLock::parse(
        "images/debian.lock",
        include_str!("../../../images/debian.lock"),
    )
    .unwrap()
}

fn stamp() -> Stamp {
    Stamp {
        version: VERSION.to_owned(),
        revision: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        source: Some("https://example.org/chiaro".to_owned()),
        epoch: 1_796_163_777,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-images-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The prepared inputs, as `scripts/images` leaves them.
fn prepared(scratch_dir: &Path) -> Sources {
    Prerequisite::Images.require();
    Sources {
        binaries: prerequisite::image_binaries_dir(),
        debs: prerequisite::image_debs_dir(),
        scratch: scratch_dir.join("debian-root"),
    }
}

/// A copy of `from`'s files in `to`, each with `mode` and modified at `mtime`.
fn copy_stamped(from: &Path, to: &Path, names: &[String], mode: u32, mtime: SystemTime) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(to).unwrap();
    for name in names {
        let target = to.join(name);
        std::fs::copy(from.join(name), &target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
}

fn build(sources: &Sources) -> Vec<(Component, BuiltImage)> {
    let inputs = inputs::read(sources, &lock()).unwrap();
    Component::ALL
        .into_iter()
        .map(|component| {
            (
                component,
                component.spec(&inputs, &stamp()).unwrap().build().unwrap(),
            )
        })
        .collect()
}

fn run(command: &mut Command) -> String {
    let output = command.stderr(Stdio::inherit()).output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", output.status);
    String::from_utf8(output.stdout).unwrap()
}

/// The image's layer extracted into `dir` with tar.
fn extract(image: &BuiltImage, dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let layer = dir.join("layer.tar.gz");
    std::fs::write(&layer, &image.layer).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(&rootfs));
    rootfs
}

#[test]
fn needs_images_images_built_twice_have_the_same_digests() {
    let dir = scratch("twice");
    let sources = prepared(&dir);
    let binaries: Vec<String> = prerequisite::IMAGE_BINARIES
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    let debs: Vec<String> = lock().packages.iter().map(|p| p.file_name()).collect();
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let stamped = |name: &str, mode: u32, mtime: SystemTime| {
        let copy = Sources {
            binaries: dir.join(name).join("bin"),
            debs: dir.join(name).join("debs"),
            scratch: dir.join(name).join("debian-root"),
        };
        copy_stamped(&sources.binaries, &copy.binaries, &binaries, mode, mtime);
        copy_stamped(&sources.debs, &copy.debs, &debs, mode, mtime);
        copy
    };
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let first = build(&stamped("a", 0o700, later));
    let second = build(&stamped("b", 0o755, epoch));
    assert_eq!(first, second, "every blob of every image is the same");
    // The layouts too, and skopeo reads them with the digest the images have.
    for (out, images) in [(dir.join("out-a"), &first), (dir.join("out-b"), &second)] {
        for (component, image) in images {
            let layout = output::write_layout(&out, *component, image, VERSION).unwrap();
            let inspected: serde_json::Value = serde_json::from_str(&run(Command::new("skopeo")
                .arg("inspect")
                .arg(format!("oci:{}:{VERSION}", layout.display()))))
            .unwrap();
            assert_eq!(inspected["Digest"], image.digest().to_string());
        }
    }
    for component in Component::ALL {
        let index = |out: &str| {
            std::fs::read(dir.join(out).join(component.name()).join("index.json")).unwrap()
        };
        assert_eq!(index("out-a"), index("out-b"));
    }
    let mesh = &first[2].1;
    assert!(
        mesh.compressed_size() <= 8 << 20,
        "the mesh image is {} bytes compressed",
        mesh.compressed_size()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn needs_images_needs_registry_pushed_images_are_read_back_by_skopeo_and_the_client() {
    let dir = scratch("pushed");
    let images = build(&prepared(&dir));
    let registry = OciRegistry::start(&Access::Open);
    let client = RegistryClient::new(ClientOptions {
        insecure: [registry.host.clone()].into(),
        ..ClientOptions::default()
    })
    .unwrap();
    for (component, image) in &images {
        let digest = output::push(&client, &registry.host, *component, image, VERSION)
            .await
            .unwrap();
        assert_eq!(digest.to_string(), image.digest().to_string());
        let reference = format!("{}/{}:{VERSION}", registry.host, component.name());
        let inspected: serde_json::Value = serde_json::from_str(&run(Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{reference}"))))
        .unwrap();
        assert_eq!(inspected["Digest"], digest.to_string());
        assert_eq!(inspected["Architecture"], "amd64");
        assert_eq!(inspected["Os"], "linux");
        let labels = &inspected["Labels"];
        assert_eq!(labels["org.opencontainers.image.title"], component.name());
        assert_eq!(labels["org.opencontainers.image.version"], VERSION);
        assert_eq!(
            labels["org.opencontainers.image.revision"],
            stamp().revision
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://example.org/chiaro"
        );
        let resolved = client.resolve(&reference).await.unwrap();
        assert_eq!(resolved.digest, digest);
        let entrypoint = format!("/usr/local/bin/{}", component.name());
        assert_eq!(resolved.config.entrypoint, [entrypoint.as_str()]);
        let user = component.user();
        assert_eq!(resolved.config.user, format!("{}:{}", user.uid, user.gid));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn needs_images_every_binary_runs_from_its_extracted_image() {
    let dir = scratch("run");
    for (component, image) in build(&prepared(&dir)) {
        let rootfs = extract(&image, &dir.join(component.name()));
        let listing = run(Command::new("tar")
            .env("TZ", "UTC")
            .args(["--numeric-owner", "-tvzf"])
            .arg(dir.join(component.name()).join("layer.tar.gz")));
        for line in listing.lines() {
            assert!(line.contains(" 0/0 "), "{line}");
            assert!(line.contains(" 2026-12-01 22:22"), "{line}");
        }
        for binary in component.binaries() {
            let program = rootfs.join("usr/local/bin").join(binary);
            let version = if *binary == "chiaro-start" {
                // The gate has no --version: it runs the initializer beside it.
                let initializer = rootfs.join("usr/local/bin/chiaro-initializer");
                run(Command::new(&program)
                    .arg("--")
                    .arg(initializer)
                    .arg("--version"))
            } else {
                run(Command::new(&program).arg("--version"))
            };
            assert!(version.starts_with("chiaro-"), "{binary}: {version}");
            assert!(version.trim_end().ends_with(VERSION), "{binary}: {version}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A network namespace and a read-only bind mount of the mesh image's root, removed on drop.
struct Sandbox {
    namespace: String,
    readonly: PathBuf,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.readonly).status();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.namespace])
            .status();
    }
}

#[test]
fn needs_images_needs_root_the_mesh_image_installs_the_redirect_with_its_own_iptables() {
    Prerequisite::Root.require();
    let dir = scratch("iptables");
    let images = build(&prepared(&dir));
    let (_, mesh) = images
        .iter()
        .find(|(component, _)| *component == Component::Mesh)
        .unwrap();
    let rootfs = extract(mesh, &dir);
    for program in [
        "iptables",
        "iptables-restore",
        "ip6tables",
        "ip6tables-restore",
    ] {
        let version = run(Command::new("chroot")
            .arg(&rootfs)
            .args([program, "--version"]));
        assert!(
            version.ends_with("v1.8.9 (legacy)\n"),
            "{program}: {version}"
        );
    }
    // As the mesh container has it: a read-only root file system, in its own namespace.
    let sandbox = Sandbox {
        namespace: format!("chiaro-images-{}", std::process::id()),
        readonly: dir.join("readonly"),
    };
    std::fs::create_dir_all(&sandbox.readonly).unwrap();
    run(Command::new("mount")
        .arg("--bind")
        .arg(&rootfs)
        .arg(&sandbox.readonly));
    run(Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&sandbox.readonly));
    run(Command::new("ip").args(["netns", "add", &sandbox.namespace]));
    let rules = chiaro_mesh::redirect::rules(15006, &[15021]);
    for (tables, restore) in [
        ("iptables", "iptables-restore"),
        ("ip6tables", "ip6tables-restore"),
    ] {
        let in_sandbox = |args: &[&str]| {
            let mut command = Command::new("ip");
            command
                .args(["netns", "exec", &sandbox.namespace, "chroot"])
                .arg(&sandbox.readonly)
                .args(args);
            command
        };
        let mut restoring = in_sandbox(&[restore, "--noflush"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut restoring.stdin.take().unwrap(), rules.as_bytes()).unwrap();
        assert!(restoring.wait().unwrap().success(), "{restore}");
        run(&mut in_sandbox(&[
            tables,
            "-t",
            "nat",
            "-I",
            "PREROUTING",
            "-p",
            "tcp",
            "-j",
            chiaro_mesh::redirect::CHAIN,
        ]));
        let listed = run(&mut in_sandbox(&[tables, "-t", "nat", "-S"]));
        assert!(
            listed.contains("-A CHIARO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN\n"),
            "{tables}: {listed}"
        );
        assert!(
            listed.contains("-A CHIARO_INBOUND -p tcp -j REDIRECT --to-ports 15006\n"),
            "{tables}: {listed}"
        );
        assert!(
            listed.contains("-A PREROUTING -p tcp -j CHIARO_INBOUND\n"),
            "{tables}: {listed}"
        );
    }
    drop(sandbox);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn needs_images_the_images_binaries_run_a_whole_local_deployment() {
    // The initializer and the mesh proxy of the images, with local mode's Coordinator from the
    // Coordinator's image: an image whose binary cannot start, attest or proxy fails here.
    let dir = scratch("local");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (component, image) in build(&prepared(&dir)) {
        let rootfs = extract(&image, &dir.join(component.name()));
        for binary in component.binaries() {
            std::os::unix::fs::symlink(rootfs.join("usr/local/bin").join(binary), bin.join(binary))
                .unwrap();
        }
    }
    // `chiaro` itself is the workspace's (scripts/test builds every binary beside this test's).
    let target = std::env::current_exe().unwrap();
    let chiaro = target.parent().unwrap().parent().unwrap().join("chiaro");
    assert!(chiaro.is_file(), "{} is not built", chiaro.display());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto");
    let output = Command::new(&chiaro)
        .args(["--output", "json", "local", "run"])
        .arg(&example)
        .arg("--work-dir")
        .arg(dir.join("work"))
        .args(["--network", "loopback", "--binaries"])
        .arg(&bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["refused_or_failed"], 0, "{stdout}");
    let initialized = report["pods"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|pod| pod["containers"].as_array().unwrap())
        .filter(|container| container["container"] == "chiaro-initializer")
        .count();
    assert_eq!(initialized, 4, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
