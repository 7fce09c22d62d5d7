//! [`Client`]: the public methods. Each builds one request, hands it to
//! `inner` and decodes the answer with the `wire` conversions; no method
//! touches a socket, a task or the watch table directly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use coord_proto::proto;
use coord_proto::proto::request::Op as Req;
use coord_proto::proto::response::Result as Res;
use coord_proto::wire::stat_from_proto;
use coord_proto::{CreateMode, Stat};
use coord_proto::{Op, OpResult, failing_op};

use super::config::{ClientBuilder, Config, default_servers};
use super::inner::{Inner, closed_error};
use super::request::{Action, OneshotRequest};
use super::session::{SessionState, StateStream};
use super::supervisor;
use super::watch::{WatchMode, WatcherType, ancestors};
use super::watcher::{OneshotWatch, WatchStream};

/// A session with a coord ensemble. Cheap to clone (all clones share the
/// session); `Send + Sync`. Dropping the last clone closes the session in the
/// background (best effort) and stops the client's tasks; call
/// [`Client::close`] to close it deterministically.
///
/// Every request is bounded by the request timeout (which includes waiting
/// for a reconnect). Errors a caller should expect: `ConnectionLoss` (the
/// request was in flight when the connection broke: it may or may not have
/// been applied), `OperationTimeout`, `SessionExpired` (terminal), `Closed`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let servers = server.addr();
/// use coord_client::{Client, CreateMode, WatchMode};
/// use futures::StreamExt;
///
/// let client = Client::connect(&servers).await?; // "host:port,host:port"
/// let mut changes = client.watch("/config", WatchMode::Persistent).await?;
/// client.create("/config", "v1", CreateMode::Persistent).await?;
/// let (data, stat) = client.get("/config").await?;
/// assert_eq!((&data[..], stat.version), (&b"v1"[..], 0));
/// let event = changes.next().await.expect("an event")?;
/// assert_eq!(event.path, "/config");
/// client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

/// The user-side owner of the core; its drop is the last clone's drop.
#[derive(Debug)]
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.inner.is_terminal() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let inner = Arc::clone(&self.inner);
                rt.spawn(async move {
                    if let Err(e) = inner.close().await {
                        tracing::debug!(error = %e, "closing a dropped client");
                    }
                });
            }
            // No runtime left to talk to the server: stop locally.
            Err(_) => self.inner.end(closed_error()),
        }
    }
}

/// Unwraps the expected result variant of a response, or fails with a
/// protocol error naming what came instead.
macro_rules! expect {
    ($resp:expr, $variant:ident) => {
        match $resp.result {
            Some(Res::$variant(x)) => x,
            other => {
                return Err(Error::Protocol(format!(
                    "expected a {} response, got {}",
                    stringify!($variant),
                    result_name(&other)
                )));
            }
        }
    };
}

pub(super) fn result_name(r: &Option<Res>) -> &'static str {
    match r {
        None => "no result",
        Some(Res::Create(_)) => "Create",
        Some(Res::Delete(_)) => "Delete",
        Some(Res::Exists(_)) => "Exists",
        Some(Res::GetData(_)) => "GetData",
        Some(Res::SetData(_)) => "SetData",
        Some(Res::GetChildren(_)) => "GetChildren",
        Some(Res::Multi(_)) => "Multi",
        Some(Res::Sync(_)) => "Sync",
        Some(Res::Ping(_)) => "Ping",
        Some(Res::SetWatches(_)) => "SetWatches",
        Some(Res::AddWatch(_)) => "AddWatch",
        Some(Res::RemoveWatches(_)) => "RemoveWatches",
        Some(Res::CloseSession(_)) => "CloseSession",
        Some(Res::ClusterStatus(_)) => "ClusterStatus",
        Some(Res::ClusterChange(_)) => "ClusterChange",
        Some(Res::SetQuota(_)) => "SetQuota",
        Some(Res::GetQuota(_)) => "GetQuota",
        Some(Res::Export(_)) => "Export",
        Some(Res::GetAcl(_)) => "GetAcl",
        Some(Res::SetAcl(_)) => "SetAcl",
        Some(Res::AddAuth(_)) => "AddAuth",
        Some(Res::WhoAmI(_)) => "WhoAmI",
        Some(Res::SessionInfo(_)) => "SessionInfo",
    }
}

impl Client {
    /// A builder with every default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects to `servers` (`host:port,host:port`) with default settings.
    pub async fn connect(servers: &str) -> Result<Client> {
        Self::builder().servers(servers).connect().await
    }

    /// `$COORD_SERVERS`, or `127.0.0.1:2281` when unset.
    pub fn default_servers() -> String {
        default_servers()
    }

    /// Opens the session and starts the tasks (see [`ClientBuilder::connect`]).
    pub(crate) async fn start(config: Config) -> Result<Client> {
        let inner = Inner::new(config);
        supervisor::start(&inner).await?;
        Ok(Client {
            handle: Arc::new(Handle { inner }),
        })
    }

    pub(super) fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// The session id.
    pub fn session_id(&self) -> u64 {
        self.inner().creds().session_id
    }

    /// The session timeout negotiated with the server.
    pub fn session_timeout(&self) -> Duration {
        self.inner().creds().timeout
    }

    /// The session's current state.
    pub fn state(&self) -> SessionState {
        self.inner().state()
    }

    /// The current state, then every change; ends after a terminal state.
    pub fn state_changes(&self) -> StateStream {
        self.inner().subscribe()
    }

    /// Watch events this client has received from servers (one per server
    /// notification, however many local watchers it fed): what a herd inflates.
    pub fn events_received(&self) -> u64 {
        self.inner().events_received()
    }

    /// Local watchers (one-shot futures, watch streams) woken by those events
    /// so far: the number of waiters a change actually woke. A one-shot watch
    /// whose handle was dropped is not counted.
    pub fn watchers_woken(&self) -> u64 {
        self.inner().watchers_woken()
    }

    /// The newest zxid this client has seen.
    pub fn last_zxid(&self) -> u64 {
        self.inner().last_zxid()
    }

    /// Sends a read with `min_zxid` = the newest zxid this client has seen
    /// (a server that is behind waits until it has applied it, so reads
    /// never go back in time); `action` is done when the answer arrives.
    pub(super) async fn read(&self, op: Req, action: Action) -> Result<proto::Response> {
        self.inner().call(op, true, action).await
    }

    /// Sends `op` without `min_zxid` (the server does not first catch up to
    /// what this client has seen) and with no watch action: for writes, which
    /// the log orders after everything this session sent; for `sync`, which
    /// waits for a quorum-confirmed read index anyway; and for `add_watch`.
    pub(super) async fn call_without_min_zxid(&self, op: Req) -> Result<proto::Response> {
        self.inner().call(op, false, Action::None).await
    }

    /// Creates a node; returns its path (with the sequence suffix, if any).
    pub async fn create(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        mode: CreateMode,
    ) -> Result<String> {
        Ok(self.create_with_stat(path, data, mode).await?.0)
    }

    /// Creates a node; returns its path and its stat.
    pub async fn create_with_stat(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        let resp = self
            .call_without_min_zxid(Req::Create(proto::CreateRequest {
                path: path.to_string(),
                data: data.into(),
                mode: Some(mode.into()),
                return_predecessor: false,
                acl: Vec::new(),
            }))
            .await?;
        let c = expect!(resp, Create);
        Ok((c.path, stat_from_proto(c.stat, "CreateResponse.stat")?))
    }

    /// Creates a node and, in the same round trip, learns the sibling just
    /// ahead of it in sequence order (`None` when it is first). This is what
    /// makes an uncontended lock one round trip to take.
    pub async fn create_with_predecessor(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        mode: CreateMode,
    ) -> Result<(String, Stat, Option<String>)> {
        let resp = self
            .call_without_min_zxid(Req::Create(proto::CreateRequest {
                path: path.to_string(),
                data: data.into(),
                mode: Some(mode.into()),
                return_predecessor: true,
                acl: Vec::new(),
            }))
            .await?;
        let c = expect!(resp, Create);
        let predecessor = (!c.predecessor.is_empty()).then_some(c.predecessor);
        Ok((
            c.path,
            stat_from_proto(c.stat, "CreateResponse.stat")?,
            predecessor,
        ))
    }

    /// Creates a node, first creating its missing ancestors as empty
    /// persistent nodes (an ancestor that already exists is fine).
    pub async fn create_parents(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        mode: CreateMode,
    ) -> Result<String> {
        let data = data.into();
        match self.create(path, data.clone(), mode).await {
            Err(Error::NoNode(_)) => {}
            other => return other,
        }
        let mut parents: Vec<&str> = ancestors(path).filter(|p| *p != "/").collect();
        parents.reverse();
        for parent in parents {
            match self
                .create(parent, Bytes::new(), CreateMode::Persistent)
                .await
            {
                Ok(_) | Err(Error::NodeExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.create(path, data, mode).await
    }

    /// Deletes a node; `version` `Some(v)` fails with `BadVersion` unless it matches.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let resp = self
            .call_without_min_zxid(Req::Delete(proto::DeleteRequest {
                path: path.to_string(),
                version: version.unwrap_or(-1),
            }))
            .await?;
        expect!(resp, Delete);
        Ok(())
    }

    async fn exists_inner(&self, path: &str, action: Action) -> Result<Option<Stat>> {
        let watch = !matches!(action, Action::None);
        let resp = self
            .read(
                Req::Exists(proto::ExistsRequest {
                    path: path.to_string(),
                    watch,
                }),
                action,
            )
            .await;
        match resp {
            Ok(resp) => Ok(expect!(resp, Exists).stat.as_ref().map(Stat::from)),
            Err(Error::NoNode(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The node's stat, or `None` when it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        self.exists_inner(path, Action::None).await
    }

    /// Like [`Client::exists`], and watches the node: the watch fires on its
    /// creation, data change or deletion.
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, OneshotWatch)> {
        let (action, watch) = oneshot_action(path, OneshotRequest::Exists);
        Ok((self.exists_inner(path, action).await?, watch))
    }

    async fn get_inner(&self, path: &str, action: Action) -> Result<(Bytes, Stat)> {
        let watch = !matches!(action, Action::None);
        let resp = self
            .read(
                Req::GetData(proto::GetDataRequest {
                    path: path.to_string(),
                    watch,
                }),
                action,
            )
            .await?;
        let g = expect!(resp, GetData);
        Ok((g.data, stat_from_proto(g.stat, "GetDataResponse.stat")?))
    }

    /// The node's data and stat.
    pub async fn get(&self, path: &str) -> Result<(Bytes, Stat)> {
        self.get_inner(path, Action::None).await
    }

    /// Like [`Client::get`], and watches the node's data: the watch fires on
    /// its data change or deletion. No watch is set if the node is missing.
    pub async fn get_watch(&self, path: &str) -> Result<(Bytes, Stat, OneshotWatch)> {
        let (action, watch) = oneshot_action(path, OneshotRequest::Data);
        let (data, stat) = self.get_inner(path, action).await?;
        Ok((data, stat, watch))
    }

    /// Replaces the node's data; `version` `Some(v)` fails with `BadVersion`
    /// unless it matches. Returns the new stat.
    pub async fn set(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        version: Option<i32>,
    ) -> Result<Stat> {
        let resp = self
            .call_without_min_zxid(Req::SetData(proto::SetDataRequest {
                path: path.to_string(),
                data: data.into(),
                version: version.unwrap_or(-1),
            }))
            .await?;
        stat_from_proto(expect!(resp, SetData).stat, "StatResponse.stat")
    }

    /// Applies `ops` atomically. If any op fails, nothing is applied and the
    /// failing op's error is returned, its detail prefixed with `op #i: `.
    pub async fn multi(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let results = self.multi_results(ops).await?;
        if let Some((i, e)) = failing_op(&results) {
            return Err(Error::from_code(
                e.code(),
                format!("op #{i}: {}", e.detail()),
            ));
        }
        Ok(results)
    }

    /// Applies `ops` atomically and returns one result per op, also when the
    /// multi failed (then every result is an [`OpResult::Error`]: see its docs).
    pub async fn multi_results(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let resp = self
            .call_without_min_zxid(Req::Multi(proto::MultiRequest {
                ops: ops.iter().map(proto::Op::from).collect(),
            }))
            .await?;
        expect!(resp, Multi)
            .results
            .into_iter()
            .map(OpResult::try_from)
            .collect()
    }

    /// A barrier: returns once the server this client talks to has applied
    /// every write committed before the call, so that later reads are
    /// linearizable with respect to it.
    ///
    /// In a cluster the server asks the leader for a read index a quorum
    /// confirmed. During an election it waits for the next leader (at most
    /// 4 election timeouts plus 2 heartbeats, 0.7 s with the defaults);
    /// `Error::NotLeader` means no leader could be reached from that server
    /// in time (it is on the minority side of a partition): retry, and the
    /// client may meanwhile have moved to another member.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let resp = self
            .call_without_min_zxid(Req::Sync(proto::SyncRequest {
                path: path.to_string(),
            }))
            .await?;
        expect!(resp, Sync);
        Ok(())
    }

    /// The cluster as the server this client talks to sees it: members,
    /// roles, the leader, and (when that server leads) each member's lag.
    pub async fn cluster_status(&self) -> Result<proto::ClusterStatus> {
        let resp = self
            .call_without_min_zxid(Req::ClusterStatus(proto::ClusterStatusRequest {}))
            .await?;
        Ok(expect!(resp, ClusterStatus))
    }

    /// Changes the cluster's membership; the server must be the leader
    /// (others answer `NotLeader`). Returns the membership after the change.
    pub async fn cluster_change(
        &self,
        change: proto::cluster_change_request::Change,
    ) -> Result<proto::ClusterStatus> {
        let resp = self
            .call_without_min_zxid(Req::ClusterChange(proto::ClusterChangeRequest {
                change: Some(change),
            }))
            .await?;
        Ok(expect!(resp, ClusterChange))
    }

    /// Sets a persistent watch on `path` (see [`WatchMode`]). It stays until
    /// the stream is dropped, [`Client::remove_watches`] removes it, or the
    /// session ends; it survives reconnects.
    pub async fn watch(&self, path: &str, mode: WatchMode) -> Result<WatchStream> {
        let stream = WatchStream::register(self.inner(), mode, path);
        let resp = self
            .call_without_min_zxid(Req::AddWatch(proto::AddWatchRequest {
                path: path.to_string(),
                mode: proto::WatchMode::from(mode) as i32,
            }))
            .await?;
        expect!(resp, AddWatch);
        Ok(stream)
    }

    /// Removes this session's watches of `kind` on `path`, here and on the
    /// server; the removed watchers end with `Error::Cancelled`. Fails with
    /// `NoWatcher` when there is none.
    pub async fn remove_watches(&self, path: &str, kind: WatcherType) -> Result<()> {
        if !self.inner().has_watch(path, kind) {
            return Err(Error::NoWatcher(format!("no {kind:?} watcher on {path}")));
        }
        let op = Req::RemoveWatches(proto::RemoveWatchesRequest {
            path: path.to_string(),
            watcher_type: proto::WatcherType::from(kind) as i32,
        });
        let action = Action::RemoveWatches {
            path: path.to_string(),
            kind,
        };
        match self.inner().call(op, false, action).await {
            Ok(_) | Err(Error::NoWatcher(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Closes the session: the server deletes its ephemerals at once, every
    /// watch ends with `Closed`, later calls fail with `Error::Closed`.
    /// Idempotent (later calls return the first call's result). On an expired
    /// session it does nothing and returns `Ok`.
    pub async fn close(&self) -> Result<()> {
        self.inner().close().await
    }
}

/// The listing a `GetChildren` response carries (for `children`).
pub(super) fn children_result(resp: proto::Response) -> Result<proto::GetChildrenResponse> {
    Ok(expect!(resp, GetChildren))
}

/// A watch action for a read and the handle its caller gets.
pub(super) fn oneshot_action(path: &str, kind: OneshotRequest) -> (Action, OneshotWatch) {
    let (tx, rx) = oneshot::channel();
    let action = Action::Watch {
        path: path.to_string(),
        kind,
        tx,
    };
    (action, OneshotWatch::new(rx))
}
