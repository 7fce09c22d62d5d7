//! [`NativeClient`]: a session, the node API, transactions and watches; and
//! the factories of the recipe handles.

use std::sync::Arc;
use std::time::Duration;

use coord_client::client::{Client, WatchEvent, WatchMode};
use coord_client::embed::ClosableStream;
use napi::bindgen_prelude::{Buffer, Object};
use napi::{Env, Result};
use napi_derive::napi;

use crate::convert::{self, CreateOptions, Packed, TxnOp, TxnResult, WatchEventJs, create_mode};
use crate::error::IntoJs;
use crate::start::start;

/// Options of [`connect`].
#[napi(object)]
pub struct ConnectOptions {
    /// `host:port,host:port`; default `$COORD_SERVERS`, else `127.0.0.1:2281`.
    pub servers: Option<String>,
    /// Session timeout to ask for (the server clamps it); default 10 000.
    pub session_timeout_ms: Option<u32>,
    /// Limit on each request, reconnect included; default the session timeout.
    pub request_timeout_ms: Option<u32>,
    /// Limit on the first connection; default 5 000.
    pub connect_timeout_ms: Option<u32>,
    /// Speak TLS (PEM files); default plain TCP.
    pub tls: Option<crate::security::TlsConnectOptions>,
    /// Bearer token from the server's tokens file, presented at connect.
    pub token: Option<String>,
    /// ZooKeeper digest credentials, `user:password`, added after connect.
    pub digest: Option<String>,
}

/// Opens a session.
#[napi]
pub async fn connect(options: Option<ConnectOptions>) -> Result<NativeClient> {
    let mut b = Client::builder();
    let mut digest = None;
    if let Some(o) = options {
        b = crate::security::credentials(b, o.tls, o.token, o.digest.as_deref())?;
        digest = o.digest;
        if let Some(s) = o.servers {
            b = b.servers(s);
        }
        if let Some(ms) = o.session_timeout_ms {
            b = b.session_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(ms) = o.request_timeout_ms {
            b = b.request_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(ms) = o.connect_timeout_ms {
            b = b.connect_timeout(Duration::from_millis(ms.into()));
        }
    }
    let client = b.connect().await.js()?;
    if let Some(d) = digest
        && let Err(e) = client.add_auth("digest", d.as_bytes()).await
    {
        let _ = client.close().await;
        return Err(crate::error::js(e));
    }
    Ok(NativeClient { client })
}

/// `$COORD_SERVERS`, or `127.0.0.1:2281` when unset.
#[napi]
pub fn default_servers() -> String {
    Client::default_servers()
}

/// One session with a coord ensemble.
#[napi]
pub struct NativeClient {
    pub(crate) client: Client,
}

#[napi]
impl NativeClient {
    /// The session id.
    #[napi(getter)]
    pub fn session_id(&self) -> u64 {
        self.client.session_id()
    }

    /// The negotiated session timeout.
    #[napi(getter)]
    pub fn session_timeout_ms(&self) -> u32 {
        u32::try_from(self.client.session_timeout().as_millis()).unwrap_or(u32::MAX)
    }

    /// `'connecting'`, `'connected'`, `'suspended'`, `'expired'` or `'closed'`.
    #[napi(getter)]
    pub fn state(&self) -> String {
        crate::watches::state_name(self.client.state())
    }

    /// The newest zxid this client has seen.
    #[napi(getter)]
    pub fn last_zxid(&self) -> u64 {
        self.client.last_zxid()
    }

    /// Closes the session (its ephemerals go at once). Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.client.close().await.js()
    }

    // The node operations start on the calling thread (`start`): a lone
    // request is on the wire before any runtime thread is woken.

    /// Creates a node; resolves to its path (with the sequence suffix).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        path: String,
        data: Option<Buffer>,
        options: Option<CreateOptions>,
    ) -> Result<Object<'env>> {
        let options = options.unwrap_or_default();
        // Checked inside the future: bad options reject the promise.
        let mode = create_mode(&options);
        let data = convert::bytes(data);
        let parents = options.make_parents.unwrap_or(false);
        let client = self.client.clone();
        start(env, async move {
            let mode = mode?;
            if parents {
                client.create_parents(&path, data, mode).await.js()
            } else {
                client.create(&path, data, mode).await.js()
            }
        })
    }

    /// The node's stat and data, packed (`convert::Packed`; `lib/` unpacks).
    #[napi(ts_return_type = "Promise<ArrayBuffer>")]
    pub fn get<'env>(&self, env: &'env Env, path: String) -> Result<Object<'env>> {
        let client = self.client.clone();
        start(env, async move {
            let (data, stat) = client.get(&path).await.js()?;
            Ok(Packed {
                stat,
                data: Some(data),
            })
        })
    }

    /// Replaces the node's data (only at `version` when given); resolves to
    /// the new stat, packed (`convert::Packed`).
    #[napi(ts_return_type = "Promise<ArrayBuffer>")]
    pub fn set<'env>(
        &self,
        env: &'env Env,
        path: String,
        data: Buffer,
        version: Option<i32>,
    ) -> Result<Object<'env>> {
        let data = convert::bytes(Some(data));
        let client = self.client.clone();
        start(env, async move {
            let stat = client.set(&path, data, version).await.js()?;
            Ok(Packed { stat, data: None })
        })
    }

    /// Deletes the node (only at `version` when given).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete<'env>(
        &self,
        env: &'env Env,
        path: String,
        version: Option<i32>,
    ) -> Result<Object<'env>> {
        let client = self.client.clone();
        start(env, async move { client.delete(&path, version).await.js() })
    }

    /// The node's stat, packed (`convert::Packed`), or `null` when it does
    /// not exist.
    #[napi(ts_return_type = "Promise<ArrayBuffer | null>")]
    pub fn exists<'env>(&self, env: &'env Env, path: String) -> Result<Object<'env>> {
        let client = self.client.clone();
        start(env, async move {
            let stat = client.exists(&path).await.js()?;
            Ok(stat.map(|stat| Packed { stat, data: None }))
        })
    }

    /// The names of the node's children, sorted by name (the server lists
    /// them in name order).
    #[napi(ts_return_type = "Promise<Array<string>>")]
    pub fn children<'env>(&self, env: &'env Env, path: String) -> Result<Object<'env>> {
        let client = self.client.clone();
        start(env, async move { client.children(&path).await.js() })
    }

    /// Applies the ops atomically: all or none.
    #[napi]
    pub async fn multi(&self, ops: Vec<TxnOp>) -> Result<Vec<TxnResult>> {
        let ops = ops.into_iter().map(convert::op).collect::<Result<_>>()?;
        let results = self.client.multi(ops).await.js()?;
        Ok(results.into_iter().map(convert::op_result).collect())
    }

    /// Waits until the server has applied every write committed before now.
    #[napi]
    pub async fn sync(&self, path: String) -> Result<()> {
        self.client.sync(&path).await.js()
    }

    /// A persistent watch on `path` (and, when `recursive`, everything below).
    #[napi]
    pub async fn watch(&self, path: String, recursive: bool) -> Result<NativeWatch> {
        let mode = if recursive {
            WatchMode::PersistentRecursive
        } else {
            WatchMode::Persistent
        };
        let stream = self.client.watch(&path, mode).await.js()?;
        Ok(NativeWatch {
            stream: Arc::new(ClosableStream::new(stream)),
        })
    }
}

/// The events of a persistent watch, one `next()` at a time (the core's
/// one closable stream, `embed::ClosableStream`).
#[napi]
pub struct NativeWatch {
    stream: Arc<ClosableStream<WatchEvent>>,
}

#[napi]
impl NativeWatch {
    /// The next event; `null` once closed or ended (closing the client
    /// ends it too, without an error); never an item after `close()`.
    /// Rejects once with the error that ended the watch (`SESSION_EXPIRED`),
    /// then resolves `null`.
    #[napi]
    pub async fn next(&self) -> Result<Option<WatchEventJs>> {
        let ev = self.stream.next().await.js()?;
        Ok(ev.map(Into::into))
    }

    /// Removes the watch: no event is delivered after this, a pending
    /// `next()` resolves `null`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.stream.close();
        Ok(())
    }
}
