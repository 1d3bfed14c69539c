//! Accepting connections so that slow clients cannot exhaust the server (SECURITY H5).
//!
//! `axum::serve` sets no timer, so hyper reads a request head for as long as the client takes,
//! and nothing caps how many connections one address holds. Here every connection is counted
//! against a total and a per-address allowance (an IPv6 client counts by its /64, which is what
//! one line is given), both well below the file-descriptor limit, which is raised to its hard
//! limit at start. Over either, a new connection is closed at once, without reading it. A TLS
//! handshake must end within `HANDSHAKE`, the first request head within `HEAD` of the
//! connection's start (hyper's own head timer only starts once it knows the protocol), and
//! every later head within `HEAD` too. Request bodies and whole requests are bounded by
//! `deadlines` in `web::middleware`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::Service;

/// How long a request head (or the first one, protocol detection included) may take.
pub const HEAD: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish once the portal is asked to stop.
pub const GRACE: Duration = Duration::from_secs(30);

/// How many connections are served at once.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub total: usize,
    pub per_address: usize,
}

impl Caps {
    /// Below the file-descriptor limit (raised to its hard limit first), leaving room for the
    /// database, the mail and the files being sent: at most 10,000 connections, 200 from one
    /// address (a city hall behind one NAT address is many people).
    pub fn for_this_process() -> Self {
        let fds = raise_fd_limit();
        let total = usize::try_from(fds.saturating_sub(256).max(64))
            .unwrap_or(usize::MAX)
            .min(10_000);
        Self {
            total,
            per_address: 200.min(total),
        }
    }
}

/// Raises the soft limit on open files to the hard limit; returns the limit now in force.
fn raise_fd_limit() -> u64 {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        // Linux refuses an infinite limit on open files: a large finite one stands in.
        let hard = limit.maximum.unwrap_or(1 << 20);
        if limit.current.is_some_and(|c| c >= hard) {
            return hard;
        }
        let raised = Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!(error = %e, "could not raise the open-file limit");
                limit.current.unwrap_or(1024)
            }
        }
    }
    #[cfg(not(unix))]
    {
        1024
    }
}

/// The address a client is counted under: its IPv4 address, or its IPv6 /64.
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Open connections per counted address.
#[derive(Clone, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection's place in its address's count, given back when it closes.
struct Place {
    counts: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    fn take(&self, ip: IpAddr, cap: usize) -> Option<Place> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Place {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Serves `router` on `listener` (TLS when `tls` is given) until `shutdown` completes; then
/// stops accepting and gives the connections in flight `GRACE` to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    caps: Caps,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_header_list_size(16 * 1024)
        .max_concurrent_streams(100u32)
        .max_pending_accept_reset_streams(Some(20));
    let builder = Arc::new(builder);
    let total = Arc::new(Semaphore::new(caps.total));
    let per_address = PerAddress::default();
    let graceful = GracefulShutdown::new();
    let mut make = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) if matches!(e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionReset) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Over a cap the connection is closed unread; the loop never waits for a place.
        let Ok(permit) = total.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "connection refused: the portal holds its most connections");
            continue;
        };
        let Some(place) = per_address.take(counted_as(addr.ip()), caps.per_address) else {
            tracing::debug!(%addr, "connection refused: this address holds its most connections");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let Ok(service) = make.call(addr).await;
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let held: (OwnedSemaphorePermit, Place) = (permit, place);
            let started = tokio::time::Instant::now();
            let io: Box<dyn Io> = match tls {
                None => Box::new(tcp),
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(e)) => {
                            tracing::debug!(%addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%addr, "TLS handshake too slow");
                            return;
                        }
                    }
                }
            };
            let first = Arc::new(Notify::new());
            let seen = first.clone();
            let hyper_service = TowerToHyperService::new(service);
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                seen.notify_one();
                hyper::service::Service::call(&hyper_service, req)
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(watcher.watch(conn));
            // The first head, protocol detection included, within `HEAD` of the start.
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(%addr, error = %e, "connection ended");
                    }
                    return;
                }
                _ = first.notified() => {}
                _ = tokio::time::sleep_until(started + HEAD) => {
                    tracing::debug!(%addr, "no request head in time");
                    return;
                }
            }
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "connection ended");
            }
            drop(held);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(GRACE) => {
            tracing::warn!("requests still running after the grace period were cut off");
        }
    }
}
