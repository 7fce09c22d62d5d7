//! Watch re-registration after a reconnect (`SetWatches`): the client sends
//! its watches and the last zxid it saw; the server sends every event it
//! missed, then registers what is left.
//!
//! When the history still reaches back to the client's zxid, every retained
//! event after it that reaches one of the watches (coord-proto's routing,
//! the same as for live events) is sent, in zxid order and once per event; a
//! one-shot watch is consumed by the first, as ZooKeeper does. When it does
//! not, each path whose node may have changed since gets one `EventsLost`
//! event, which reaches every watch on that path (one-shot ones are
//! consumed) and tells the client to re-read. A node that exists with every
//! zxid of its stat at or below the client's is known unchanged and is spared.
//!
//! A large request runs in steps so that writes are not stalled behind it:
//! each step holds the state's read lock and the registry's lock for at most
//! [`INDEX_STEP`] retained events, or [`RESUME_STEP`] watches and events to
//! send, then lets go. While a connection resumes, events for it are held
//! back instead of sent (see `WatchRegistry::fire`), merged with the
//! replayed ones by their history sequence number (so each event goes out
//! once) and sent, in zxid order, once every watch is processed, before the
//! `SetWatches` reply. Each
//! watch is registered in the step that replays its history, so what
//! happens after that step reaches it live: the outcome is the same as if
//! the whole request had been handled at the moment of its last step. If the
//! history drops events before a step has looked at them, the watches left
//! get the `EventsLost` treatment.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;
use std::sync::atomic::Ordering;

use coord_proto::watch::watches_reached;

use super::{ConnId, Inner, WatchKind, WatchRegistry, history::History, slot};
use crate::state_machine::{EventType, StateMachine, WatchEvent};

/// Most watches registered in one step.
pub(crate) const RESUME_STEP: usize = 1024;
/// Most retained events looked at in one step.
pub(crate) const INDEX_STEP: usize = 4096;
/// Steps that only catch up with new events before the next watches are
/// processed anyway (the history keeps growing under a write storm).
const CATCH_UP_STEPS: u32 = 8;
/// Sort keys of `EventsLost` events start here, after any real sequence
/// number of the same zxid.
const LOST_KEYS: u64 = 1 << 63;

/// A re-registration in progress for one connection (see the module docs).
pub(crate) struct Resume {
    /// Watches not yet processed, last one first.
    todo: Vec<(WatchKind, String)>,
    /// The same, by kind, to pick the events that matter while indexing.
    wanted: [HashSet<String>; 5],
    /// False once the history no longer covers everything after `last_zxid`.
    complete: bool,
    /// Next history sequence number to index.
    cursor: u64,
    catch_up_steps: u32,
    /// Per kind and path: sequence numbers of the indexed events reaching it
    /// (only the first for one-shot kinds).
    hits: [HashMap<String, Vec<u64>>; 5],
    /// The indexed events that reach some wanted watch, by sequence number.
    events: HashMap<u64, WatchEvent>,
    /// What the client will get, keyed by (zxid, sequence number).
    out: BTreeMap<(u64, u64), WatchEvent>,
    /// Paths that got `EventsLost`.
    lost: HashSet<String>,
}

impl Resume {
    /// Holds back a live event for the connection until the end.
    pub(super) fn hold(&mut self, seq: u64, event: &WatchEvent) {
        self.out.insert((event.zxid, seq), event.clone());
    }

    /// The history was replaced wholesale: nothing after `last_zxid` is known.
    pub(super) fn history_lost(&mut self) {
        self.complete = false;
    }

    /// Indexes retained events not seen yet; `true` once caught up (or after
    /// [`CATCH_UP_STEPS`] steps, when this one takes all that is left).
    fn catch_up(&mut self, history: &History) -> bool {
        if self.cursor < history.first_seq() {
            // Evicted before this resume looked at them.
            self.complete = false;
        }
        if !self.complete {
            self.cursor = history.next_seq();
            self.hits = Default::default();
            self.events = HashMap::new();
            return true;
        }
        self.catch_up_steps += 1;
        let budget = if self.catch_up_steps > CATCH_UP_STEPS {
            usize::MAX
        } else {
            INDEX_STEP
        };
        for (seq, e) in history.since(self.cursor).take(budget) {
            let mut hit = false;
            for (kind, path) in watches_reached(e.kind, &e.path) {
                let s = slot(kind);
                if !self.wanted[s].contains(path) {
                    continue;
                }
                hit = true;
                match self.hits[s].get_mut(path) {
                    Some(seqs) if !kind.is_one_shot() => seqs.push(seq),
                    Some(_) => {}
                    None => {
                        self.hits[s].insert(path.to_string(), vec![seq]);
                    }
                }
            }
            if hit {
                self.events.insert(seq, e.clone());
            }
            self.cursor = seq + 1;
        }
        self.cursor >= history.next_seq()
    }

    /// Replays what one watch missed and registers it unless that consumed it.
    fn process(
        &mut self,
        inner: &mut Inner,
        conn: ConnId,
        (kind, path): (WatchKind, String),
        state_zxid: u64,
        unchanged: &impl Fn(WatchKind, &str) -> bool,
    ) {
        let s = slot(kind);
        self.wanted[s].remove(&path);
        let standing = if self.complete {
            let seqs = self.hits[s].remove(&path).unwrap_or_default();
            for seq in &seqs {
                if let Some(e) = self.events.get(seq) {
                    self.out.insert((e.zxid, *seq), e.clone());
                }
            }
            !kind.is_one_shot() || seqs.is_empty()
        } else if self.lost.contains(&path) {
            !kind.is_one_shot()
        } else if unchanged(kind, &path) {
            true
        } else {
            let key = (state_zxid, LOST_KEYS + self.lost.len() as u64);
            self.out.insert(
                key,
                WatchEvent {
                    kind: EventType::EventsLost,
                    path: path.clone(),
                    zxid: state_zxid,
                },
            );
            // The event reaches every watch on the path: one-shot ones
            // registered by an earlier step are consumed too.
            inner.remove_one_shots(conn, &path);
            self.lost.insert(path.clone());
            !kind.is_one_shot()
        };
        if standing {
            inner.add(conn, &path, kind);
        }
    }
}

/// A request's watches made ready for [`WatchRegistry::begin_resume`]
/// outside any lock: in processing order, and indexed by kind.
pub(crate) struct Prepared {
    /// Last one first.
    todo: Vec<(WatchKind, String)>,
    wanted: [HashSet<String>; 5],
}

impl Prepared {
    /// Prepares `watches` (no duplicates), yielding every [`RESUME_STEP`].
    async fn new(mut watches: Vec<(WatchKind, String)>) -> Prepared {
        let mut wanted: [HashSet<String>; 5] = Default::default();
        for (i, (kind, path)) in watches.iter().enumerate() {
            if i % RESUME_STEP == RESUME_STEP - 1 {
                tokio::task::yield_now().await;
            }
            wanted[slot(*kind)].insert(path.clone());
        }
        watches.reverse();
        Prepared {
            todo: watches,
            wanted,
        }
    }

    /// The same without yielding, for tests.
    #[cfg(test)]
    fn now(watches: &[(WatchKind, &str)]) -> Prepared {
        let mut wanted: [HashSet<String>; 5] = Default::default();
        for (kind, path) in watches {
            wanted[slot(*kind)].insert(path.to_string());
        }
        let todo = watches
            .iter()
            .rev()
            .map(|(k, p)| (*k, p.to_string()))
            .collect();
        Prepared { todo, wanted }
    }
}

/// What a step left to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// More steps are needed.
    More,
    /// Done; the events went out. The state's zxid at the last step.
    Done(u64),
    /// The connection went away (its resume was dropped).
    Gone,
}

impl WatchRegistry {
    /// Starts re-registering `watches` for `conn` after `last_zxid`; from now
    /// on until the last [`WatchRegistry::resume_step`] its events are held
    /// back. `state_zxid` is the state's applied zxid (read lock held).
    /// Takes the registry's lock only to store the prepared resume.
    pub(crate) fn begin_resume(
        &self,
        conn: ConnId,
        last_zxid: u64,
        state_zxid: u64,
        prepared: Prepared,
    ) {
        let mut inner = self.lock();
        let complete = last_zxid >= inner.history.floor(state_zxid);
        let cursor = if complete {
            inner.history.seq_after(last_zxid)
        } else {
            inner.history.next_seq()
        };
        inner.resuming.insert(
            conn,
            Resume {
                todo: prepared.todo,
                wanted: prepared.wanted,
                complete,
                cursor,
                catch_up_steps: 0,
                hits: Default::default(),
                events: HashMap::new(),
                out: BTreeMap::new(),
                lost: HashSet::new(),
            },
        );
    }

    /// One bounded step of `conn`'s re-registration, with the state at
    /// `state_zxid` (the caller holds its read lock); `unchanged` says
    /// whether a watch is known to have missed nothing (consulted only when
    /// the history does not reach back far enough); an event is sent only
    /// if `may_see(session, event)` (no replayed events about nodes the
    /// session cannot read now).
    pub(crate) fn resume_step(
        &self,
        conn: ConnId,
        state_zxid: u64,
        unchanged: impl Fn(WatchKind, &str) -> bool,
        may_see: &dyn Fn(u64, &WatchEvent) -> bool,
    ) -> Step {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(mut resume) = inner.resuming.remove(&conn) else {
            return Step::Gone;
        };
        if !resume.catch_up(&inner.history) {
            inner.resuming.insert(conn, resume);
            return Step::More;
        }
        // Watches first, then what they get, a bounded number per step; a
        // live event arriving meanwhile is newer than everything held, so it
        // still goes out after them.
        let mut budget = RESUME_STEP;
        while budget > 0 {
            let Some(watch) = resume.todo.pop() else {
                break;
            };
            resume.process(inner, conn, watch, state_zxid, &unchanged);
            budget -= 1;
        }
        let sink = inner.sinks.get(&conn);
        while budget > 0 && resume.todo.is_empty() {
            let Some((_, e)) = resume.out.pop_first() else {
                break;
            };
            if let Some(sink) = sink
                && may_see(sink.session(), &e)
            {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                sink.push(&e);
            }
            budget -= 1;
        }
        if resume.todo.is_empty() && resume.out.is_empty() {
            return Step::Done(state_zxid);
        }
        inner.resuming.insert(conn, resume);
        Step::More
    }

    /// Drops an unfinished re-registration (what it registered stays).
    pub(crate) fn abandon_resume(&self, conn: ConnId) {
        self.lock().resuming.remove(&conn);
    }

    /// The whole re-registration in one go, for tests of the semantics.
    #[cfg(test)]
    pub(crate) fn resume(
        &self,
        conn: ConnId,
        last_zxid: u64,
        state_zxid: u64,
        watches: &[(WatchKind, &str)],
        unchanged: impl Fn(WatchKind, &str) -> bool,
    ) {
        self.begin_resume(conn, last_zxid, state_zxid, Prepared::now(watches));
        for _ in 0..1_000_000 {
            if self.resume_step(conn, state_zxid, &unchanged, &|_, _| true) != Step::More {
                return;
            }
        }
        panic!("resume did not finish");
    }
}

/// Abandons the resume if the request's future is dropped half-way.
struct ResumeGuard<'a> {
    registry: &'a WatchRegistry,
    conn: ConnId,
    done: bool,
}

impl Drop for ResumeGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.registry.abandon_resume(self.conn);
        }
    }
}

/// Re-registers a reconnecting client's watches for `conn` in bounded steps
/// (see the module docs), yielding between them. The caller has validated
/// every path and checked the session's watch limit; `watches` holds no
/// duplicates. Returns the state's zxid at the last step, or `None` when the
/// connection went away meanwhile.
pub(crate) async fn set_watches(
    registry: &WatchRegistry,
    sm: &RwLock<StateMachine>,
    conn: ConnId,
    last_zxid: u64,
    watches: Vec<(WatchKind, String)>,
) -> Option<u64> {
    let read = || sm.read().unwrap_or_else(|p| p.into_inner());
    let prepared = Prepared::new(watches).await;
    registry.begin_resume(conn, last_zxid, read().last_zxid(), prepared);
    let mut guard = ResumeGuard {
        registry,
        conn,
        done: false,
    };
    loop {
        let step = {
            let state = read();
            let unchanged = |kind: WatchKind, path: &str| {
                kind != WatchKind::PersistentRecursive
                    && matches!(state.exists(path), Ok(Some(s))
                        if s.czxid.max(s.mzxid).max(s.pzxid) <= last_zxid)
            };
            registry.resume_step(conn, state.last_zxid(), unchanged, &|session, event| {
                state.may_see(session, event)
            })
        };
        match step {
            // Both locks are released here: writers get their turn.
            Step::More => tokio::task::yield_now().await,
            Step::Done(zxid) => {
                guard.done = true;
                return Some(zxid);
            }
            Step::Gone => {
                guard.done = true;
                return None;
            }
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
