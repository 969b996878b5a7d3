//! The gate's command line: written by generate, parsed by the binary.

use chiaro_pod::layout::START_GATE;

/// Flag: a file that must exist before the command runs (repeatable).
pub const WAIT_FILE: &str = "--wait-file";
/// Flag: a file that must exist, or the gate fails at once instead of waiting (repeatable; for
/// exec probes and lifecycle hooks, which must not run the container's code around the gate).
pub const REQUIRE_FILE: &str = "--require-file";
/// Flag: a file whose content must have this SHA-256 before the command runs, as
/// `PATH=HEX` (repeatable; ConfigMap and Secret files the policy pins by content).
pub const VERIFY_FILE: &str = "--verify-file";
/// Flag: the command's first words are the image's `Entrypoint` (the pod spec set no `command`).
pub const ENTRYPOINT_FROM_IMAGE: &str = "--entrypoint-from-image";
/// Flag: the container's `args` are the image's `Cmd` (the pod spec set neither).
pub const ARGS_FROM_IMAGE: &str = "--args-from-image";
/// Ends the gate's flags; the command follows.
const END: &str = "--";

/// What the gate waits for, and where the command came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// Files that must all exist before the command runs.
    pub wait_files: Vec<String>,
    /// Files that must all exist, else the gate fails without running the command.
    pub require_files: Vec<String>,
    /// Files whose content must be as pinned, else the gate fails without running the command.
    pub verify_files: Vec<VerifiedFile>,
    /// The pod spec had no `command`: the entrypoint after `--` is the image's.
    pub entrypoint_from_image: bool,
    /// The pod spec had neither `command` nor `args`: the container's `args` are the image's
    /// `Cmd`.
    pub args_from_image: bool,
}

/// A file the gate checks before the command runs: its content's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    /// The absolute path in the container.
    pub path: String,
    /// The SHA-256 of its content, lower-case hex.
    pub sha256: String,
}

impl VerifiedFile {
    /// `PATH=HEX`, as the flag's value.
    fn flag_value(&self) -> String {
        format!("{}={}", self.path, self.sha256)
    }

    /// Reads a flag value: an absolute path, `=`, and 64 lower-case hex digits.
    fn parse(value: &str) -> Option<Self> {
        let (path, sha256) = value.rsplit_once('=')?;
        let hex = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (path.starts_with('/') && hex).then(|| Self {
            path: path.to_owned(),
            sha256: sha256.to_owned(),
        })
    }
}

/// A command line the gate cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    /// An argument the gate does not know, before `--`.
    #[error("unknown argument {argument:?} before `--`")]
    UnknownArgument {
        /// The argument as given.
        argument: String,
    },
    /// `--wait-file` or `--require-file` without a file, or with a relative one.
    #[error("{0} needs an absolute path")]
    File(&'static str),
    /// `--verify-file` without `ABSOLUTE-PATH=SHA256-HEX`.
    #[error("{VERIFY_FILE} needs ABSOLUTE-PATH=SHA-256 (64 lower-case hex digits)")]
    VerifyFile,
    /// No `--`, or nothing after it.
    #[error("no command after `--`")]
    NoCommand,
}

impl Gate {
    /// The container's `command` in the pod spec: the gate, its flags, `--`, then `entrypoint`.
    pub fn command(&self, entrypoint: &[String]) -> Vec<String> {
        let mut words = vec![START_GATE.to_owned()];
        for file in &self.wait_files {
            words.extend([WAIT_FILE.to_owned(), file.clone()]);
        }
        for file in &self.require_files {
            words.extend([REQUIRE_FILE.to_owned(), file.clone()]);
        }
        for file in &self.verify_files {
            words.extend([VERIFY_FILE.to_owned(), file.flag_value()]);
        }
        if self.entrypoint_from_image {
            words.push(ENTRYPOINT_FROM_IMAGE.to_owned());
        }
        if self.args_from_image {
            words.push(ARGS_FROM_IMAGE.to_owned());
        }
        words.push(END.to_owned());
        words.extend(entrypoint.iter().cloned());
        words
    }

    /// A container `command` generate wrote before: the gate and the words after `--`, or
    /// `None` when `command` does not start with the gate.
    ///
    /// # Errors
    /// A command that starts with the gate but is not one generate writes.
    pub fn unwrap(command: &[String]) -> Result<Option<(Self, Vec<String>)>, StartError> {
        match command.split_first() {
            Some((first, rest)) if first == START_GATE => Self::flags(rest).map(Some),
            _ => Ok(None),
        }
    }

    /// The binary's own arguments (without the program name): the gate and the command to exec.
    ///
    /// # Errors
    /// An unknown flag, a relative wait file, or no command.
    pub fn parse(args: &[String]) -> Result<(Self, Vec<String>), StartError> {
        let (gate, command) = Self::flags(args)?;
        if command.is_empty() {
            return Err(StartError::NoCommand);
        }
        Ok((gate, command))
    }

    fn flags(args: &[String]) -> Result<(Self, Vec<String>), StartError> {
        let mut gate = Self::default();
        let mut words = args.iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                END => return Ok((gate, words.cloned().collect())),
                WAIT_FILE => gate.wait_files.push(absolute(WAIT_FILE, words.next())?),
                REQUIRE_FILE => gate
                    .require_files
                    .push(absolute(REQUIRE_FILE, words.next())?),
                VERIFY_FILE => gate.verify_files.push(
                    words
                        .next()
                        .and_then(|value| VerifiedFile::parse(value))
                        .ok_or(StartError::VerifyFile)?,
                ),
                ENTRYPOINT_FROM_IMAGE => gate.entrypoint_from_image = true,
                ARGS_FROM_IMAGE => gate.args_from_image = true,
                other => {
                    return Err(StartError::UnknownArgument {
                        argument: other.to_owned(),
                    });
                }
            }
        }
        Err(StartError::NoCommand)
    }
}

fn absolute(flag: &'static str, file: Option<&String>) -> Result<String, StartError> {
    match file {
        Some(file) if file.starts_with('/') => Ok(file.clone()),
        _ => Err(StartError::File(flag)),
    }
}

#[cfg(test)]
mod tests {
    use chiaro_pod::layout::MESH_READY_FILE;

    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn a_written_command_reads_back() {
        let digest = "ab".repeat(32);
        let gate = Gate {
            wait_files: vec![MESH_READY_FILE.to_owned()],
            require_files: Vec::new(),
            verify_files: vec![VerifiedFile {
                path: "/etc/app/app.conf".to_owned(),
                sha256: digest.clone(),
            }],
            entrypoint_from_image: true,
            args_from_image: false,
        };
        let command = gate.command(&words("/bin/server --port 80"));
        assert_eq!(
            command,
            words(&format!(
                "{START_GATE} --wait-file {MESH_READY_FILE} --verify-file /etc/app/app.conf={digest} --entrypoint-from-image -- /bin/server --port 80"
            ))
        );
        assert_eq!(
            Gate::unwrap(&command),
            Ok(Some((gate.clone(), words("/bin/server --port 80"))))
        );
        assert_eq!(
            Gate::parse(&command[1..]),
            Ok((gate, words("/bin/server --port 80")))
        );
    }

    #[test]
    fn a_command_without_the_gate_is_not_unwrapped() {
        assert_eq!(
            Gate::unwrap(&words("/bin/server --wait-file /x --")),
            Ok(None)
        );
        assert_eq!(Gate::unwrap(&[]), Ok(None));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert_eq!(
            Gate::parse(&words("--wait-file relative -- x")),
            Err(StartError::File(WAIT_FILE))
        );
        assert_eq!(
            Gate::parse(&words("--wait-file")),
            Err(StartError::File(WAIT_FILE))
        );
        assert_eq!(
            Gate::parse(&words("--bogus -- x")),
            Err(StartError::UnknownArgument {
                argument: "--bogus".to_owned()
            })
        );
        assert_eq!(
            Gate::parse(&words("--wait-file /x --")),
            Err(StartError::NoCommand)
        );
        assert_eq!(
            Gate::parse(&words("--wait-file /x x")),
            Err(StartError::UnknownArgument {
                argument: "x".to_owned()
            })
        );
        assert_eq!(Gate::parse(&[]), Err(StartError::NoCommand));
        for value in [
            "relative=".to_owned() + &"0".repeat(64),
            "/x=".to_owned() + &"0".repeat(63),
            "/x=".to_owned() + &"G".repeat(64),
            "/x".to_owned(),
        ] {
            assert_eq!(
                Gate::parse(&words(&format!("--verify-file {value} -- x"))),
                Err(StartError::VerifyFile),
                "{value}"
            );
        }
    }

    #[test]
    fn a_command_may_itself_contain_dashes() {
        let (_, command) = Gate::parse(&words("-- sh -c -- echo")).expect("parses");
        assert_eq!(command, words("sh -c -- echo"));
    }
}
