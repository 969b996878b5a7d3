//! Copying bytes between the two sides of a proxied connection: both directions at once, each
//! through one fixed buffer (bounded memory per connection), an end of stream passed on as a
//! half-close, and the connection closed after a period with no bytes in either direction.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The buffer per direction: two full TLS records, so one `read` or `writev` moves two.
pub const BUFFER: usize = 32 * 1024;

/// The largest TLS plaintext record. A read that returned this much came from a TLS session
/// with more records likely waiting; a shorter read drained its source.
const RECORD: usize = 16 * 1024;

/// The read-ahead under a TLS session: rustls asks its transport for at most 4 KiB at a time,
/// so a full 16 KiB record would cost four `read` calls; this buffer serves them from one.
pub const TLS_READ_AHEAD: usize = 32 * 1024;

/// `stream` with [`TLS_READ_AHEAD`] under it, for a TLS session to read from.
pub fn read_ahead(stream: TcpStream) -> BufReader<TcpStream> {
    BufReader::with_capacity(TLS_READ_AHEAD, stream)
}

/// Bytes moved each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// From the first side to the second.
    pub forward: u64,
    /// From the second side to the first.
    pub backward: u64,
}

/// Where a connection's bytes are also counted for the whole proxy: to the workload, from it
/// ([`crate::metrics`]; none in tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals<'a> {
    /// The two counters, when counted.
    pub counters: Option<&'a [AtomicU64; 2]>,
}

/// Which side of a [`pipe`] the workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The first (`a`): egress.
    First,
    /// The second (`b`): ingress.
    Second,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Both sides closed their sending half.
    Closed(Moved),
    /// Nothing moved for the idle timeout.
    Idle(Moved),
}

async fn one_way<R, W>(
    mut from: R,
    mut to: W,
    moved: Arc<AtomicU64>,
    total: Option<&AtomicU64>,
    activity: Arc<AtomicU64>,
    start: Instant,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let mut read = from.read(&mut buffer).await?;
        let mut last = read;
        let mut ended = read == 0;
        // Gather what is already waiting into one write (fewer records and system calls).
        while !ended && last >= RECORD {
            let Some(free) = buffer.get_mut(read..).filter(|free| !free.is_empty()) else {
                break;
            };
            match ready_now(&mut from, free).await? {
                Some(0) => ended = true,
                Some(more) => {
                    // At most the free space: `read` stays within the buffer.
                    read = read.saturating_add(more);
                    last = more;
                }
                None => break,
            }
        }
        if let Some(gathered) = buffer.get(..read).filter(|gathered| !gathered.is_empty()) {
            to.write_all(gathered).await?;
            moved.fetch_add(read as u64, Ordering::Relaxed);
            if let Some(total) = total {
                total.fetch_add(read as u64, Ordering::Relaxed);
            }
            activity.store(
                u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        if ended {
            // Half-close: the other side learns that no more bytes come, and may still answer.
            to.shutdown().await?;
            return Ok(());
        }
    }
}

/// Reads what `from` has without waiting: `None` when it would have to wait.
async fn ready_now<R: AsyncRead + Unpin>(
    from: &mut R,
    buffer: &mut [u8],
) -> std::io::Result<Option<usize>> {
    std::future::poll_fn(|context| {
        let mut read = ReadBuf::new(buffer);
        match Pin::new(&mut *from).poll_read(context, &mut read) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(Some(read.filled().len()))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Ready(Ok(None)),
        }
    })
    .await
}

/// Copies `a` ↔ `b` until both directions ended, an error, or `idle` without a byte; the bytes
/// also count in `totals`, where `workload` says which side the workload is.
///
/// # Errors
/// The first I/O error of either direction.
pub async fn pipe<A, B>(
    a: A,
    b: B,
    idle: Duration,
    totals: Totals<'_>,
    workload: Workload,
) -> std::io::Result<Ended>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (a_read, a_write) = tokio::io::split(a);
    let (b_read, b_write) = tokio::io::split(b);
    let start = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let forward = Arc::new(AtomicU64::new(0));
    let backward = Arc::new(AtomicU64::new(0));
    let moved = || Moved {
        forward: forward.load(Ordering::Relaxed),
        backward: backward.load(Ordering::Relaxed),
    };
    // [to the workload, from it]
    let [to_workload, from_workload] = match totals.counters {
        Some([to, from]) => [Some(to), Some(from)],
        None => [None, None],
    };
    let (a_to_b, b_to_a) = match workload {
        Workload::First => (from_workload, to_workload),
        Workload::Second => (to_workload, from_workload),
    };
    let both = async {
        tokio::try_join!(
            one_way(
                a_read,
                b_write,
                Arc::clone(&forward),
                a_to_b,
                Arc::clone(&activity),
                start
            ),
            one_way(
                b_read,
                a_write,
                Arc::clone(&backward),
                b_to_a,
                Arc::clone(&activity),
                start
            ),
        )
    };
    let watchdog = async {
        loop {
            let last = Duration::from_millis(activity.load(Ordering::Relaxed));
            let Some(deadline) = last
                .checked_add(idle)
                .and_then(|after| start.checked_add(after))
            else {
                // Beyond what an instant can hold: never idle.
                return std::future::pending().await;
            };
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    tokio::select! {
        result = both => result.map(|_| Ended::Closed(moved())),
        () = watchdog => Ok(Ended::Idle(moved())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn bytes_flow_both_ways_and_half_close_passes_through() {
        let (mut client, proxy_a) = duplex(64);
        let (proxy_b, mut server) = duplex(64);
        let task = tokio::spawn(pipe(
            proxy_a,
            proxy_b,
            Duration::from_secs(5),
            Totals::default(),
            Workload::Second,
        ));
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request", "the server sees the end of the request");
        server
            .write_all(b"response after half-close")
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"response after half-close");
        assert_eq!(
            task.await.unwrap().unwrap(),
            Ended::Closed(Moved {
                forward: 7,
                backward: 25
            })
        );
    }

    #[tokio::test]
    async fn gathered_records_arrive_whole_and_in_order_with_the_end_of_stream() {
        let record = vec![1u8; RECORD];
        let tail = vec![2u8; 1000];
        // A full record then a short one (gathered, then the end read on its own), and a full
        // record directly followed by the end (found while gathering).
        for (second, expected) in [
            (&tail[..], [&record[..], &tail[..]].concat()),
            (&[][..], record.clone()),
        ] {
            let first: &[u8] = &record;
            let side_a = tokio::io::join(first.chain(second), tokio::io::sink());
            let (proxy_b, mut server) = duplex(4 * BUFFER);
            let (ended, got) = tokio::join!(
                pipe(
                    side_a,
                    proxy_b,
                    Duration::from_secs(5),
                    Totals::default(),
                    Workload::Second
                ),
                async {
                    let mut got = Vec::new();
                    server.read_to_end(&mut got).await.unwrap();
                    server.shutdown().await.unwrap();
                    got
                }
            );
            assert!(
                got == expected,
                "{} bytes arrived, {} sent",
                got.len(),
                expected.len()
            );
            assert_eq!(
                ended.unwrap(),
                Ended::Closed(Moved {
                    forward: expected.len() as u64,
                    backward: 0
                })
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed() {
        let (mut client, proxy_a) = duplex(64);
        let (proxy_b, _server) = duplex(64);
        let task = tokio::spawn(pipe(
            proxy_a,
            proxy_b,
            Duration::from_secs(30),
            Totals::default(),
            Workload::Second,
        ));
        client.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert!(matches!(task.await.unwrap().unwrap(), Ended::Idle(_)));
    }
}
