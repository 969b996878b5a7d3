//! The CLI built for the other targets by `scripts/cross`: the Windows one run under Debian's
//! wine64 (the macOS and aarch64 ones cannot run here; the tests read their headers).

use std::process::Command;

use crate::prerequisite::{Prerequisite, WINDOWS, WINE, cross_binary};

/// `chiaro.exe` under wine, its debug channels quiet (wine's own messages would mix with the
/// CLI's stderr). Claims [`Prerequisite::Cross`].
pub fn windows_chiaro() -> Command {
    Prerequisite::Cross.require();
    let mut command = Command::new(WINE);
    command.arg(cross_binary(WINDOWS)).env("WINEDEBUG", "-all");
    command
}
