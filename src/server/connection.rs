//! One client connection: TLS handshake, HTTP/1.1 or HTTP/2 as ALPN chose, and a watchdog
//! that closes connections which hold resources without doing work.
//!
//! A connection costs a file descriptor, TLS and HTTP buffers and a task, whether or not it
//! ever sends a request, so an attacker in the cluster network can open many and send
//! nothing, or half a request header and then nothing. The watchdog ends:
//! - a connection whose request headers have not all arrived `header_read_timeout` after
//!   the first byte (or after the handshake, for the first request);
//! - an idle connection (no request in flight) after `idle_timeout`, gracefully;
//! - an HTTP/1.1 connection busy with one request for longer than `request_timeout` (a
//!   backstop: the handler bounds body reading and evaluation itself);
//! - a connection asked to close gracefully that has not done so a few seconds later (a
//!   client that does not read its answer, or one that holds half a request head while
//!   the server shuts down); only a request in flight may use the whole shutdown grace.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceExt;

use super::lifecycle::{Lifecycle, Stage};
use super::ConnectionLimits;
use crate::metrics::{ClosedLabels, Metrics};

/// No value recorded (for the millisecond stamps of [`Activity`]).
const NONE: u64 = u64::MAX;

/// Time given to a connection asked to close before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What the watchdog knows of a connection, updated by its I/O and its requests.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `opened` when the connection last became idle.
    idle_since: AtomicU64,
    /// Milliseconds since `opened` when bytes of a next request first arrived while idle.
    pending_since: AtomicU64,
    /// Milliseconds since `opened` when the connection last went from idle to busy.
    busy_since: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // The first request is pending from the start: silence after the handshake
            // counts against the header timeout.
            pending_since: AtomicU64::new(0),
            busy_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now();
            let _ =
                self.pending_since
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    fn request_started(&self) {
        self.pending_since.store(NONE, Ordering::Release);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.busy_since.store(self.now(), Ordering::Release);
        }
    }

    fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since.store(self.now(), Ordering::Release);
            self.busy_since.store(NONE, Ordering::Release);
        }
    }
}

/// Marks a request's end when dropped, whether its future completed or was cancelled.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// The TLS stream, reporting reads to the watchdog.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Everything a connection needs, shared by all of them.
#[derive(Clone)]
pub(super) struct Shared {
    pub router: Router,
    pub limits: ConnectionLimits,
    pub lifecycle: Lifecycle,
    pub metrics: Arc<Metrics>,
}

/// Serve one accepted TCP connection to its end.
pub(super) async fn serve(
    tcp: tokio::net::TcpStream,
    tls: Arc<rustls::ServerConfig>,
    shared: Shared,
) {
    let closed = |reason: &'static str| {
        shared
            .metrics
            .connections_closed
            .get_or_create(&ClosedLabels { reason })
            .inc();
    };
    let _ = tcp.set_nodelay(true);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let stream =
        match tokio::time::timeout(shared.limits.tls_handshake_timeout, acceptor.accept(tcp)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return closed("handshake_failed"),
            Err(_) => return closed("handshake_timeout"),
        };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let router = shared.router.clone();
    let tracker = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        tracker.request_started();
        let guard = InFlight(tracker.clone());
        let router = router.clone();
        async move {
            let resp = router.oneshot(req.map(axum::body::Body::new)).await;
            drop(guard);
            resp
        }
    });
    let limits = &shared.limits;
    if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_concurrent_streams)
            .initial_stream_window_size(H2_WINDOW)
            .initial_connection_window_size(2 * H2_WINDOW)
            .max_header_list_size(MAX_HEADER_BYTES)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(10));
        let conn = builder.serve_connection(io, service);
        watch(
            conn,
            |c| c.graceful_shutdown(),
            &activity,
            &shared,
            false,
            closed,
        )
        .await;
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The watchdog times headers from their first byte and idle connections apart.
            .header_read_timeout(None)
            .max_buf_size(MAX_HEADER_BYTES as usize)
            .keep_alive(true);
        let conn = builder.serve_connection(io, service);
        watch(
            conn,
            |c| c.graceful_shutdown(),
            &activity,
            &shared,
            true,
            closed,
        )
        .await;
    }
}

/// HTTP/2 flow-control window per stream: the most a client may send ahead of what the
/// handlers read, so that bytes pushed over many streams stay bounded per connection.
const H2_WINDOW: u32 = 256 * 1024;

/// Largest request head (HTTP/1.1 read buffer, HTTP/2 header list).
const MAX_HEADER_BYTES: u32 = 64 * 1024;

/// Drive `conn` while enforcing the timeouts of [`ConnectionLimits`] and the shutdown stages.
async fn watch<C: Future>(
    conn: C,
    close_gracefully: impl Fn(Pin<&mut C>),
    activity: &Activity,
    shared: &Shared,
    http1: bool,
    closed: impl Fn(&'static str),
) {
    let limits = &shared.limits;
    tokio::pin!(conn);
    let closing = shared.lifecycle.reached(Stage::Closing);
    tokio::pin!(closing);
    let mut asked_to_close: Option<Instant> = None;
    let tick = Duration::from_millis(250)
        .min(limits.header_read_timeout / 4)
        .max(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = &mut closing, if asked_to_close.is_none() => {
                close_gracefully(conn.as_mut());
                asked_to_close = Some(Instant::now());
                continue;
            }
            _ = tokio::time::sleep(tick) => {}
        }
        if let Some(at) = asked_to_close {
            // During shutdown a request in flight may use the server's whole grace period;
            // a connection with none (idle, or holding half a request head) is dropped
            // once its own close grace is over, so an attacker's half-sent headers cannot
            // stretch every rolling update to the full grace period.
            let serving = activity.in_flight.load(Ordering::Acquire) > 0;
            let shutting_down = shared.lifecycle.stage() >= Stage::Closing;
            if at.elapsed() > CLOSE_GRACE && !(serving && shutting_down) {
                return closed("close_timeout");
            }
            continue;
        }
        let now = activity.now();
        let since = |stamp: u64| Duration::from_millis(now.saturating_sub(stamp));
        if activity.in_flight.load(Ordering::Acquire) > 0 {
            let busy = activity.busy_since.load(Ordering::Acquire);
            if http1 && busy != NONE && since(busy) > limits.request_timeout {
                return closed("request_timeout");
            }
            continue;
        }
        let pending = activity.pending_since.load(Ordering::Acquire);
        if http1 && pending != NONE && since(pending) > limits.header_read_timeout {
            return closed("header_timeout");
        }
        // HTTP/2 pings read bytes while idle, so only HTTP/1.1 times request heads; an
        // HTTP/2 connection that sends nothing but pings is closed as idle.
        let idle = activity.idle_since.load(Ordering::Acquire);
        if (pending == NONE || !http1) && since(idle) > limits.idle_timeout {
            closed("idle");
            close_gracefully(conn.as_mut());
            asked_to_close = Some(Instant::now());
        }
    }
}
