//! The host owns the disk under the state directory and plants symlinks, FIFOs, sockets and
//! huge files at the names the Coordinator uses. None is followed, read or written through;
//! each is refused with an error naming it. Real files and real symlinks in a scratch
//! directory; the controls at the end show that ordinary state still round-trips.

use std::fs;
use std::os::unix::fs::{FileTypeExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chiaro_coordinator::store::DirStore;

/// The documented limit on a state file (`store::MAX_FILE_BYTES`).
const LIMIT: u64 = 16 * 1024 * 1024;

/// Keys as the history writes them: at the root and one directory down.
const KEYS: [&str; 5] = [
    "latest",
    "root-ca.der",
    "manifests/1111111111111111111111111111111111111111111111111111111111111111.json",
    "transitions/2222222222222222222222222222222222222222222222222222222222222222",
    "mesh-ca/3333333333333333333333333333333333333333333333333333333333333333.der",
];

/// A state directory and, beside it, a directory outside it that the host aims at.
struct Scene {
    base: PathBuf,
    state: PathBuf,
    outside: PathBuf,
    store: DirStore,
}

impl Scene {
    fn new(name: &str) -> Self {
        let base =
            std::env::temp_dir().join(format!("chiaro-attack-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let state = base.join("state");
        let outside = base.join("outside");
        fs::create_dir_all(&outside).unwrap();
        let store = DirStore::open(&state).unwrap();
        Self {
            base,
            state,
            outside,
            store,
        }
    }

    /// A file outside the state directory holding `victim`, the host's target.
    fn victim(&self, name: &str) -> PathBuf {
        let path = self.outside.join(name);
        fs::write(&path, b"victim").unwrap();
        path
    }

    /// Creates the directory `key` lives in, as an earlier write would have.
    fn parent_of(&self, key: &str) -> PathBuf {
        let parent = self.state.join(key).parent().unwrap().to_path_buf();
        fs::create_dir_all(&parent).unwrap();
        parent
    }

    fn clean(self) {
        fs::remove_dir_all(&self.base).unwrap();
    }
}

/// `result` is a refusal whose message names `path` and what was found there.
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, impl std::error::Error>,
    path: &Path,
    found: &str,
) {
    let outcome = result
        .map(|value| format!("{value:?}").chars().take(200).collect::<String>())
        .map_err(|error| error.to_string());
    let named =
        |message: &String| message.contains(&path.display().to_string()) && message.contains(found);
    assert!(
        outcome.as_ref().is_err_and(named),
        "not refused naming {} and a {found}: {outcome:?}",
        path.display()
    );
}

fn names_in(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn attack_symlink_at_temporary_name_is_not_followed() {
    let scene = Scene::new("temporary");
    for (index, key) in KEYS.iter().enumerate() {
        // Every name the old store would have used for this key's temporary.
        let old_name = format!(".tmp-{}-{}", std::process::id(), key.replace('/', "_"));
        let victim = scene.victim(&format!("victim-{index}"));
        symlink(&victim, scene.parent_of(key).join(&old_name)).unwrap();

        scene.store.put(key, b"state").unwrap();

        assert_eq!(
            fs::read(&victim).unwrap(),
            b"victim",
            "{key}: written through"
        );
        let target = fs::symlink_metadata(scene.state.join(key)).unwrap();
        assert!(target.file_type().is_file(), "{key}: {target:?}");
        assert_eq!(scene.store.get(key).unwrap().unwrap(), b"state");
    }
    scene.clean();
}

#[test]
fn attack_symlink_at_key_is_refused_and_named() {
    let scene = Scene::new("key");
    for (index, key) in KEYS.iter().enumerate() {
        let victim = scene.victim(&format!("victim-{index}"));
        scene.parent_of(key);
        let planted = scene.state.join(key);
        symlink(&victim, &planted).unwrap();

        assert_refused(scene.store.get(key), &planted, "symlink");
        assert_refused(scene.store.put(key, b"state"), &planted, "symlink");

        assert_eq!(
            fs::read(&victim).unwrap(),
            b"victim",
            "{key}: written through"
        );
        assert!(
            fs::symlink_metadata(&planted).unwrap().is_symlink(),
            "{key}"
        );
    }
    scene.clean();
}

#[test]
fn attack_symlinked_subdirectory_is_not_followed() {
    let scene = Scene::new("subdirectory");
    for directory in ["manifests", "transitions", "mesh-ca"] {
        let aimed_at = scene.outside.join(directory);
        fs::create_dir(&aimed_at).unwrap();
        fs::write(aimed_at.join("present"), b"victim").unwrap();
        let planted = scene.state.join(directory);
        symlink(&aimed_at, &planted).unwrap();

        assert_refused(
            scene.store.get(&format!("{directory}/present")),
            &planted,
            "symlink",
        );
        assert_refused(
            scene.store.put(&format!("{directory}/new"), b"state"),
            &planted,
            "symlink",
        );

        assert_eq!(
            names_in(&aimed_at),
            ["present"],
            "{directory}: written into"
        );
        assert_eq!(fs::read(aimed_at.join("present")).unwrap(), b"victim");
    }
    scene.clean();
}

#[test]
fn attack_file_in_place_of_a_subdirectory_is_refused() {
    let scene = Scene::new("file-as-directory");
    let planted = scene.state.join("manifests");
    fs::write(&planted, b"not a directory").unwrap();
    assert_refused(
        scene.store.get("manifests/a.json"),
        &planted,
        "regular file",
    );
    assert_refused(
        scene.store.put("manifests/a.json", b"state"),
        &planted,
        "regular file",
    );
    scene.clean();
}

#[test]
fn attack_fifo_in_place_of_a_state_file_is_refused() {
    let scene = Scene::new("fifo");
    let latest = scene.state.join("latest");
    let manifests = scene.state.join("manifests");
    for fifo in [&latest, &manifests] {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
    }

    // A read that blocks on the FIFO never answers; wait for the answer, not for a time.
    let (answer, answered) = mpsc::channel();
    let store = scene.store.clone();
    std::thread::spawn(move || {
        let _ = answer.send((store.get("latest"), store.get("manifests/a.json")));
    });
    let (read_latest, read_manifest) = answered
        .recv_timeout(Duration::from_secs(30))
        .expect("the read blocked on the FIFO");
    assert_refused(read_latest, &latest, "FIFO");
    assert_refused(read_manifest, &manifests, "FIFO");

    assert_refused(scene.store.put("latest", b"state"), &latest, "FIFO");
    assert!(fs::symlink_metadata(&latest).unwrap().file_type().is_fifo());
    scene.clean();
}

#[test]
fn attack_socket_in_place_of_a_state_file_is_refused() {
    let scene = Scene::new("socket");
    let planted = scene.state.join("root-ca.der");
    let _listener = UnixListener::bind(&planted).unwrap();
    assert_refused(scene.store.get("root-ca.der"), &planted, "socket");
    assert_refused(scene.store.put("root-ca.der", b"state"), &planted, "socket");
    assert!(
        fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_socket()
    );
    scene.clean();
}

#[test]
fn attack_oversized_state_file_is_refused() {
    let scene = Scene::new("oversized");
    let planted = scene.state.join("latest");
    // Sparse: one byte over the limit without writing 16 MiB.
    fs::File::create(&planted)
        .unwrap()
        .set_len(LIMIT + 1)
        .unwrap();
    assert_refused(scene.store.get("latest"), &planted, "larger than");
    scene.clean();
}

#[test]
fn put_then_get_round_trips_and_leaves_no_temporary() {
    let scene = Scene::new("round-trip");
    for key in KEYS {
        assert_eq!(scene.store.get(key).unwrap(), None, "{key}");
        scene.store.put(key, b"first").unwrap();
        scene.store.put(key, b"second").unwrap();
        assert_eq!(scene.store.get(key).unwrap().unwrap(), b"second", "{key}");
    }
    assert_eq!(
        names_in(&scene.state),
        [
            "latest",
            "manifests",
            "mesh-ca",
            "root-ca.der",
            "transitions"
        ]
    );
    for key in &KEYS[2..] {
        let name = key.rsplit_once('/').unwrap().1;
        assert_eq!(names_in(scene.parent_of(key).as_path()), [name]);
    }
    assert_eq!(scene.store.get("manifests/absent.json").unwrap(), None);
    assert_eq!(scene.store.get("absent/absent").unwrap(), None);
    assert!(
        !scene.state.join("absent").exists(),
        "a read created a directory"
    );
    scene.clean();
}

#[test]
fn a_file_at_the_limit_round_trips_and_one_over_is_not_written() {
    let scene = Scene::new("limit");
    let at_limit = vec![7_u8; usize::try_from(LIMIT).unwrap()];
    scene.store.put("latest", &at_limit).unwrap();
    assert_eq!(scene.store.get("latest").unwrap().unwrap(), at_limit);
    let over = vec![7_u8; usize::try_from(LIMIT + 1).unwrap()];
    assert_refused(
        scene.store.put("root-ca.der", &over),
        &scene.state.join("root-ca.der"),
        "larger than",
    );
    assert!(!scene.state.join("root-ca.der").exists());
    scene.clean();
}

#[test]
fn a_crash_leftover_temporary_does_not_break_the_next_put() {
    let scene = Scene::new("leftover");
    for key in ["latest", "manifests/a.json"] {
        let parent = scene.parent_of(key);
        let leftovers = [
            format!(".tmp-{}-{}", std::process::id(), key.replace('/', "_")),
            format!(".tmp-{}", "ab".repeat(16)),
        ];
        for leftover in &leftovers {
            fs::write(parent.join(leftover), b"torn").unwrap();
        }
        scene.store.put(key, b"state").unwrap();
        assert_eq!(scene.store.get(key).unwrap().unwrap(), b"state", "{key}");
        let reopened = DirStore::open(&scene.state).unwrap();
        assert_eq!(reopened.get(key).unwrap().unwrap(), b"state", "{key}");
    }
    scene.clean();
}
