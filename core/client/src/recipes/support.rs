//! Private helpers of the client-side recipes (lock, semaphore, election,
//! group, barriers, queue, counter, caches, discovery): deadlines and the one
//! retry rule ([`is_retryable`], [`retry_after`]), creating an ephemeral node
//! that survives a lost reply, [`OwnedNode`] (the node a held lock, lease,
//! leader term or membership owns: loss signal and delete-on-drop), which op
//! made a multi fail (`coord_proto::failing_op`), and [`Watched`], the loop
//! "watch, then re-read after every event and after every reconnect" that the
//! caches and the change streams share.
//!
//! It only uses the public [`Client`] API. It must not hold recipe decisions
//! (those live in `sequence`) nor the waiting line (that is `line`, whose
//! cleanup helpers are re-exported here for the recipes that need them).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{
    Client, CreateMode, EventType, OneshotWatch, SessionState, Stat, StateStream, WatchEvent,
    WatchMode, WatchStream,
};
use crate::error::{Error, Result};

pub(crate) use super::line::{NodeCleanup, child_path, delete_quietly};

/// Pause before retrying a request that failed with a connection loss or a
/// request timeout (the client reconnects meanwhile and holds new requests
/// while suspended, so a short pause is enough).
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Most attempts of an idempotent write (create of our own node, delete)
/// across connection losses.
pub(crate) const WRITE_ATTEMPTS: usize = 10;

/// Most events drained at once before re-reading (bounds one coalescing pass).
const DRAIN_LIMIT: usize = 1024;

/// The parent of an absolute path (`/` for top-level nodes).
pub(crate) fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Fails with `BadArguments` unless `name` can be one path segment.
pub(crate) fn check_segment(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::BadArguments(format!(
            "{what} {name:?} must be one non-empty path segment"
        )));
    }
    Ok(())
}

/// True for the failures after which the same request may simply be sent
/// again: the connection was lost or the request timed out (the session lives).
/// The one definition of "retryable" for every recipe.
pub(crate) fn is_retryable(e: &Error) -> bool {
    matches!(e, Error::ConnectionLoss(_) | Error::OperationTimeout(_))
}

/// The recipes' retry step after a failed request: when `e` is retryable
/// ([`is_retryable`]) sleeps [`RETRY_PAUSE`] and returns `Ok` (send again),
/// or fails with `timeout()` if the deadline comes first; any other failure
/// is returned as is. Without a deadline the retries are bounded by the
/// session: a client that cannot reconnect expires.
pub(crate) async fn retry_after(
    e: Error,
    deadline: Option<Instant>,
    timeout: impl FnOnce() -> Error,
) -> Result<()> {
    if !is_retryable(&e) {
        return Err(e);
    }
    pause(deadline, timeout).await
}

/// The deadline `timeout` from now.
pub(crate) fn deadline_in(timeout: Duration) -> Instant {
    Instant::now() + timeout
}

/// `OperationTimeout` naming what did not happen in time.
pub(crate) fn timeout_error(what: &str) -> Error {
    Error::OperationTimeout(format!("{what}: not done within the timeout"))
}

/// The `timeout` of a retry without a deadline (never called).
fn no_deadline() -> Error {
    Error::Internal("a retry without a deadline timed out".into())
}

/// Sleeps [`RETRY_PAUSE`], or fails with `timeout` if the deadline comes first.
pub(crate) async fn pause(
    deadline: Option<Instant>,
    timeout: impl FnOnce() -> Error,
) -> Result<()> {
    let wake = Instant::now() + RETRY_PAUSE;
    match deadline {
        Some(d) if d <= wake => Err(timeout()),
        _ => {
            tokio::time::sleep_until(wake).await;
            Ok(())
        }
    }
}

/// Awaits `fut` until the deadline; `timeout()` afterwards.
pub(crate) async fn until<T>(
    deadline: Option<Instant>,
    fut: impl Future<Output = Result<T>>,
    timeout: impl FnOnce() -> Error,
) -> Result<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut)
            .await
            .unwrap_or_else(|_| Err(timeout())),
        None => fut.await,
    }
}

/// Waits until a one-shot watch fires (a connection loss counts as fired: the
/// caller re-reads anyway), or the deadline passes (`timeout()`).
pub(crate) async fn fired(
    watch: OneshotWatch,
    deadline: Option<Instant>,
    timeout: impl FnOnce() -> Error,
) -> Result<()> {
    let waited = until(deadline, async { Ok(watch.await) }, timeout).await?;
    match waited {
        Ok(_) => Ok(()),
        Err(e) if is_retryable(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the missing ancestors of `dir` and `dir` itself as persistent nodes.
pub(crate) async fn ensure_dir(client: &Client, dir: &str) -> Result<()> {
    if dir == "/" {
        return Ok(());
    }
    for _ in 0..WRITE_ATTEMPTS {
        match client
            .create_parents(dir, Bytes::new(), CreateMode::Persistent)
            .await
        {
            Ok(_) | Err(Error::NodeExists(_)) => return Ok(()),
            Err(e) if is_retryable(&e) => tokio::time::sleep(RETRY_PAUSE).await,
            Err(e) => return Err(e),
        }
    }
    Err(Error::ConnectionLoss(format!("could not create {dir}")))
}

/// Creates the ephemeral node `path` for this session (missing ancestors as
/// persistent nodes) and returns its stat. A create whose reply was lost is
/// recovered: a node at `path` owned by our session is ours. A node at `path`
/// owned by another session is `NodeExists`.
pub(crate) async fn create_own_ephemeral(client: &Client, path: &str, data: Bytes) -> Result<Stat> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        match client
            .create_with_stat(path, data.clone(), CreateMode::Ephemeral)
            .await
        {
            Ok((_, stat)) => return Ok(stat),
            Err(Error::NoNode(_)) => ensure_dir(client, parent_of(path)).await?,
            Err(Error::NodeExists(d)) => match client.exists(path).await {
                Ok(Some(stat)) if stat.ephemeral_owner == client.session_id() => return Ok(stat),
                Ok(Some(_)) => return Err(Error::NodeExists(d)),
                Ok(None) => {}
                Err(e) if is_retryable(&e) => last = Some(e),
                Err(e) => return Err(e),
            },
            Err(e) if is_retryable(&e) => {
                last = Some(e);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::ConnectionLoss(format!("could not create {path}"))))
}

/// Deletes the ephemeral node `path` only if our session owns it (a node
/// under the same name created by another session is left alone), retrying
/// across connection losses; a missing node counts as deleted.
pub(crate) async fn delete_own(client: &Client, path: &str) -> Result<()> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let stat = match client.exists(path).await {
            Ok(None) => return Ok(()),
            Ok(Some(stat)) if stat.ephemeral_owner != client.session_id() => return Ok(()),
            Ok(Some(stat)) => stat,
            Err(e) if is_retryable(&e) => {
                last = Some(e);
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match client.delete(path, Some(stat.version)).await {
            Ok(()) | Err(Error::NoNode(_)) => return Ok(()),
            Err(Error::BadVersion(_)) => {}
            Err(e) if is_retryable(&e) => {
                last = Some(e);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::ConnectionLoss(format!("could not delete {path}"))))
}

/// Watches `node` until it is deleted or the session ends, then turns the
/// returned flag `true`. Re-arms after data changes and connection losses.
/// The task ends once it has raised the flag; abort it when the node is
/// given up on purpose.
fn watch_presence(client: &Client, node: &str) -> (watch::Receiver<bool>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let client = client.clone();
    let node = node.to_string();
    let task = tokio::spawn(async move {
        loop {
            match client.exists_watch(&node).await {
                Ok((None, _)) => break,
                Ok((Some(_), w)) => match w.await {
                    Ok(ev) if ev.kind == EventType::NodeDeleted => break,
                    Ok(_) => continue,
                    Err(e) if is_retryable(&e) => continue,
                    Err(_) => break,
                },
                Err(e) if is_retryable(&e) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(_) => break,
            }
        }
        tx.send_replace(true);
    });
    (rx, task)
}

/// The node a held lock, lease, leader term or membership owns: watched for
/// loss (deleted by someone else, or gone with the session) and deleted when
/// given up, by [`OwnedNode::release`] or, in the background, on drop. The
/// one drop guard of the recipes' owned nodes.
#[derive(Debug)]
pub(crate) struct OwnedNode {
    path: String,
    /// Deletes the node on drop (or on release) unless disarmed.
    cleanup: Option<NodeCleanup>,
    lost: watch::Receiver<bool>,
    monitor: JoinHandle<()>,
}

impl OwnedNode {
    /// Takes over the node `cleanup` guards (our node is now held) and starts
    /// watching it for loss. Must be called inside the runtime.
    pub(crate) fn hold(client: &Client, cleanup: NodeCleanup) -> Self {
        let path = cleanup.path().to_string();
        let (lost, monitor) = watch_presence(client, &path);
        OwnedNode {
            path,
            cleanup: Some(cleanup),
            lost,
            monitor,
        }
    }

    /// Full path of the node.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// True once the node was lost (session ended or node deleted).
    pub(crate) fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves once the node is lost.
    pub(crate) async fn lost(&self) {
        let mut rx = self.lost_signal();
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// A receiver that turns `true` when the node is lost.
    pub(crate) fn lost_signal(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Deletes the node now and waits for it (a node already gone counts as
    /// deleted).
    pub(crate) async fn release(mut self) -> Result<()> {
        self.monitor.abort();
        match self.cleanup.take() {
            Some(c) => c.run().await,
            None => Ok(()),
        }
    }

    /// Gives the node up without deleting it (it is known to be gone).
    pub(crate) fn forget(mut self) {
        self.monitor.abort();
        if let Some(c) = self.cleanup.take() {
            c.disarm();
        }
    }
}

impl Drop for OwnedNode {
    fn drop(&mut self) {
        // The cleanup, if still armed, deletes the node in the background.
        self.monitor.abort();
    }
}

/// Why a [`Watched`] asks its owner to re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Re-read everything: the watch was just set, or the client reconnected.
    Resync,
    /// These paths changed (deduplicated, sorted so parents come first): the
    /// path of every event, and for creations and deletions its parent too.
    Changed(BTreeSet<String>),
}

/// A persistent watch plus the session's state changes: tells its owner when
/// to re-read. Events carry no data, so the owner re-reads after each wake and
/// can never miss the last value of a burst.
pub(crate) struct Watched {
    client: Client,
    path: String,
    mode: WatchMode,
    watch: Option<WatchStream>,
    states: Option<StateStream>,
    connected: bool,
}

impl Watched {
    /// Nothing is registered until the first [`Watched::next`].
    pub(crate) fn new(client: &Client, path: &str, mode: WatchMode) -> Self {
        Watched {
            client: client.clone(),
            path: path.to_string(),
            mode,
            watch: None,
            states: None,
            connected: true,
        }
    }

    /// The client this watch belongs to.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The next reason to re-read. The first call sets the watch and returns
    /// [`Wake::Resync`]. Fails with the error that ended the watch
    /// (`SessionExpired`, `Closed`, `Cancelled`); retries connection losses
    /// until the session ends.
    pub(crate) async fn next(&mut self) -> Result<Wake> {
        if self.watch.is_none() {
            // Subscribe first: a reconnect after the watch is set must not be missed.
            self.states = Some(self.client.state_changes());
            self.watch = Some(self.register().await?);
            return Ok(Wake::Resync);
        }
        let Watched {
            watch: Some(watch),
            states,
            connected,
            ..
        } = self
        else {
            return Err(Error::Internal("watch not set".into()));
        };
        loop {
            let state = async {
                match states.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = watch.next() => return drain(watch, ev),
                st = state => match st {
                    Some(SessionState::Connected) => {
                        if !std::mem::replace(connected, true) {
                            return Ok(Wake::Resync);
                        }
                    }
                    Some(SessionState::Suspended | SessionState::Connecting) => *connected = false,
                    // Terminal: the watch stream ends with the reason next.
                    Some(SessionState::Expired | SessionState::Closed) | None => *states = None,
                },
            }
        }
    }

    async fn register(&self) -> Result<WatchStream> {
        loop {
            match self.client.watch(&self.path, self.mode).await {
                Ok(w) => return Ok(w),
                // Bounded by the session: a client that cannot reconnect expires.
                Err(e) => retry_after(e, None, no_deadline).await?,
            }
        }
    }
}

/// The paths of `first` and of every event already queued behind it, so that
/// a burst costs one re-read per path.
fn drain(watch: &mut WatchStream, first: Option<Result<WatchEvent>>) -> Result<Wake> {
    let mut paths = BTreeSet::new();
    let mut next = first;
    for drained in 1.. {
        match next {
            // Events were missed (too long away): only a full re-read is safe.
            Some(Ok(ev)) if ev.kind == EventType::EventsLost => return Ok(Wake::Resync),
            Some(Ok(ev)) => {
                // A child came or went: the parent's stat (children, cversion) changed too.
                if matches!(ev.kind, EventType::NodeCreated | EventType::NodeDeleted)
                    && ev.path != "/"
                {
                    paths.insert(parent_of(&ev.path).to_string());
                }
                paths.insert(ev.path);
            }
            Some(Err(e)) => return Err(e),
            None => return Err(Error::Closed("the watch ended".into())),
        }
        if drained >= DRAIN_LIMIT {
            break;
        }
        match watch.next().now_or_never() {
            Some(item) => next = item,
            None => break,
        }
    }
    Ok(Wake::Changed(paths))
}

/// Calls `read` until it succeeds or fails with a non-retryable error
/// (bounded by the session: a client that cannot reconnect expires).
pub(crate) async fn read_retrying<T, Fut>(mut read: impl FnMut() -> Fut) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    loop {
        match read().await {
            Err(e) => retry_after(e, None, no_deadline).await?,
            ok => return ok,
        }
    }
}

/// A stream of `read(client, path)`: the current value first, then the value
/// after every change seen by a persistent watch of `mode` on `path` and after
/// every reconnect, skipping values equal to the last one yielded. After the
/// watch ends (session expired, client closed) it yields that error and ends.
pub(crate) fn changes<T, F, Fut>(
    client: &Client,
    path: &str,
    mode: WatchMode,
    read: F,
) -> BoxStream<'static, Result<T>>
where
    T: Clone + PartialEq + Send + 'static,
    F: Fn(Client, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    struct St<T, F> {
        watched: Watched,
        path: String,
        read: F,
        last: Option<T>,
        done: bool,
    }
    let st = St {
        watched: Watched::new(client, path, mode),
        path: path.to_string(),
        read,
        last: None,
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            if let Err(e) = st.watched.next().await {
                st.done = true;
                return Some((Err(e), st));
            }
            let client = st.watched.client().clone();
            let value = read_retrying(|| (st.read)(client.clone(), st.path.clone())).await;
            match value {
                Ok(v) if st.last.as_ref() == Some(&v) => continue,
                Ok(v) => {
                    st.last = Some(v.clone());
                    return Some((Ok(v), st));
                }
                Err(e) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(parent_of("/a/b/c"), "/a/b");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(child_path("/", "x"), "/x");
        assert_eq!(child_path("/a", "x"), "/a/x");
    }

    #[test]
    fn connection_loss_and_request_timeout_are_the_retryable_failures() {
        assert!(is_retryable(&Error::ConnectionLoss(String::new())));
        assert!(is_retryable(&Error::OperationTimeout(String::new())));
        assert!(!is_retryable(&Error::SessionExpired(String::new())));
        assert!(!is_retryable(&Error::NoNode(String::new())));
    }

    #[test]
    fn segments_reject_slashes_and_empties() {
        assert!(check_segment("member", "a-1").is_ok());
        assert!(check_segment("member", "").is_err());
        assert!(check_segment("member", "a/b").is_err());
        assert!(check_segment("member", "..").is_err());
    }
}
