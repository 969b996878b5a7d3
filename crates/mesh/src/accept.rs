//! Every accept loop of the proxy (status, ingress, egress) goes through [`accept`]: a failed
//! `accept` pauses the loop instead of retrying at once.
//!
//! Why pause: when the process is out of descriptors (`EMFILE`, `ENFILE`) or kernel memory
//! (`ENOBUFS`, `ENOMEM`), the pending connection stays in the listen queue and the listener
//! stays readable, so a loop that retries at once spins on one core until something else frees
//! a descriptor, starving the connections that would free one. An error that concerns only the
//! one pending connection (it was reset or aborted before `accept`) does not pause: it is gone,
//! and the next one may be fine. (The same rule as the Coordinator's listeners,
//! `chiaro_api::admission::AcceptBackoff`; the mesh proxy does not depend on the API crate.)

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The pause after a failed accept: 10 ms, doubling to at most 1 s, back to 10 ms after the
/// next accepted connection.
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
        self.next = (self.next * 2).min(Self::MAX);
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
    mut on_error: impl FnMut(&io::Error, Option<Duration>),
) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                backoff.reset();
                return accepted;
            }
            Err(error) => {
                let pause = backoff.after(&error);
                on_error(&error, pause);
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
            .map(|_| backoff.after(&too_many_open_files()).map(|p| p.as_millis()))
            .collect();
        let expected = [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000].map(Some);
        assert_eq!(pauses, expected);
        backoff.reset();
        assert_eq!(
            backoff.after(&too_many_open_files()),
            Some(AcceptBackoff::FIRST)
        );
    }

    #[test]
    fn an_error_of_one_connection_does_not_pause_or_advance() {
        let mut backoff = AcceptBackoff::default();
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
        ] {
            assert_eq!(backoff.after(&io::Error::from(kind)), None);
        }
        assert_eq!(
            backoff.after(&too_many_open_files()),
            Some(AcceptBackoff::FIRST)
        );
        // Descriptors of the system (ENFILE), buffers (ENOBUFS) and memory (ENOMEM) all pause.
        for errno in [23, 105, 12] {
            assert!(
                backoff
                    .after(&io::Error::from_raw_os_error(errno))
                    .is_some()
            );
        }
    }
}
