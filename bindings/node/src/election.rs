//! Leader election: [`NativeElection`] (one candidate), the current leader
//! of a path, and [`NativeLeaderStream`] (every change of leader).

use std::sync::Arc;

use coord_client::embed::{CancelToken, ClosableStream};
use coord_client::recipes::{Election, LeaderInfo};
use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::cancel::{cancellable, millis};
use crate::client::NativeClient;
use crate::error::IntoJs;

/// Who leads, and the term's fencing token.
#[napi(object, object_from_js = false)]
pub struct Leader {
    /// Full path of the leader's candidate node.
    pub node: String,
    /// The identity the leader campaigned with.
    pub identity: Buffer,
    /// The term's fencing token (strictly increases from term to term).
    pub token: u64,
}

impl From<LeaderInfo> for Leader {
    fn from(l: LeaderInfo) -> Self {
        Leader {
            node: l.node,
            identity: l.identity.to_vec().into(),
            token: l.token,
        }
    }
}

/// A change of leader: `leader` is `null` when nobody campaigns.
#[napi(object, object_from_js = false)]
pub struct LeaderChange {
    /// The new leader.
    pub leader: Option<Leader>,
}

#[napi]
impl NativeClient {
    /// A candidate in the election at `path`, campaigning with `identity`.
    #[napi]
    pub fn election_handle(&self, path: String, identity: Buffer) -> NativeElection {
        NativeElection {
            election: Arc::new(Election::new(&self.client, &path, &identity[..])),
            cancel: CancelToken::new(),
        }
    }

    /// The current leader at `path`, or `null`.
    #[napi]
    pub async fn leader(&self, path: String) -> Result<Option<Leader>> {
        Ok(Election::leader(&self.client, &path)
            .await
            .js()?
            .map(Leader::from))
    }

    /// The leader at `path` now, then every change.
    #[napi]
    pub fn observe_leader(&self, path: String) -> NativeLeaderStream {
        NativeLeaderStream {
            stream: ClosableStream::new(Election::observe(&self.client, &path)),
        }
    }
}

/// One candidate.
#[napi]
pub struct NativeElection {
    election: Arc<Election>,
    cancel: CancelToken,
}

#[napi]
impl NativeElection {
    /// The election's path.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.election.path().to_string()
    }

    /// Waits until elected (at most `timeoutMs`: `LOCK_TIMEOUT`).
    #[napi]
    pub async fn campaign(&self, timeout_ms: Option<u32>) -> Result<Leader> {
        let fut = async {
            match millis(timeout_ms) {
                Some(t) => self.election.campaign_timeout(t).await,
                None => self.election.campaign().await,
            }
        };
        Ok(cancellable(&self.cancel, fut).await.js()?.into())
    }

    /// Aborts a waiting `campaign()` (its node is deleted); later campaigns
    /// of this handle may run again.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Makes `cancel()` forgotten, for the next campaign.
    #[napi]
    pub fn reset_cancel(&self) {
        self.cancel.reset();
    }

    /// Gives up leadership; nothing when not leading.
    #[napi]
    pub async fn resign(&self) -> Result<()> {
        self.election.resign().await.js()
    }

    /// True while this candidate leads.
    #[napi(getter)]
    pub fn is_leader(&self) -> bool {
        self.election.is_leader()
    }

    /// The current term while leading.
    #[napi(getter)]
    pub fn term(&self) -> Option<Leader> {
        self.election.term_info().map(Leader::from)
    }

    /// Resolves `true` when the current term is lost, `false` when it ends
    /// by `resign()` or there is none.
    #[napi]
    pub async fn wait_lost(&self) -> bool {
        match self.election.lost_signal() {
            Some(mut rx) => rx.wait_for(|lost| *lost).await.is_ok(),
            None => false,
        }
    }
}

/// Changes of leader, one `next()` at a time (the core's one closable
/// stream, `embed::ClosableStream`).
#[napi]
pub struct NativeLeaderStream {
    stream: ClosableStream<Option<LeaderInfo>>,
}

#[napi]
impl NativeLeaderStream {
    /// The next change; `null` once closed or ended (closing the client
    /// ends it too, without an error); never an item after `close()`.
    /// Rejects once with the error that ended it (`SESSION_EXPIRED`),
    /// then resolves `null`.
    #[napi]
    pub async fn next(&self) -> Result<Option<LeaderChange>> {
        let leader = self.stream.next().await.js()?;
        Ok(leader.map(|leader| LeaderChange {
            leader: leader.map(Leader::from),
        }))
    }

    /// Stops following: no change is delivered after this, a pending
    /// `next()` resolves `null`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.stream.close();
        Ok(())
    }
}
