//! What can go wrong reading a Kata configuration or assembling its command line.

use std::fmt;

/// A place in a configuration file: 1-based line and column (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (an offset past the end is the end).
    pub(crate) fn of(text: &str, offset: usize) -> Self {
        let mut line = 1;
        let mut column = 1;
        for (at, c) in text.char_indices() {
            if at >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

fn at_location(location: &Option<Location>) -> String {
    match location {
        Some(location) => format!(" at {location}"),
        None => String::new(),
    }
}

fn in_file(file: &Option<usize>) -> String {
    match file {
        Some(index) => format!(" (drop-in file {index})"),
        None => String::new(),
    }
}

/// Why a Kata configuration was refused. Every refusal is deliberate: the crate reproduces the
/// runtime's command line exactly or not at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not TOML.
    #[error("not a TOML document{}{}: {message}", in_file(.file), at_location(.location))]
    Syntax {
        /// The TOML parser's message.
        message: String,
        /// Where, when the parser says.
        location: Option<Location>,
        /// The drop-in file (index into the list given), `None` for the main file.
        file: Option<usize>,
    },
    /// A key the runtime reads has a value of the wrong type (or out of its range).
    #[error("`{key}`{}{}: {message}", in_file(.file), at_location(.location))]
    WrongType {
        /// The dotted key, such as `hypervisor.qemu.default_vcpus`.
        key: String,
        /// What was wrong.
        message: String,
        /// Where the value is.
        location: Option<Location>,
        /// The drop-in file (index into the list given), `None` for the main file.
        file: Option<usize>,
    },
    /// A key that differs from one the runtime reads only in letter case: the Go TOML decoder
    /// matches keys case-insensitively, so the runtime would use it; it is refused rather than
    /// guessed at.
    #[error("`{key}` is `{field}` in another letter case: write it as `{field}`")]
    KeyCase {
        /// The key as written (dotted).
        key: String,
        /// The key the runtime would take it for.
        field: &'static str,
    },
    /// A drop-in file sets a key the runtime does not have: the runtime refuses such a drop-in.
    #[error(
        "drop-in file {file} sets `{key}`, which the runtime does not know (it refuses the file)"
    )]
    UnknownDropInKey {
        /// The dotted key.
        key: String,
        /// The drop-in file (index into the list given).
        file: usize,
    },
    /// There is no `[hypervisor.*]` table: the runtime would run a non-confidential default.
    #[error("the configuration has no [hypervisor.qemu] table")]
    NoHypervisor,
    /// More than one `[hypervisor.*]` table: the runtime takes one of them at random.
    #[error("the configuration has several hypervisor tables ({}): the runtime would pick one at random", .0.join(", "))]
    SeveralHypervisors(Vec<String>),
    /// More than one `[agent.*]` table: the runtime takes one of them at random.
    #[error("the configuration has several agent tables ({}): the runtime would pick one at random", .0.join(", "))]
    SeveralAgents(Vec<String>),
    /// A hypervisor other than QEMU.
    #[error("[hypervisor.{0}]: only QEMU guests are supported")]
    UnsupportedHypervisor(String),
    /// `confidential_guest` is not `true`.
    #[error("`hypervisor.qemu.confidential_guest` is not true: not a confidential guest")]
    NotConfidential,
    /// A debug setting is on: such a guest is not one to compute reference values for.
    #[error("`{key}` is true: a debug guest's launch measurement is not a reference value")]
    Debug {
        /// The dotted key.
        key: &'static str,
    },
    /// A setting whose effect on the command line this crate does not reproduce.
    #[error("`{key}` = {value:?} is not supported: {reason}")]
    Unsupported {
        /// The dotted key.
        key: &'static str,
        /// Its value as written.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A value the runtime itself refuses (or whose result is undefined in Go).
    #[error("`{key}` = {value:?}: {reason}")]
    InvalidValue {
        /// The dotted key.
        key: &'static str,
        /// Its value as written.
        value: String,
        /// Why the runtime refuses it.
        reason: &'static str,
    },
    /// Neither `image` nor `initrd` is set.
    #[error("neither `hypervisor.qemu.image` nor `hypervisor.qemu.initrd` is set")]
    NoGuestImage,
    /// Both `image` and `initrd` are set: the runtime refuses that.
    #[error("both `hypervisor.qemu.image` and `hypervisor.qemu.initrd` are set")]
    ImageAndInitrd,
    /// `kernel` is not set: the runtime would use a path fixed when it was built.
    #[error("`hypervisor.qemu.kernel` is not set (the runtime's built-in default is not known)")]
    NoKernel,
    /// A `kernel_params` entry with an empty key (`=value`): the runtime refuses it.
    #[error("`hypervisor.qemu.kernel_params` has {param:?}, a parameter with an empty key")]
    EmptyKernelParam {
        /// The parameter as written.
        param: String,
    },
    /// The result depends on the node the guest runs on (its CPU count), which was not given.
    #[error("`{key}` = {value}: the result depends on the node's CPU count; give the node")]
    DependsOnNode {
        /// The dotted key.
        key: &'static str,
        /// Its value.
        value: String,
    },
    /// The guest is not a SEV-SNP guest on an AMD node (`sev_snp_guest` is not true): the
    /// runtime would start a plain SEV guest.
    #[error(
        "`hypervisor.qemu.sev_snp_guest` is not true: on an AMD node this is a SEV guest, not SEV-SNP"
    )]
    NotSevSnp,
}
