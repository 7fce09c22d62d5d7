//! One-shot watches ([`NativeOneshot`]), watch removal, children with
//! stats, and the session's state changes ([`NativeStateStream`]).
//!
//! Each is one core call (`get_watch`, `exists_watch`, `children_watch`,
//! `remove_watches`, `children_with_stats`, `state_changes`); this module
//! only converts. A one-shot watch is awaited through `wait()`, which
//! `cancel()` aborts (the JS side calls it when its `AbortSignal` aborts):
//! the core watch is then dropped, i.e. abandoned locally.

use std::sync::Mutex;

use bytes::Bytes;
use coord_client::Error;
use coord_client::client::{OneshotWatch, SessionState, Stat as CoreStat, WatcherType};
use coord_client::embed::{CancelToken, ClosableStream};
use futures::StreamExt;
use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::cancel::cancellable;
use crate::client::NativeClient;
use crate::convert::{Stat, WatchEventJs};
use crate::error::{IntoJs, bad_arguments};

/// One child and its stat (`childrenWithStats`).
#[napi(object, object_from_js = false)]
pub struct ChildStat {
    /// The child's name (not its path).
    pub name: String,
    /// The child's stat.
    pub stat: Stat,
}

/// A node's children with their stats, and the node's own stat.
#[napi(object, object_from_js = false)]
pub struct ChildrenWithStats {
    /// The children, sorted by name.
    pub children: Vec<ChildStat>,
    /// The parent's stat.
    pub stat: Stat,
}

#[napi]
impl NativeClient {
    /// The node's data and stat, and a one-shot watch on its data.
    #[napi]
    pub async fn get_watch(&self, path: String) -> Result<NativeOneshot> {
        let (data, stat, watch) = self.client.get_watch(&path).await.js()?;
        Ok(NativeOneshot::new(watch, Some(data), Some(stat), None))
    }

    /// The node's stat (or `null`), and a one-shot watch on its existence
    /// and data.
    #[napi]
    pub async fn exists_watch(&self, path: String) -> Result<NativeOneshot> {
        let (stat, watch) = self.client.exists_watch(&path).await.js()?;
        Ok(NativeOneshot::new(watch, None, stat, None))
    }

    /// The node's children, and a one-shot watch on them.
    #[napi]
    pub async fn children_watch(&self, path: String) -> Result<NativeOneshot> {
        let (children, watch) = self.client.children_watch(&path).await.js()?;
        Ok(NativeOneshot::new(watch, None, None, Some(children)))
    }

    /// The node's children with their stats, and its own stat.
    #[napi]
    pub async fn children_with_stats(&self, path: String) -> Result<ChildrenWithStats> {
        let (children, stat) = self.client.children_with_stats(&path).await.js()?;
        Ok(ChildrenWithStats {
            children: children
                .into_iter()
                .map(|(name, stat)| ChildStat {
                    name,
                    stat: stat.into(),
                })
                .collect(),
            stat: stat.into(),
        })
    }

    /// Removes this session's watches of `kind` on `path` (`'any'`,
    /// `'data'`, `'children'`, `'persistent'`, `'persistentRecursive'`);
    /// `NO_WATCHER` when there is none.
    #[napi]
    pub async fn remove_watches(&self, path: String, kind: String) -> Result<()> {
        let kind = watcher_type(&kind)?;
        self.client.remove_watches(&path, kind).await.js()
    }

    /// The session's state now, then every change; ends after a terminal
    /// state (`'expired'`, `'closed'`).
    #[napi]
    pub fn state_changes(&self) -> NativeStateStream {
        let states = self.client.state_changes().map(|s| Ok(state_name(s)));
        NativeStateStream {
            stream: ClosableStream::new(states),
        }
    }
}

/// A session state as the JS name.
pub(crate) fn state_name(s: SessionState) -> String {
    match s {
        SessionState::Connecting => "connecting",
        SessionState::Connected => "connected",
        SessionState::Suspended => "suspended",
        SessionState::Expired => "expired",
        SessionState::Closed => "closed",
    }
    .to_string()
}

fn watcher_type(kind: &str) -> Result<WatcherType> {
    Ok(match kind {
        "any" => WatcherType::Any,
        "data" => WatcherType::Data,
        "children" => WatcherType::Children,
        "persistent" => WatcherType::Persistent,
        "persistentRecursive" => WatcherType::PersistentRecursive,
        other => {
            return Err(bad_arguments(format!(
                "watcher kind must be 'any', 'data', 'children', 'persistent' or \
                 'persistentRecursive', got {other:?}"
            )));
        }
    })
}

/// A one-shot watch with the read that set it.
#[napi]
pub struct NativeOneshot {
    watch: Mutex<Option<OneshotWatch>>,
    cancel: CancelToken,
    data: Option<Bytes>,
    stat: Option<CoreStat>,
    children: Option<Vec<String>>,
}

impl NativeOneshot {
    fn new(
        watch: OneshotWatch,
        data: Option<Bytes>,
        stat: Option<CoreStat>,
        children: Option<Vec<String>>,
    ) -> Self {
        NativeOneshot {
            watch: Mutex::new(Some(watch)),
            cancel: CancelToken::new(),
            data,
            stat,
            children,
        }
    }
}

#[napi]
impl NativeOneshot {
    /// The data read (`getWatch`), else `null`.
    #[napi(getter)]
    pub fn data(&self) -> Option<Buffer> {
        self.data.as_ref().map(|d| Buffer::from(d.to_vec()))
    }

    /// The stat read (`null` when the node does not exist or for
    /// `childrenWatch`).
    #[napi(getter)]
    pub fn stat(&self) -> Option<Stat> {
        self.stat.map(Stat::from)
    }

    /// The children read (`childrenWatch`), else `null`.
    #[napi(getter)]
    pub fn children(&self) -> Option<Vec<String>> {
        self.children.clone()
    }

    /// Waits for the watch to fire (once; a second call is `BAD_ARGUMENTS`).
    /// `CANCELLED` after `cancel()` (also one made before this call) or when
    /// `removeWatches` removed it.
    #[napi]
    pub async fn wait(&self) -> Result<WatchEventJs> {
        let taken = self.watch.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(watch) = taken else {
            return Err(if self.cancel.is_cancelled() {
                crate::error::js(Error::Cancelled("the watch was cancelled".into()))
            } else {
                bad_arguments("this one-shot watch was already waited for")
            });
        };
        Ok(cancellable(&self.cancel, watch).await.js()?.into())
    }

    /// Aborts `wait()` and abandons the watch.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
        drop(self.watch.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

/// The session's state changes, one `next()` at a time.
#[napi]
pub struct NativeStateStream {
    stream: ClosableStream<String>,
}

#[napi]
impl NativeStateStream {
    /// The next state; `null` once closed or after a terminal state.
    #[napi]
    pub async fn next(&self) -> Result<Option<String>> {
        self.stream.next().await.js()
    }

    /// Stops the stream; a pending `next()` resolves `null`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.stream.close();
        Ok(())
    }
}
