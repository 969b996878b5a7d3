//! The plain listener edges the Coordinator and the mesh proxy share. A crate of its own so that
//! the sidecar, in every pod's TCB, needs no more than this (tokio only):
//! - pausing an accept loop after a failed `accept`, instead of spinning on it: every accept
//!   loop of the Coordinator (through `chiaro-api`) and of the mesh proxy goes through
//!   [`accept`];
//! - [`http1`]: the one minimal HTTP/1.1 responder of their status ports (and of local mode's
//!   stand-in servers).

// Panic-free parsing: [`http1`] reads request heads from any peer that reaches a status port
// (unauthenticated, in every pod's TCB).
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

pub mod http1;

use std::io;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The pause after a failed accept: 10 ms, doubling to at most 1 s, back to 10 ms after the
/// next accepted connection.
///
/// Why pause at all: when the process is out of descriptors (`EMFILE`, `ENFILE`) or kernel
/// memory (`ENOBUFS`, `ENOMEM`), the pending connection stays in the listen queue and the
/// listener stays readable, so an accept loop that retries at once spins on one core until
/// something else frees a descriptor. Errors that concern only the one connection that was
/// pending (it was reset or aborted before `accept`) do not pause: it is gone, and the next
/// one may be fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    /// The first pause.
    pub const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// The pause to take after `error`, or `None` for an error of one connection only.
    pub fn after(&mut self, error: &io::Error) -> Option<Duration> {
        if is_connection_error(error) {
            return None;
        }
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(Self::MAX);
        Some(pause)
    }

    /// A connection was accepted: the next failure pauses briefly again.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

/// Accepts the next connection on `listener`. A failed accept is reported to `on_error` with
/// the pause [`AcceptBackoff::after`] chose, which is then taken; errors never end the loop
/// (none of them is a property of the listener that waiting cannot change).
pub async fn accept(
    listener: &TcpListener,
    backoff: &mut AcceptBackoff,
    mut on_error: impl FnMut(io::Error, Option<Duration>),
) -> (TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                backoff.reset();
                return accepted;
            }
            Err(error) => {
                let pause = backoff.after(&error);
                on_error(error, pause);
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `EMFILE` as `accept(2)` reports it on Linux.
    fn too_many_open_files() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[test]
    fn pauses_double_up_to_one_second_and_reset_after_a_success() {
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<_> = (0..10)
            .map(|_| backoff.after(&too_many_open_files()).unwrap().as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(
            backoff.after(&too_many_open_files()),
            Some(AcceptBackoff::FIRST)
        );
    }

    #[test]
    fn an_error_of_one_connection_does_not_pause_or_advance() {
        let mut backoff = AcceptBackoff::default();
        assert_eq!(
            backoff.after(&io::Error::from(io::ErrorKind::ConnectionAborted)),
            None
        );
        assert_eq!(
            backoff.after(&io::Error::from(io::ErrorKind::ConnectionReset)),
            None
        );
        assert_eq!(
            backoff.after(&too_many_open_files()),
            Some(AcceptBackoff::FIRST)
        );
        // Descriptor, memory and buffer exhaustion all pause.
        for errno in [23, 105, 12] {
            assert!(
                backoff
                    .after(&io::Error::from_raw_os_error(errno))
                    .is_some()
            );
        }
    }
}
