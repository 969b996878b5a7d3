//! How `local run --keep-running` is stopped: Ctrl-C (SIGINT) or SIGTERM (what `kill`, systemd
//! and a terminal that closes send). Both are caught before the run reports its result, so a
//! signal sent as soon as the report is out ends in the same clean-up as Ctrl-C: every process
//! killed and waited for, every network namespace removed (the values' `Drop`s).

use std::future::poll_fn;
use std::task::Poll;

use anyhow::Context;
use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The stop signals, caught from creation on (no default action kills the process meanwhile).
pub(super) struct StopSignals {
    runtime: Runtime,
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Catches SIGINT and SIGTERM from now on.
    pub(super) fn catch() -> anyhow::Result<Self> {
        let runtime = crate::commands::coordinator_client::runtime()?;
        let (interrupt, terminate) = {
            let _entered = runtime.enter();
            (
                signal(SignalKind::interrupt()).context("catching SIGINT")?,
                signal(SignalKind::terminate()).context("catching SIGTERM")?,
            )
        };
        Ok(Self {
            runtime,
            interrupt,
            terminate,
        })
    }

    /// Waits for the first of them; returns its name.
    pub(super) fn wait(mut self) -> &'static str {
        self.runtime.block_on(poll_fn(|context| {
            if self.interrupt.poll_recv(context).is_ready() {
                return Poll::Ready("SIGINT");
            }
            if self.terminate.poll_recv(context).is_ready() {
                return Poll::Ready("SIGTERM");
            }
            Poll::Pending
        }))
    }
}
