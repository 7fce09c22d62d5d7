//! The read side of dispatch: a read waits until this server has applied
//! what its client has seen (bounded by [`CATCH_UP_TIMEOUT`]), then runs
//! against the state machine at its turn, while its session is still in the
//! replicated table; large listings are encoded off the connection's task.

use super::*;

/// How long a read may wait for this server to catch up with the client.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until this server has applied `zxid` (bounded).
pub(crate) async fn wait_applied(shared: &Shared, zxid: u64) -> Result<(), Error> {
    if *shared.applied.borrow() >= zxid {
        return Ok(());
    }
    let mut rx = shared.applied.clone();
    match tokio::time::timeout(CATCH_UP_TIMEOUT, rx.wait_for(|z| *z >= zxid)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(Error::ShuttingDown("server is stopping".into())),
        Err(_) => Err(Error::OperationTimeout(format!(
            "this server has not reached zxid {zxid} within {CATCH_UP_TIMEOUT:?}"
        ))),
    }
}

pub(super) async fn read_response(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    xid: u64,
    min_zxid: u64,
    op: Req,
    sink: &ConnSink,
) {
    if let Err(e) = wait_applied(shared, min_zxid).await {
        return sink.send_response(error_response(xid, *shared.applied.borrow(), &e));
    }
    let resp = match op {
        Req::Sync(s) => {
            if let Err(e) = check_path(shared, &s.path) {
                return sink.send_response(error_response(xid, *shared.applied.borrow(), &e));
            }
            let synced = shared.linearize().await;
            let synced = synced.and_then(|()| match session_gone(&shared.read_sm(), session) {
                Some(e) => Err(e),
                None => Ok(()),
            });
            match synced {
                Ok(()) => ok_response(xid, *shared.applied.borrow(), Res::Sync(proto::Empty {})),
                Err(e) => error_response(xid, *shared.applied.borrow(), &e),
            }
        }
        Req::Ping(_) => match session_gone(&shared.read_sm(), session) {
            Some(e) => error_response(xid, *shared.applied.borrow(), &e),
            None => ok_response(xid, *shared.applied.borrow(), Res::Ping(proto::Empty {})),
        },
        Req::SetWatches(r) => {
            let gone = session_gone(&shared.read_sm(), session);
            let registered = match gone {
                Some(e) => Err(e),
                None => watch_requests::set_watches(shared, conn, session, r).await,
            };
            match registered {
                Ok(zxid) => ok_response(xid, zxid, Res::SetWatches(proto::Empty {})),
                Err(e) => error_response(xid, *shared.applied.borrow(), &e),
            }
        }
        Req::Export(r) => crate::server::export::answer(shared, conn, session, xid, r).await,
        Req::ClusterStatus(_) => ok_response(
            xid,
            *shared.applied.borrow(),
            Res::ClusterStatus(crate::server::cluster::status(shared)),
        ),
        Req::ClusterChange(c) => {
            let changed = match c.change {
                Some(change) => crate::server::cluster::change(shared, change).await,
                None => Err(Error::BadArguments(
                    "cluster change without a change".into(),
                )),
            };
            match changed {
                Ok(status) => {
                    ok_response(xid, *shared.applied.borrow(), Res::ClusterChange(status))
                }
                Err(e) => error_response(xid, *shared.applied.borrow(), &e),
            }
        }
        other => match read_now(shared, conn, session, xid, other, sink) {
            ReadReply::Sent => return,
            ReadReply::Ready(resp) => resp,
            ReadReply::Listing {
                zxid,
                listing: Ok(l),
            } if l.max_len() >= OFFLOAD_LISTING_ENTRIES => {
                // Thousands of names take milliseconds to make and encode:
                // on the low-priority bulk thread, not before the small
                // requests of other clients.
                let dialect = sink.dialect().clone();
                match shared
                    .bulk
                    .run(move || dialect.encode(listing_response(xid, zxid, Ok(*l))))
                    .await
                {
                    Some(frame) => {
                        if let Some(frame) = frame {
                            sink.send_frame(frame);
                        }
                        return;
                    }
                    None => error_response(xid, zxid, &shutting_down_error()),
                }
            }
            ReadReply::Listing { zxid, listing } => {
                listing_response(xid, zxid, listing.map(|l| *l))
            }
        },
    };
    sink.send_response(resp);
}

/// Listings of at least this many children are made and encoded on the
/// bulk thread (see `bulk`) rather than on an async worker.
const OFFLOAD_LISTING_ENTRIES: usize = 2048;

/// What a read under the lock produced: a finished frame, or a listing whose
/// names and frame are made after the lock (and, when large, off the async
/// workers).
enum ReadReply {
    /// Queued already (a read that set a watch, see [`read_now`]).
    Sent,
    Ready(proto::Response),
    Listing {
        zxid: u64,
        listing: Result<Box<Listing>, Error>,
    },
}

/// The test hook [`ServerConfig::pause_before_watched_reply`](crate::server::ServerConfig).
fn pause_before_watched_reply(shared: &Shared) {
    let pause = shared.cfg.pause_before_watched_reply;
    if !pause.is_zero() {
        std::thread::sleep(pause);
    }
}

fn listing_response(xid: u64, zxid: u64, listing: Result<Listing, Error>) -> proto::Response {
    match listing {
        Ok(l) => match l.finish() {
            Ok(page) => ok_response(xid, zxid, Res::GetChildren(page.into())),
            Err(e) => error_response(xid, zxid, &e),
        },
        Err(e) => error_response(xid, zxid, &e),
    }
}

/// `SessionExpired` when `session` is no longer in the replicated table.
fn session_gone(sm: &StateMachine, session: u64) -> Option<Error> {
    sm.session(session)
        .is_none()
        .then(|| Error::SessionExpired(format!("session {session:#x} has expired or was closed")))
}

/// Runs a read under the state's read lock, registering its watch under the
/// same lock so the next change cannot slip between read and registration.
///
/// A read that set a watch queues its reply before the lock is released:
/// the event of the next change is queued from inside `apply`, under the
/// write lock, and must reach the client after the reply that made the
/// client listen for it (a client that hears the event first has no watcher
/// for it yet and would wait forever). Other replies are encoded after the
/// lock, so writes are not held up by the copy.
fn read_now(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    xid: u64,
    op: Req,
    sink: &ConnSink,
) -> ReadReply {
    let sm = shared.read_sm();
    let zxid = sm.last_zxid();
    if let Some(e) = session_gone(&sm, session) {
        return ReadReply::Ready(error_response(xid, zxid, &e));
    }
    if let Err(e) = acl_requests::check_read(&sm, session, &op) {
        return ReadReply::Ready(error_response(xid, zxid, &e));
    }
    if let Err(e) = watch_requests::check_watch_room(shared, &sm, conn, session, &op) {
        return ReadReply::Ready(error_response(xid, zxid, &e));
    }
    let watches = &shared.watches;
    // A listing takes its child set under the lock and walks it after.
    let op = match op {
        Req::GetChildren(r) => {
            let mut watched = false;
            let listing = coord_proto::wire::list_children_from_proto(r).and_then(|req| {
                let listing = sm.list_children_deferred(&req, shared.cfg.max_listing_bytes)?;
                // One child watch covers the whole directory, whichever page set it.
                if req.watch {
                    watches.add(conn, &req.path, WatchKind::Child);
                    watched = true;
                }
                Ok(listing)
            });
            if watched {
                pause_before_watched_reply(shared);
                sink.send_response(listing_response(xid, zxid, listing));
                return ReadReply::Sent;
            }
            drop(sm);
            return ReadReply::Listing {
                zxid,
                listing: listing.map(Box::new),
            };
        }
        other => other,
    };
    let mut watched = false;
    let result: Result<Res, Error> = match op {
        Req::Exists(r) => sm.exists(&r.path).map(|stat| {
            if r.watch {
                watched = true;
                let kind = if stat.is_some() {
                    WatchKind::Data
                } else {
                    WatchKind::Exist
                };
                watches.add(conn, &r.path, kind);
            }
            Res::Exists(proto::ExistsResponse {
                stat: stat.as_ref().map(Into::into),
            })
        }),
        Req::GetData(r) => sm.get(&r.path).map(|(data, stat)| {
            if r.watch {
                watched = true;
                watches.add(conn, &r.path, WatchKind::Data);
            }
            Res::GetData(proto::GetDataResponse {
                data,
                stat: Some((&stat).into()),
            })
        }),
        Req::AddWatch(r) => check_path(shared, &r.path)
            .and_then(|()| watch_mode_from_proto(r.mode))
            .map(|mode| {
                watches.add(conn, &r.path, mode.into());
                Res::AddWatch(proto::Empty {})
            }),
        Req::RemoveWatches(r) => {
            let which = watcher_type_from_proto(r.watcher_type);
            which.and_then(|which| {
                if watches.remove(conn, &r.path, which) {
                    Ok(Res::RemoveWatches(proto::Empty {}))
                } else {
                    Err(Error::NoWatcher(format!(
                        "no {which:?} watch on {}",
                        r.path
                    )))
                }
            })
        }
        Req::GetQuota(r) => sm.quota(&r.path).and_then(|quota| match quota {
            Some(q) => Ok(Res::GetQuota(q.into())),
            None => Err(Error::NoNode(format!("no quota is set on {}", r.path))),
        }),
        Req::GetAcl(r) => acl_requests::get_acl(&sm, &r.path),
        Req::WhoAmI(_) => Ok(acl_requests::who_am_i(&sm, session)),
        Req::SessionInfo(r) => acl_requests::session_info(&sm, &r),
        other => Err(Error::Internal(format!("not a read: {other:?}"))),
    };
    let response = |result: Result<Res, Error>| match result {
        Ok(body) => ok_response(xid, zxid, body),
        Err(e) => error_response(xid, zxid, &e),
    };
    if watched {
        pause_before_watched_reply(shared);
        sink.send_response(response(result));
        return ReadReply::Sent;
    }
    // Encoding (a copy of up to a frame's bytes) needs no lock: writes go on.
    drop(sm);
    ReadReply::Ready(response(result))
}
