//! The atomic write against the file system: concurrent writers (threads and processes), modes,
//! symlinks, and what is left after a failure.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;

use chiaro_atomic_file::{Mode, remove_temporaries, write};

/// The environment variable that makes [`child_writes`] a writer of the file it names.
const CHILD_TARGET: &str = "CHIARO_ATOMIC_FILE_CHILD_TARGET";
const WRITES_PER_WRITER: usize = 40;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("chiaro-atomic-file-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The content writer `writer` writes: long enough that a torn read would show.
fn content_of(writer: usize) -> Vec<u8> {
    vec![b'a' + u8::try_from(writer % 26).unwrap(); 64 * 1024]
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn assert_whole_content_of_some_writer(path: &Path, writers: usize) {
    let content = std::fs::read(path).unwrap();
    assert!(
        (0..writers).any(|writer| content == content_of(writer)),
        "the file holds one writer's whole content"
    );
}

#[test]
fn concurrent_writers_in_one_process_all_succeed() {
    // A temporary named per process (the collateral cache's `.tmp-<pid>`) fails here: two
    // threads write the same temporary, and the first rename takes it from the second.
    let dir = scratch("threads");
    let path = dir.join("collateral.bin");
    let writers = 8;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..WRITES_PER_WRITER {
                        write(path, &content_of(writer), Mode::PUBLIC)?;
                    }
                    std::io::Result::Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().unwrap();
        }
    });
    assert_whole_content_of_some_writer(&path, writers);
    assert_eq!(names_in(&dir), ["collateral.bin"], "no temporary left");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn concurrent_writers_in_several_processes_all_succeed() {
    // A temporary named per write but not per process (a counter alone) fails here: every
    // process's first write draws the same name. The writers are this test again, started
    // with the target in their environment.
    if let Some(path) = std::env::var_os(CHILD_TARGET) {
        return child_writes(&PathBuf::from(path));
    }
    let dir = scratch("processes");
    let path = dir.join("config.json");
    let writers = 4;
    let children: Vec<_> = (0..writers)
        .map(|writer| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "concurrent_writers_in_several_processes_all_succeed",
                    "--exact",
                    "--nocapture",
                ])
                .env(CHILD_TARGET, &path)
                .env("CHIARO_ATOMIC_FILE_CHILD_WRITER", writer.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer process failed");
    }
    assert_whole_content_of_some_writer(&path, writers);
    assert_eq!(names_in(&dir), ["config.json"], "no temporary left");
    std::fs::remove_dir_all(dir).unwrap();
}

/// One writer process of [`concurrent_writers_in_several_processes_all_succeed`].
fn child_writes(path: &Path) {
    let writer: usize = std::env::var("CHIARO_ATOMIC_FILE_CHILD_WRITER")
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..WRITES_PER_WRITER {
        write(path, &content_of(writer), Mode::PUBLIC).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn the_file_is_created_with_the_mode_asked_for() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("mode");
    for (name, mode) in [("key.pem", Mode::PRIVATE), ("start", Mode::EXECUTABLE)] {
        let path = dir.join(name);
        write(&path, b"x", mode).unwrap();
        let bits = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // The umask may only take bits away from group and others.
        assert_eq!(bits & 0o700, mode.bits() & 0o700, "{name}");
        assert_eq!(bits & !mode.bits(), 0, "{name}: no bit beyond the mode");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_target_is_replaced_never_written_through() {
    let dir = scratch("symlink");
    let elsewhere = dir.join("elsewhere");
    std::fs::write(&elsewhere, "untouched").unwrap();
    let path = dir.join("ready");
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    write(&path, b"new", Mode::PUBLIC).unwrap();
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failed_write_leaves_the_target_and_no_temporary() {
    let dir = scratch("failed");
    // A directory where the file belongs: the rename fails.
    let path = dir.join("taken");
    std::fs::create_dir(&path).unwrap();
    write(&path, b"x", Mode::PUBLIC).unwrap_err();
    assert!(path.is_dir());
    assert_eq!(names_in(&dir), ["taken"], "no temporary left");
    let error = write(&dir.join("missing/file"), b"x", Mode::PUBLIC).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_single_writer_sweeps_the_temporaries_of_its_target_only() {
    let dir = scratch("sweep");
    let path = dir.join("mesh-ready");
    for name in [
        ".mesh-ready.tmp",
        ".mesh-ready.0123456789abcdef.tmp",
        ".other.0123456789abcdef.tmp",
        "mesh-ready-not-a-temporary",
    ] {
        std::fs::write(dir.join(name), "left by a crash").unwrap();
    }
    remove_temporaries(&path).unwrap();
    assert_eq!(
        names_in(&dir),
        [".other.0123456789abcdef.tmp", "mesh-ready-not-a-temporary"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}
