//! `coord serve`: runs a server until SIGINT/SIGTERM (graceful stop), its
//! removal from the cluster (exit 0) or a failure it cannot recover from
//! (fail-stop, non-zero exit), and re-reads its TLS certificates on SIGHUP.
//! The flags are `serve_args`' and `tls_args`'; the server is
//! `coord_server::server`.

use std::time::Duration;

use coord_client::Error;
use coord_server::server::{Server, ServerConfig};

/// Longest wait for the shutdown that follows a failure (fail-stop): the
/// process exits non-zero after it even if something hangs.
const FAILED_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn serve(cfg: ServerConfig) -> Result<(), Error> {
    // Past a file-size limit (`ulimit -f`, systemd's LimitFSIZE) the kernel
    // kills the process with SIGXFSZ unless it is handled; handled, the write
    // fails with EFBIG and the server stops the fail-stop way, saying why.
    #[cfg(unix)]
    let _xfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
        rustix::process::Signal::XFSZ.as_raw(),
    ))
    .map_err(|e| tracing::warn!(error = %e, "cannot handle SIGXFSZ"))
    .ok();
    let server = Server::start(cfg).await?;
    if let Some(zk) = server.zk_addr() {
        // Before the "serving on" line, which scripts wait for.
        eprintln!("coord: zookeeper protocol on {zk}");
    }
    if let Some(http) = server.http_addr() {
        eprintln!("coord: http on {http}");
    }
    eprintln!("coord: serving on {}", server.local_addr());
    let failure = tokio::select! {
        _ = wait_for_signal() => None,
        () = reload_tls_on_sighup(&server) => None,
        () = server.removed() => {
            // An orderly end: exit 0, so that a supervisor restarting on
            // failure leaves a removed member stopped.
            eprintln!(
                "coord: this member was removed from the cluster; stopping (its data dir \
                 will not serve again)"
            );
            None
        }
        e = server.failed() => Some(e),
    };
    match failure {
        None => {
            tracing::info!("shutting down");
            server.shutdown().await
        }
        Some(e) => {
            // Fail-stop: answer what is in flight, close, and exit non-zero so
            // that a supervisor restarts the process or the cluster takes over.
            match tokio::time::timeout(FAILED_SHUTDOWN_GRACE, server.shutdown()).await {
                Ok(Ok(())) => {}
                Ok(Err(stop)) => tracing::warn!(error = %stop, "shutdown after the failure"),
                Err(_) => tracing::warn!("shutdown after the failure did not finish in time"),
            }
            Err(e)
        }
    }
}

/// Re-reads the TLS certificates and keys on each SIGHUP; never returns
/// (unless SIGHUP cannot be handled, then it waits forever).
async fn reload_tls_on_sighup(server: &Server) {
    #[cfg(unix)]
    if server.tls_enabled() {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                while hup.recv().await.is_some() {
                    match server.reload_tls() {
                        Ok(()) => eprintln!("coord: SIGHUP: TLS certificates re-read"),
                        Err(e) => {
                            tracing::warn!(error = %e, "SIGHUP: TLS re-read failed; the certificates in use stay");
                            eprintln!(
                                "coord: SIGHUP: TLS re-read failed, the certificates in use stay: {e}"
                            );
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP: no TLS re-read"),
        }
    }
    std::future::pending::<()>().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
