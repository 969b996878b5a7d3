//! A qemu VM for tests that need a kernel of their own (device-mapper, mounts): Debian's kernel
//! and modules (extracted by `scripts/test`, [`Prerequisite::Vm`]), an initramfs the test
//! builds (newc cpio, uncompressed: busybox, the programs it names with their shared libraries,
//! the modules it names with their dependencies from `modules.dep`, an `/init` script), raw
//! disk images as virtio drives, and the serial console as the only channel back: the script
//! prints marker lines, the test reads them once the VM powered off.
//!
//! Every boot is bounded: past its deadline the VM is killed and the test fails with the
//! console so far. Acceleration: KVM where `/dev/kvm` opens and the CPU shows `vmx` or `svm`,
//! else software emulation (TCG); `CHIARO_VM_ACCEL=kvm|tcg` decides instead.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::prerequisite::{Prerequisite, vm_kernel_dir};

/// The variable that chooses the accelerator (`kvm` or `tcg`).
pub const ACCEL_ENV: &str = "CHIARO_VM_ACCEL";

/// The line the init script's epilogue prints before powering off.
pub const END_MARKER: &str = "CHIARO-VM-END";

/// What every init script starts with: the kernel's file systems, the modules, a PATH with the
/// programs before busybox's applets.
const PRELUDE: &str = r#"#!/bin/sh
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /etc/modules); do insmod "$module" || echo "CHIARO-VM: insmod $module failed"; done
mkdir -p /run/cryptsetup /tmp
echo "CHIARO-VM-START $(cut -d' ' -f1 /proc/uptime)"
"#;

/// Debian's kernel as `scripts/test` extracted it.
#[derive(Debug, Clone)]
pub struct Kernel {
    image: PathBuf,
    modules: PathBuf,
}

impl Kernel {
    /// The kernel in [`vm_kernel_dir`]. Claims [`Prerequisite::Vm`].
    pub fn debian() -> Self {
        Prerequisite::Vm.require();
        let dir = vm_kernel_dir();
        let image = only_entry(&dir.join("boot"), "vmlinuz-");
        let modules = only_entry(&dir.join("lib/modules"), "");
        Self { image, modules }
    }

    /// The modules `names` need, dependencies first, as paths under the modules directory.
    fn closure(&self, names: &[&str]) -> Vec<String> {
        let dep = std::fs::read_to_string(self.modules.join("modules.dep"))
            .expect("modules.dep (scripts/test makes it with busybox depmod)");
        let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for line in dep.lines() {
            let Some((path, rest)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim_start_matches('/');
            let rest = rest.split_whitespace().map(str::to_owned).collect();
            deps.insert(module_name(path), (path.to_owned(), rest));
        }
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in names {
            visit(&deps, &module_name(name), &mut seen, &mut order);
        }
        order
    }
}

fn visit(
    deps: &BTreeMap<String, (String, Vec<String>)>,
    name: &str,
    seen: &mut BTreeSet<String>,
    order: &mut Vec<String>,
) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    let (path, needs) = deps
        .get(name)
        .unwrap_or_else(|| panic!("module {name} is not in modules.dep"));
    for need in needs {
        visit(deps, &module_name(need), seen, order);
    }
    order.push(path.clone());
}

/// `kernel/drivers/md/dm-mod.ko` → `dm_mod`.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.trim_end_matches(".ko").replace('-', "_")
}

fn only_entry(dir: &Path, prefix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("nothing named {prefix}* in {}", dir.display()))
}

/// An initramfs being assembled: files, symlinks and the directories above them.
#[derive(Debug, Clone, Default)]
pub struct Initramfs {
    files: BTreeMap<String, (u32, Vec<u8>)>,
    links: BTreeMap<String, String>,
}

impl Initramfs {
    /// The base every VM test shares: a static busybox with its applets in `/bin`, the
    /// `programs` (host paths) in `/sbin` with their shared libraries, and the `modules` of
    /// `kernel` with their dependencies, loaded in order by the prelude.
    pub fn base(kernel: &Kernel, programs: &[(&Path, &str)], modules: &[&str]) -> Self {
        let mut image = Self::default();
        let busybox = which("busybox");
        image.add_file("bin/busybox", 0o755, read(&busybox));
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                image.add_link(&format!("bin/{applet}"), "busybox");
            }
        }
        for (program, name) in programs {
            image.add_program(program, &format!("sbin/{name}"));
        }
        let mut order = String::new();
        for module in kernel.closure(modules) {
            let guest = format!("lib/modules/{module}");
            image.add_file(&guest, 0o644, read(&kernel.modules.join(&module)));
            order.push_str(&format!("/{guest}\n"));
        }
        image.add_file("etc/modules", 0o644, order.into_bytes());
        image
    }

    /// Adds a file (the path without its leading `/`).
    pub fn add_file(&mut self, path: &str, mode: u32, content: Vec<u8>) {
        self.files
            .insert(path.trim_start_matches('/').to_owned(), (mode, content));
    }

    /// Adds a symbolic link.
    pub fn add_link(&mut self, path: &str, target: &str) {
        self.links
            .insert(path.trim_start_matches('/').to_owned(), target.to_owned());
    }

    /// Adds the host program at `guest` and the shared libraries `ldd` names at their paths.
    pub fn add_program(&mut self, program: &Path, guest: &str) {
        self.add_file(guest, 0o755, read(program));
        let ldd = Command::new("ldd").arg(program).output().expect("ldd");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let library = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line
                    .split_whitespace()
                    .next()
                    .filter(|w| w.starts_with('/')),
            };
            if let Some(library) = library.filter(|l| l.starts_with('/')) {
                self.add_file(library, 0o755, read(Path::new(library)));
            }
        }
    }

    /// The archive with `init` (the script after the prelude (kernel file systems, modules, PATH), then the epilogue that prints
    /// [`END_MARKER`] and powers off) added.
    pub fn with_init(&self, script: &str) -> Vec<u8> {
        let mut image = self.clone();
        let init = format!(
            "{PRELUDE}{script}\necho \"{END_MARKER} $(cut -d' ' -f1 /proc/uptime)\"\nsync\n\
             poweroff -f\n"
        );
        image.add_file("init", 0o755, init.into_bytes());
        image.newc()
    }

    /// The newc cpio archive: directories first, then files and links, then the trailer.
    fn newc(&self) -> Vec<u8> {
        let mut dirs = BTreeSet::new();
        for path in self.files.keys().chain(self.links.keys()) {
            let mut parent = Path::new(path).parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(dir.to_string_lossy().into_owned());
                parent = dir.parent();
            }
        }
        for dir in ["dev", "proc", "sys", "run", "tmp", "mnt"] {
            dirs.insert(dir.to_owned());
        }
        let mut out = Vec::new();
        let mut inode = 1;
        for dir in &dirs {
            entry(&mut out, &mut inode, dir, 0o040_755, &[]);
        }
        for (path, (mode, content)) in &self.files {
            entry(&mut out, &mut inode, path, 0o100_000 | mode, content);
        }
        for (path, target) in &self.links {
            entry(&mut out, &mut inode, path, 0o120_777, target.as_bytes());
        }
        entry(&mut out, &mut inode, "TRAILER!!!", 0, &[]);
        out
    }
}

fn entry(out: &mut Vec<u8>, inode: &mut u32, name: &str, mode: u32, data: &[u8]) {
    let name_len = name.len() + 1;
    let header = format!(
        "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{name_len:08x}{:08x}",
        *inode,
        0,
        0,
        1,
        0,
        data.len(),
        0,
        0,
        0,
        0,
        0
    );
    *inode += 1;
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// One boot's console and how long it took.
#[derive(Debug, Clone)]
pub struct Boot {
    /// Every console line.
    pub console: Vec<String>,
    /// From starting qemu to its exit.
    pub wall: Duration,
    /// The accelerator used.
    pub accel: &'static str,
}

impl Boot {
    /// What follows `marker` and a space on each line that has them (the firmware's terminal
    /// codes may come first on a line).
    pub fn values(&self, marker: &str) -> Vec<String> {
        let marker = format!("{marker} ");
        self.console
            .iter()
            .filter_map(|line| {
                let at = line.find(&marker)?;
                line.get(at + marker.len()..)
            })
            .map(|rest| rest.trim().to_owned())
            .collect()
    }

    /// The one line starting with `marker`, the marker removed; fails the test otherwise.
    pub fn value(&self, marker: &str) -> String {
        let values = self.values(marker);
        assert_eq!(
            values.len(),
            1,
            "one {marker:?} line expected:\n{}",
            self.log()
        );
        values.into_iter().next().unwrap_or_default()
    }

    /// Whether any console line contains `text`.
    pub fn says(&self, text: &str) -> bool {
        self.console.iter().any(|line| line.contains(text))
    }

    /// The console, for failure messages.
    pub fn log(&self) -> String {
        self.console.join("\n")
    }

    /// Seconds of guest uptime at the start of the script and at its end.
    pub fn script_seconds(&self) -> f64 {
        let at = |marker: &str| self.value(marker).parse::<f64>().unwrap_or(0.0);
        at(END_MARKER) - at("CHIARO-VM-START")
    }
}

/// A VM to boot: a kernel, an initramfs, disks.
#[derive(Debug)]
pub struct Vm<'a> {
    /// The kernel.
    pub kernel: &'a Kernel,
    /// The disks, in order (`/dev/vda`, `/dev/vdb`, …), raw images.
    pub disks: Vec<PathBuf>,
    /// How long the boot may take before the test fails.
    pub deadline: Duration,
}

impl Vm<'_> {
    /// Boots `initramfs` (written to `work`), returns once the VM powered off with
    /// [`END_MARKER`] on its console; fails the test with the console otherwise.
    pub fn boot(&self, initramfs: &[u8], work: &Path) -> Boot {
        let initrd = work.join("initramfs.cpio");
        std::fs::write(&initrd, initramfs).expect("writing the initramfs");
        let accel = accel();
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args(["-m", "512", "-smp", "1", "-nographic", "-no-reboot"])
            .args(["-nodefaults", "-serial", "stdio", "-monitor", "none"])
            .arg("-kernel")
            .arg(&self.kernel.image)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", "console=ttyS0 panic=-1 quiet loglevel=4"]);
        match accel {
            "kvm" => command.args(["-accel", "kvm", "-cpu", "host"]),
            _ => command.args(["-accel", "tcg"]),
        };
        for disk in &self.disks {
            command.arg("-drive").arg(format!(
                "file={},format=raw,if=virtio,cache=unsafe",
                disk.display()
            ));
        }
        let started = Instant::now();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting qemu-system-x86_64");
        let (lines, receiver) = mpsc::channel();
        let stdout = child.stdout.take().expect("qemu's stdout");
        let stderr = child.stderr.take().expect("qemu's stderr");
        let error_lines = lines.clone();
        std::thread::spawn(move || forward(BufReader::new(stdout), &lines));
        std::thread::spawn(move || forward(BufReader::new(stderr), &error_lines));
        let mut console = Vec::new();
        loop {
            let left = self.deadline.saturating_sub(started.elapsed());
            match receiver.recv_timeout(left) {
                Ok(line) => console.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the VM did not power off within {:?} ({accel}); its console:\n{}",
                        self.deadline,
                        console.join("\n")
                    );
                }
            }
        }
        let status = child.wait().expect("waiting for qemu");
        let boot = Boot {
            console,
            wall: started.elapsed(),
            accel,
        };
        assert!(
            status.success() && boot.says(END_MARKER),
            "the VM ended ({status}) before its script did; its console:\n{}",
            boot.log()
        );
        boot
    }
}

fn forward(reader: impl std::io::BufRead, lines: &mpsc::Sender<String>) {
    for line in reader.split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches('\r')
            .to_owned();
        if lines.send(line).is_err() {
            return;
        }
    }
}

/// `kvm` where it can work, else `tcg`; [`ACCEL_ENV`] overrides.
fn accel() -> &'static str {
    match std::env::var(ACCEL_ENV).as_deref() {
        Ok("kvm") => return "kvm",
        Ok("tcg") => return "tcg",
        _ => {}
    }
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let virtualisation = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|cpuinfo| {
        cpuinfo
            .lines()
            .filter(|line| line.starts_with("flags"))
            .any(|line| line.split_whitespace().any(|f| f == "vmx" || f == "svm"))
    });
    if kvm && virtualisation { "kvm" } else { "tcg" }
}

/// The program's path on `PATH`.
pub fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
