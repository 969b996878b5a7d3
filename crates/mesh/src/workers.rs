//! Where connections run: worker threads that each drive their own single-threaded runtime.
//! An accepted connection is dealt to one of them (round-robin) and stays there for its whole
//! life, as in Envoy: its buffers and TLS state stay in one core's cache, and no task is stolen
//! between threads mid-transfer. With a work-stealing runtime a single busy connection moved
//! between threads and lost a fifth of its throughput (bench/mesh).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::runtime::Handle;

/// The connection workers.
#[derive(Debug, Clone)]
pub struct Workers {
    handles: Arc<[Handle]>,
    next: Arc<AtomicUsize>,
}

impl Workers {
    /// `count` threads (at least one), named `chiaro-mesh-N`, each running a single-threaded
    /// runtime until the process exits.
    ///
    /// # Errors
    /// Starting a thread or its runtime failed.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        for index in 0..count.max(1) {
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("chiaro-mesh-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match runtime {
                        Ok(runtime) => {
                            let _ = sender.send(Ok(runtime.handle().clone()));
                            runtime.block_on(std::future::pending::<()>());
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error));
                        }
                    }
                })?;
            let handle = receiver.recv().map_err(|_| {
                std::io::Error::other(format!("worker {index} stopped before it started"))
            })??;
            handles.push(handle);
        }
        Ok(Self {
            handles: handles.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The runtime this is called on, as the only worker (tests, and embedding the proxy in
    /// another runtime).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn current() -> Self {
        Self {
            handles: vec![Handle::current()].into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `serve` on the next worker with `stream`, re-registered with that worker's runtime.
    ///
    /// # Errors
    /// The stream could not be taken off the accepting runtime (it is closed then).
    pub fn spawn<F, Fut>(&self, stream: TcpStream, serve: F) -> std::io::Result<()>
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        #[expect(
            clippy::arithmetic_side_effects,
            clippy::indexing_slicing,
            reason = "`handles` is never empty (`start` makes `count.max(1)` workers, `current` \
                      one), so the remainder is defined and below its length"
        )]
        let handle = &self.handles[self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()];
        let stream = stream.into_std()?;
        handle.spawn(async move {
            // Cannot fail for a stream that was just registered elsewhere; if it does, the
            // connection closes.
            if let Ok(stream) = TcpStream::from_std(stream) {
                serve(stream).await;
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn connections_are_dealt_to_the_worker_threads_in_turn() {
        let workers = Workers::start(2).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut names = Vec::new();
        for _ in 0..4 {
            let mut client = TcpStream::connect(address).await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            workers
                .spawn(stream, |mut stream| async move {
                    let name = std::thread::current().name().unwrap_or("?").to_owned();
                    let _ = stream.write_all(name.as_bytes()).await;
                })
                .unwrap();
            let mut name = String::new();
            client.read_to_string(&mut name).await.unwrap();
            names.push(name);
        }
        assert_eq!(
            names,
            [
                "chiaro-mesh-0",
                "chiaro-mesh-1",
                "chiaro-mesh-0",
                "chiaro-mesh-1"
            ],
            "each connection ran, on its own worker's thread"
        );
    }
}
