//! Putting `chiaro-start` in front of a container's command (see the `chiaro-start` crate).
//!
//! The container's command becomes `chiaro-start [--wait-file …] -- ENTRYPOINT…`, with its `args`
//! kept; where the pod spec left `command` (and `args`) to the image, the image's `Entrypoint`
//! (and `Cmd`) are written out, and the gate's flags record that, so a rewritten container is
//! unwrapped exactly (generating again, or without the mesh, starts from the original).

use chiaro_start::{Gate, VerifiedFile};
use serde_json::{Map, Value};

use crate::{DocumentId, K8sError};

/// An image's own command: what runs when the pod spec sets no `command` or `args`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageCommand {
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
}

/// The command and args of a container as the user wrote them (before any gate).
struct Original {
    command: Option<Vec<String>>,
    args: Option<Vec<String>>,
}

fn words(
    container: &Map<String, Value>,
    key: &str,
    at: &DocumentId,
    path: &str,
) -> Result<Option<Vec<String>>, K8sError> {
    let Some(value) = container.get(key) else {
        return Ok(None);
    };
    // The kubelet treats an empty list as none (the image's entrypoint or cmd applies).
    if value.as_array().is_some_and(Vec::is_empty) {
        return Ok(None);
    }
    let invalid = || K8sError::Invalid {
        at: at.clone(),
        path: format!("{path}.{key}"),
        detail: "must be a list of strings".to_owned(),
    };
    value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|word| word.as_str().map(str::to_owned).ok_or_else(invalid))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `command` (at `path`) without the gate generate put in front of it, if it has one.
fn unwrapped(
    command: &[String],
    at: &DocumentId,
    path: &str,
) -> Result<Option<(Gate, Vec<String>)>, K8sError> {
    Gate::unwrap(command).map_err(|error| K8sError::Invalid {
        at: at.clone(),
        path: format!("{path}.command"),
        detail: format!("not a command chiaro generate writes: {error}"),
    })
}

/// The container's command and args without a gate generate put there before.
fn original(
    container: &Map<String, Value>,
    at: &DocumentId,
    path: &str,
) -> Result<Original, K8sError> {
    let command = words(container, "command", at, path)?;
    let args = words(container, "args", at, path)?;
    let unwrapped = match &command {
        Some(command) => unwrapped(command, at, path)?,
        None => None,
    };
    Ok(match unwrapped {
        None => Original { command, args },
        Some((gate, entrypoint)) => Original {
            command: (!gate.entrypoint_from_image).then_some(entrypoint),
            args: if gate.args_from_image { None } else { args },
        },
    })
}

/// An image's words as pod-spec words: the kubelet expands `$(VAR)` in a pod spec's command and
/// args, never in an image's, and reads `$$` as `$`.
fn escaped(words: &[String]) -> Vec<String> {
    words.iter().map(|word| word.replace('$', "$$")).collect()
}

/// Puts the gate, failing at once while one of `require_files` is missing, in front of every
/// `exec` command of `container`'s probes and lifecycle hooks: the kubelet (or the host, through
/// `ExecProcessRequest`) may run those in the container at any time, also before its own
/// process passed the gate.
///
/// # Errors
/// [`K8sError::Invalid`] for an exec command that is not a list of strings, or a gate generate
/// does not write.
pub fn gate_exec_handlers(
    container: &mut Map<String, Value>,
    require_files: &[String],
    verify_files: &[VerifiedFile],
    at: &DocumentId,
    path: &str,
) -> Result<(), K8sError> {
    let handlers = ["livenessProbe", "readinessProbe", "startupProbe"]
        .into_iter()
        .map(|probe| (probe.to_owned(), vec![probe]))
        .chain(
            ["postStart", "preStop"]
                .into_iter()
                .map(|hook| (format!("lifecycle.{hook}"), vec!["lifecycle", hook])),
        );
    for (name, keys) in handlers {
        let mut handler = Some(&mut *container);
        for key in keys {
            handler = handler
                .and_then(|map| map.get_mut(key))
                .and_then(Value::as_object_mut);
        }
        let Some(exec) = handler
            .and_then(|map| map.get_mut("exec"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let at_path = format!("{path}.{name}.exec");
        let Some(command) = words(exec, "command", at, &at_path)? else {
            continue;
        };
        let command = match unwrapped(&command, at, &at_path)? {
            Some((_, command)) => command,
            None => command,
        };
        let gate = Gate {
            require_files: require_files.to_vec(),
            verify_files: verify_files.to_vec(),
            ..Gate::default()
        };
        exec.insert(
            "command".to_owned(),
            Value::Array(
                gate.command(&command)
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
        );
    }
    Ok(())
}

/// Rewrites `container`'s command to run behind a gate waiting for `wait_files`. `image` is the
/// container image's own command (needed when the pod spec sets no `command`); `path` names the
/// container in errors.
///
/// # Errors
/// [`K8sError::Invalid`] for a `command` or `args` that is not a list of strings, or when the
/// image's command is needed and unknown.
pub fn gate_container(
    container: &mut Map<String, Value>,
    wait_files: &[String],
    verify_files: &[VerifiedFile],
    image: Option<&ImageCommand>,
    at: &DocumentId,
    path: &str,
) -> Result<(), K8sError> {
    let Original { command, args } = original(container, at, path)?;
    let mut gate = Gate {
        wait_files: wait_files.to_vec(),
        verify_files: verify_files.to_vec(),
        ..Gate::default()
    };
    let (entrypoint, args) = match command {
        Some(command) => (command, args),
        None => {
            let image = image.ok_or_else(|| K8sError::Invalid {
                at: at.clone(),
                path: format!("{path}.image"),
                detail: format!(
                    "the configuration (entrypoint) of image {:?} was not resolved",
                    container.get("image").and_then(Value::as_str).unwrap_or("")
                ),
            })?;
            gate.entrypoint_from_image = true;
            gate.args_from_image = args.is_none();
            let args = args.unwrap_or_else(|| escaped(&image.cmd));
            (escaped(&image.entrypoint), Some(args))
        }
    };
    let list = |words: Vec<String>| Value::Array(words.into_iter().map(Value::String).collect());
    container.insert("command".to_owned(), list(gate.command(&entrypoint)));
    match args {
        Some(args) => container.insert("args".to_owned(), list(args)),
        None => container.remove("args"),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use chiaro_pod::layout::{MESH_READY_FILE, START_GATE};
    use serde_json::json;

    use super::*;

    fn at() -> DocumentId {
        DocumentId {
            file: "f.yaml".to_owned(),
            index: 0,
            line: 1,
            column: 1,
            item: None,
        }
    }

    fn image() -> ImageCommand {
        ImageCommand {
            entrypoint: vec!["/entry".to_owned()],
            cmd: vec!["serve".to_owned()],
        }
    }

    fn gated(container: Value, wait: &[&str]) -> Value {
        let mut map = container.as_object().cloned().expect("an object");
        let wait: Vec<String> = wait.iter().map(|w| (*w).to_owned()).collect();
        gate_container(
            &mut map,
            &wait,
            &[],
            Some(&image()),
            &at(),
            "containers[web]",
        )
        .expect("gates");
        Value::Object(map)
    }

    #[test]
    fn each_shape_of_command_and_args_runs_the_same_argv_behind_the_gate() {
        let cases = [
            (json!({}), vec!["/entry", "serve"]),
            (json!({"args": ["x"]}), vec!["/entry", "x"]),
            (json!({"command": ["/bin/a"]}), vec!["/bin/a"]),
            (
                json!({"command": ["/bin/a"], "args": ["y"]}),
                vec!["/bin/a", "y"],
            ),
        ];
        for (container, argv) in cases {
            let out = gated(container.clone(), &[MESH_READY_FILE]);
            let mut words: Vec<String> = serde_json::from_value(out["command"].clone()).unwrap();
            let args: Vec<String> =
                serde_json::from_value(out.get("args").cloned().unwrap_or(json!([]))).unwrap();
            words.extend(args);
            assert_eq!(words[0], START_GATE);
            let (gate, command) = Gate::parse(&words[1..]).unwrap();
            assert_eq!(gate.wait_files, [MESH_READY_FILE]);
            assert_eq!(command, argv, "for {container}");
        }
    }

    #[test]
    fn gating_again_or_with_other_files_starts_from_the_original() {
        for container in [
            json!({}),
            json!({"args": ["x"]}),
            json!({"command": ["/bin/a"]}),
            json!({"command": ["/bin/a"], "args": ["y"]}),
        ] {
            let once = gated(container.clone(), &["/w"]);
            assert_eq!(
                gated(once.clone(), &["/w"]),
                once,
                "idempotent for {container}"
            );
            let without = gated(container.clone(), &[]);
            assert_eq!(gated(once, &[]), without, "the mesh's wait file goes again");
        }
    }

    #[test]
    fn empty_lists_are_none_and_image_words_keep_their_dollars() {
        let image = ImageCommand {
            entrypoint: vec!["/entry".to_owned(), "$(HOME)".to_owned()],
            cmd: vec!["$x".to_owned()],
        };
        let mut map = json!({"command": [], "args": []})
            .as_object()
            .cloned()
            .unwrap();
        gate_container(&mut map, &[], &[], Some(&image), &at(), "c").unwrap();
        assert_eq!(
            Value::Object(map),
            json!({
                "command": [START_GATE, "--entrypoint-from-image", "--args-from-image", "--", "/entry", "$$(HOME)"],
                "args": ["$$x"],
            }),
            "as the kubelet runs it: the image's words, unexpanded"
        );
    }

    #[test]
    fn exec_probes_and_hooks_run_behind_the_gate_once() {
        let container = json!({
            "readinessProbe": {"exec": {"command": ["cat", "/ok"]}},
            "livenessProbe": {"httpGet": {"port": 80}},
            "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "warm"]}}},
        });
        let mut map = container.as_object().cloned().unwrap();
        let files = [MESH_READY_FILE.to_owned()];
        gate_exec_handlers(&mut map, &files, &[], &at(), "c").unwrap();
        let once = map.clone();
        gate_exec_handlers(&mut map, &files, &[], &at(), "c").unwrap();
        assert_eq!(map, once, "idempotent");
        let gated = Value::Object(map);
        assert_eq!(
            gated["readinessProbe"]["exec"]["command"],
            json!([
                START_GATE,
                "--require-file",
                MESH_READY_FILE,
                "--",
                "cat",
                "/ok"
            ])
        );
        assert_eq!(
            gated["lifecycle"]["postStart"]["exec"]["command"],
            json!([
                START_GATE,
                "--require-file",
                MESH_READY_FILE,
                "--",
                "sh",
                "-c",
                "warm"
            ])
        );
        assert_eq!(gated["livenessProbe"], container["livenessProbe"]);
        let mut map = gated.as_object().cloned().unwrap();
        gate_exec_handlers(&mut map, &[], &[], &at(), "c").unwrap();
        assert_eq!(
            map["readinessProbe"]["exec"]["command"],
            json!([START_GATE, "--", "cat", "/ok"]),
            "without a mesh: only the initializer's binary is required"
        );
    }

    #[test]
    fn an_unknown_image_command_is_an_error_only_when_needed() {
        let mut map = json!({"command": ["/bin/a"]}).as_object().cloned().unwrap();
        gate_container(&mut map, &[], &[], None, &at(), "containers[web]").expect("not needed");
        let mut map = json!({"args": ["x"]}).as_object().cloned().unwrap();
        let error = gate_container(&mut map, &[], &[], None, &at(), "containers[web]").unwrap_err();
        assert!(
            error.to_string().contains("containers[web].image"),
            "{error}"
        );
    }

    #[test]
    fn a_malformed_command_is_named() {
        let mut map = json!({"command": "sh"}).as_object().cloned().unwrap();
        let error = gate_container(&mut map, &[], &[], None, &at(), "containers[web]").unwrap_err();
        assert!(
            error.to_string().contains("containers[web].command"),
            "{error}"
        );
        let mut map = json!({"command": [START_GATE, "--bogus", "--", "x"]})
            .as_object()
            .cloned()
            .unwrap();
        let error = gate_container(&mut map, &[], &[], None, &at(), "containers[web]").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not a command chiaro generate writes"),
            "{error}"
        );
    }
}
