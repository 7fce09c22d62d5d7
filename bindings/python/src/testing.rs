//! The embedded server behind `coord.testing.Server`: an in-process server
//! on 127.0.0.1 with a temp data dir (`coord_server::testing::EmbeddedServer`,
//! compiled only with the `testing` feature, which the package's own test
//! build turns on), and the Rust baseline of the binding's benchmark.

#[cfg(feature = "testing")]
use std::sync::Mutex;

#[cfg(feature = "testing")]
use coord_server::testing::EmbeddedServer;
use pyo3::prelude::*;

use crate::errors::check;

/// An in-process coord server for tests. Use `coord.testing.Server`.
#[cfg(feature = "testing")]
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct ServerCore {
    server: Mutex<Option<EmbeddedServer>>,
    addr: String,
}

#[cfg(feature = "testing")]
#[pymethods]
impl ServerCore {
    /// Starts a server on a free port (GIL released while it starts).
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let handle = check(py, coord_client::embed::handle())?;
        let server = check(py, py.detach(move || EmbeddedServer::start(handle)))?;
        Ok(ServerCore {
            addr: server.addr().to_string(),
            server: Mutex::new(Some(server)),
        })
    }

    /// `host:port` to give clients.
    #[getter]
    fn address(&self) -> String {
        self.addr.clone()
    }

    /// The data directory, while running.
    #[getter]
    fn data_dir(&self) -> Option<String> {
        self.lock()
            .as_ref()
            .and_then(|s| s.data_dir())
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Stops the server and removes its data (again: no-op).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let server = self.lock().take();
        if let Some(mut s) = server {
            check(py, py.detach(move || s.stop()))?;
        }
        Ok(())
    }
}

#[cfg(feature = "testing")]
impl ServerCore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<EmbeddedServer>> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The Rust baseline of the binding's benchmark: `n` sequential gets of
/// `path`, then `n` lock cycles (acquire + release) on `lock_path`, by the
/// core client alone, in a task of the shared runtime; returns the seconds
/// each loop took.
#[pyfunction]
fn bench_rust(
    py: Python<'_>,
    client: &crate::client::ClientCore,
    path: String,
    lock_path: String,
    n: u32,
) -> PyResult<(f64, f64)> {
    let c = check(py, client.core())?;
    let handle = check(py, coord_client::embed::handle())?;
    let r = py.detach(move || {
        // In a task of the runtime, next to the connection's own tasks.
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let run = async {
                let t = std::time::Instant::now();
                for _ in 0..n {
                    c.get(&path).await?;
                }
                let gets = t.elapsed().as_secs_f64();
                let lock = coord_client::recipes::Lock::new(&c, &lock_path);
                let t = std::time::Instant::now();
                for _ in 0..n {
                    lock.acquire().await?;
                    lock.release().await?;
                }
                Ok((gets, t.elapsed().as_secs_f64()))
            };
            let _ = tx.send(run.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(coord_client::Error::Internal(
                "the benchmark task stopped".into(),
            ))
        })
    });
    check(py, r)
}

/// Adds the classes of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bench_rust, m)?)?;
    #[cfg(feature = "testing")]
    m.add_class::<ServerCore>()?;
    Ok(())
}
