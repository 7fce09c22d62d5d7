//! The client: node operations, transactions (multi), persistent watches,
//! and the [`Stat`] and [`WatchEvent`] value types. Each method converts its
//! arguments, builds the core future and returns it as a [`Call`].

use std::time::Duration;

use bytes::Bytes;
use coord_client::client::{Client, CreateMode, EventType, Op, OpResult, SessionState, WatchMode};
use coord_client::embed::ForkGuard;
use coord_client::{Error, Result};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::call::{Call, Conv, Held, Stream, call, conv, conv_with, failed, none};

/// A node's metadata, as returned by `get`, `exists`, `set` (immutable).
#[pyclass(module = "coord", name = "Stat", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Stat {
    /// zxid of the write that created the node.
    czxid: u64,
    /// zxid of the last data change.
    mzxid: u64,
    /// zxid of the last change of the children.
    pzxid: u64,
    /// Creation time, ms since the epoch.
    ctime: i64,
    /// Time of the last data change, ms since the epoch.
    mtime: i64,
    /// Number of data changes.
    version: i32,
    /// Number of child changes.
    cversion: i32,
    /// Number of ACL changes (what `set_acl`'s `version` compares with).
    aversion: i32,
    /// Owning session of an ephemeral node, else 0.
    ephemeral_owner: u64,
    /// Data length in bytes.
    data_length: u32,
    /// Number of children.
    num_children: u32,
}

impl From<coord_client::client::Stat> for Stat {
    fn from(s: coord_client::client::Stat) -> Self {
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

#[pymethods]
impl Stat {
    fn __repr__(&self) -> String {
        format!(
            "Stat(czxid={}, mzxid={}, pzxid={}, ctime={}, mtime={}, version={}, cversion={}, \
             aversion={}, ephemeral_owner={}, data_length={}, num_children={})",
            self.czxid,
            self.mzxid,
            self.pzxid,
            self.ctime,
            self.mtime,
            self.version,
            self.cversion,
            self.aversion,
            self.ephemeral_owner,
            self.data_length,
            self.num_children
        )
    }
}

/// A `Conv` of a core stat.
pub(crate) fn stat_conv(s: coord_client::client::Stat) -> Conv {
    conv_with(move |py| Ok(Py::new(py, Stat::from(s))?.into_any()))
}

/// `(bytes, Stat)`.
pub(crate) fn data_stat(
    py: Python<'_>,
    data: &Bytes,
    s: coord_client::client::Stat,
) -> PyResult<Py<PyAny>> {
    let t = (PyBytes::new(py, data), Py::new(py, Stat::from(s))?);
    Ok(t.into_pyobject(py)?.into_any().unbind())
}

/// A change on a watched path.
#[pyclass(module = "coord", name = "WatchEvent", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WatchEvent {
    /// `"CREATED"`, `"DELETED"`, `"CHANGED"` (data), `"CHILD"` (children) or
    /// `"LOST"` (after a reconnect, events may have been missed: re-read).
    #[pyo3(name = "type")]
    kind: &'static str,
    /// The path that changed.
    path: String,
    /// zxid of the change.
    zxid: u64,
}

#[pymethods]
impl WatchEvent {
    fn __repr__(&self) -> String {
        format!(
            "WatchEvent(type={:?}, path={:?}, zxid={})",
            self.kind, self.path, self.zxid
        )
    }
}

/// The Python value of a core watch event.
pub(crate) fn event(e: coord_client::client::WatchEvent) -> WatchEvent {
    let kind = match e.kind {
        EventType::NodeCreated => "CREATED",
        EventType::NodeDeleted => "DELETED",
        EventType::NodeDataChanged => "CHANGED",
        EventType::NodeChildrenChanged => "CHILD",
        EventType::EventsLost => "LOST",
    };
    WatchEvent {
        kind,
        path: e.path,
        zxid: e.zxid,
    }
}

/// The Python name of a session state.
pub(crate) fn state_name(s: SessionState) -> &'static str {
    match s {
        SessionState::Connecting => "CONNECTING",
        SessionState::Connected => "CONNECTED",
        SessionState::Suspended => "SUSPENDED",
        SessionState::Expired => "EXPIRED",
        SessionState::Closed => "CLOSED",
    }
}

/// Seconds (Python's unit) to a duration, refusing negative or NaN.
pub(crate) fn seconds(what: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        Error::BadArguments(format!(
            "{what} must be a non-negative number of seconds, got {s}"
        ))
    })
}

/// The create mode for `create`'s keyword flags.
pub(crate) fn create_mode(
    ephemeral: bool,
    sequential: bool,
    container: bool,
    ttl: Option<f64>,
) -> Result<CreateMode> {
    let ttl_ms = match ttl {
        Some(t) => {
            let ms = seconds("ttl", t)?.as_millis();
            if ms == 0 {
                return Err(Error::BadArguments("ttl must be at least 1 ms".into()));
            }
            Some(u64::try_from(ms).unwrap_or(u64::MAX))
        }
        None => None,
    };
    CreateMode::from_flags(ephemeral, sequential, container, ttl_ms)
}

/// One op of a transaction as the Python layer describes it.
#[derive(FromPyObject)]
enum OpSpec {
    /// `("create", path, data, ephemeral, sequential, container, ttl)`
    Create(String, String, Vec<u8>, bool, bool, bool, Option<f64>),
    /// `("delete" | "check", path, version)`
    Versioned(String, String, i32),
    /// `("set", path, data, version)`
    Set(String, String, Vec<u8>, i32),
}

fn op(spec: OpSpec) -> Result<Op> {
    match spec {
        OpSpec::Create(kind, path, data, e, s, c, ttl) if kind == "create" => Ok(Op::Create {
            path,
            data: data.into(),
            mode: create_mode(e, s, c, ttl)?,
            acl: Vec::new(),
        }),
        OpSpec::Versioned(kind, path, version) if kind == "delete" => {
            Ok(Op::Delete { path, version })
        }
        OpSpec::Versioned(kind, path, version) if kind == "check" => {
            Ok(Op::Check { path, version })
        }
        OpSpec::Set(kind, path, data, version) if kind == "set" => Ok(Op::SetData {
            path,
            data: data.into(),
            version,
        }),
        _ => Err(Error::BadArguments("unknown transaction op".into())),
    }
}

fn op_result(py: Python<'_>, r: OpResult) -> PyResult<Py<PyAny>> {
    Ok(match r {
        OpResult::Create { path, .. } => path.into_pyobject(py)?.into_any().unbind(),
        OpResult::SetData { stat } => Py::new(py, Stat::from(stat))?.into_any(),
        OpResult::Delete | OpResult::Check => py.None(),
        OpResult::Error(e) => crate::errors::to_py(py, e).into_value(py).into_any(),
    })
}

/// The native client (one session). Use `coord.Client` or `coord.AsyncClient`.
#[pyclass(module = "coord._coord", frozen)]
pub(crate) struct ClientCore {
    pub(crate) client: Held<Client>,
}

impl ClientCore {
    /// The core client, or the error of a client used after `fork()`.
    pub(crate) fn core(&self) -> Result<Client> {
        self.client.get().cloned()
    }

    /// The fork guard to give the handles made from this client.
    pub(crate) fn guard(&self) -> ForkGuard {
        self.client.guard()
    }

    /// Runs `f` with the client, or fails at once after `fork()`.
    pub(crate) fn with<F, Fut>(&self, f: F) -> Call
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<Conv>> + Send + 'static,
    {
        match self.core() {
            Ok(c) => call(f(c)),
            Err(e) => failed(e),
        }
    }
}

/// Opens a session (`servers` default to `$COORD_SERVERS` or 127.0.0.1:2281),
/// with TLS `(ca, cert, key, server_name)` files, a bearer token and digest
/// credentials `(user, password)` when given (see `security`).
#[pyfunction]
#[pyo3(signature = (servers=None, session_timeout=10.0, request_timeout=None, tls=None, token=None, digest=None))]
fn connect(
    servers: Option<String>,
    session_timeout: f64,
    request_timeout: Option<f64>,
    tls: Option<crate::security::TlsSpec>,
    token: Option<String>,
    digest: Option<(String, String)>,
) -> Call {
    let mut builder = Client::builder();
    if let Some(s) = servers {
        builder = builder.servers(s);
    }
    match seconds("session_timeout", session_timeout) {
        Ok(t) => builder = builder.session_timeout(t),
        Err(e) => return failed(e),
    }
    if let Some(t) = request_timeout {
        match seconds("request_timeout", t) {
            Ok(t) => builder = builder.request_timeout(t),
            Err(e) => return failed(e),
        }
    }
    let builder = match crate::security::credentials(builder, tls, token, digest.as_ref()) {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    call(async move {
        let client = crate::security::connect(builder, digest).await?;
        let guard = ForkGuard::new();
        Ok(conv_with(move |py| {
            Ok(Py::new(
                py,
                ClientCore {
                    client: Held::new(guard, client),
                },
            )?
            .into_any())
        }))
    })
}

#[pymethods]
impl ClientCore {
    /// Creates a node; resolves to its path.
    #[pyo3(signature = (path, data, ephemeral=false, sequential=false, container=false, ttl=None, make_parents=false))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        path: String,
        data: Vec<u8>,
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl: Option<f64>,
        make_parents: bool,
    ) -> Call {
        let mode = match create_mode(ephemeral, sequential, container, ttl) {
            Ok(m) => m,
            Err(e) => return failed(e),
        };
        self.with(move |c| async move {
            let p = if make_parents {
                c.create_parents(&path, data, mode).await?
            } else {
                c.create(&path, data, mode).await?
            };
            Ok(conv(p))
        })
    }

    /// Resolves to `(data, Stat)`.
    fn get(&self, path: String) -> Call {
        self.with(move |c| async move {
            let (d, s) = c.get(&path).await?;
            Ok(conv_with(move |py| data_stat(py, &d, s)))
        })
    }

    /// Replaces the data; resolves to the new `Stat`.
    #[pyo3(signature = (path, data, version=-1))]
    fn set(&self, path: String, data: Vec<u8>, version: i32) -> Call {
        self.with(move |c| async move {
            let v = (version >= 0).then_some(version);
            Ok(stat_conv(c.set(&path, data, v).await?))
        })
    }

    /// Deletes a node.
    #[pyo3(signature = (path, version=-1))]
    fn delete(&self, path: String, version: i32) -> Call {
        self.with(move |c| async move {
            c.delete(&path, (version >= 0).then_some(version)).await?;
            Ok(none())
        })
    }

    /// Resolves to the `Stat`, or `None` when the node does not exist.
    fn exists(&self, path: String) -> Call {
        self.with(move |c| async move {
            let s = c.exists(&path).await?;
            Ok(conv_with(move |py| match s {
                Some(s) => Ok(Py::new(py, Stat::from(s))?.into_any()),
                None => Ok(py.None()),
            }))
        })
    }

    /// Resolves to the names of the children, sorted by name (the server
    /// lists them in name order).
    fn children(&self, path: String) -> Call {
        self.with(move |c| async move { Ok(conv(c.children(&path).await?)) })
    }

    /// Waits until the server has applied every write committed before.
    fn sync(&self, path: String) -> Call {
        self.with(move |c| async move {
            c.sync(&path).await?;
            Ok(none())
        })
    }

    /// Applies the ops atomically; resolves to one result per op.
    fn multi(&self, ops: Vec<OpSpec>) -> Call {
        let ops: Result<Vec<Op>> = ops.into_iter().map(op).collect();
        let ops = match ops {
            Ok(o) => o,
            Err(e) => return failed(e),
        };
        self.with(move |c| async move {
            let results = c.multi(ops).await?;
            Ok(conv_with(move |py| {
                let list = PyList::empty(py);
                for r in results {
                    list.append(op_result(py, r)?)?;
                }
                Ok(list.into_any().unbind())
            }))
        })
    }

    /// Sets a persistent (optionally recursive) watch; resolves to a `Stream`
    /// of `WatchEvent`s.
    #[pyo3(signature = (path, recursive=false))]
    fn watch(&self, path: String, recursive: bool) -> Call {
        let mode = if recursive {
            WatchMode::PersistentRecursive
        } else {
            WatchMode::Persistent
        };
        let guard = self.guard();
        self.with(move |c| async move {
            let stream = c.watch(&path, mode).await?;
            let items = stream.map(|r| r.map(|e| conv(event(e)))).boxed();
            Ok(conv_with(move |py| {
                Ok(Py::new(py, Stream::new(guard, items))?.into_any())
            }))
        })
    }

    /// Closes the session (its ephemeral nodes go at once). Idempotent.
    fn close(&self) -> Call {
        self.with(move |c| async move {
            c.close().await?;
            Ok(none())
        })
    }

    /// The session id (0 after `fork()`).
    #[getter]
    fn session_id(&self) -> u64 {
        self.core().map(|c| c.session_id()).unwrap_or(0)
    }

    /// The negotiated session timeout in seconds.
    #[getter]
    fn session_timeout(&self) -> f64 {
        self.core()
            .map(|c| c.session_timeout().as_secs_f64())
            .unwrap_or(0.0)
    }

    /// `"CONNECTING"`, `"CONNECTED"`, `"SUSPENDED"`, `"EXPIRED"` or `"CLOSED"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.core().map_or("CLOSED", |c| state_name(c.state()))
    }

    /// Raises the fork error if this client was created in another process.
    fn check_fork(&self, py: Python<'_>) -> PyResult<()> {
        crate::errors::check(py, self.core().map(|_| ()))
    }
}

/// Adds the classes and functions of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Stat>()?;
    m.add_class::<WatchEvent>()?;
    m.add_class::<ClientCore>()?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    Ok(())
}
