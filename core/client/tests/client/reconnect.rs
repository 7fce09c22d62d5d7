//! Connection loss, reconnect and session resume, and expiry: what a client
//! sees when the network or the server fails under it.

use std::time::Duration;

use bytes::Bytes;
use coord_client::Error;
use coord_client::client::{CreateMode, EventType, SessionState, WatchMode};
use futures::StreamExt;

use super::SESSION;
use crate::support::{Proxy, TestServer, client, eventually, wait_state, within};

#[tokio::test]
async fn client_resumes_its_session_after_a_server_crash_and_restart() {
    let mut srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    let id = c.session_id();
    c.create("/eph", "", CreateMode::Ephemeral).await.unwrap();
    c.create("/d", "0", CreateMode::Persistent).await.unwrap();
    let (_, _, watch) = c.get_watch("/d").await.unwrap();

    srv.abort().await;
    wait_state(&c, SessionState::Suspended).await;
    srv.restart().await;
    wait_state(&c, SessionState::Connected).await;
    assert_eq!(c.session_id(), id, "same session");
    assert!(
        c.exists("/eph").await.unwrap().is_some(),
        "ephemeral survives a resume"
    );

    let other = client(srv.addr, SESSION).await;
    other.set("/d", "1", None).await.unwrap();
    let ev = within("re-registered watch", watch).await.unwrap();
    assert_eq!(ev.kind, EventType::NodeDataChanged);
    srv.stop().await;
}

#[tokio::test]
async fn change_missed_while_disconnected_fires_the_watch_after_reconnect() {
    let srv = TestServer::start().await;
    let proxy = Proxy::start(srv.addr).await;
    let c = client(proxy.addr, SESSION).await;
    let writer = client(srv.addr, SESSION).await;
    writer
        .create("/m", "0", CreateMode::Persistent)
        .await
        .unwrap();
    writer
        .create("/p", "", CreateMode::Persistent)
        .await
        .unwrap();
    let (_, _, data) = c.get_watch("/m").await.unwrap();
    let (_, children) = c.children_watch("/p").await.unwrap();
    let (_, created) = c.exists_watch("/later").await.unwrap();
    let mut stream = c.watch("/m", WatchMode::Persistent).await.unwrap();

    proxy.cut();
    wait_state(&c, SessionState::Suspended).await;
    writer.set("/m", "1", None).await.unwrap();
    writer
        .create("/p/kid", "", CreateMode::Persistent)
        .await
        .unwrap();
    writer
        .create("/later", "", CreateMode::Persistent)
        .await
        .unwrap();
    proxy.restore();

    assert_eq!(
        within("data", data).await.unwrap().kind,
        EventType::NodeDataChanged
    );
    assert_eq!(
        within("children", children).await.unwrap().kind,
        EventType::NodeChildrenChanged
    );
    assert_eq!(
        within("created", created).await.unwrap().kind,
        EventType::NodeCreated
    );
    let ev = within("persistent", stream.next()).await.unwrap().unwrap();
    assert_eq!(ev.kind, EventType::NodeDataChanged);
    assert_eq!(c.get("/m").await.unwrap().0, Bytes::from("1"));
    srv.stop().await;
}

#[tokio::test]
async fn requests_issued_while_suspended_complete_after_reconnect_or_time_out() {
    let srv = TestServer::start().await;
    let proxy = Proxy::start(srv.addr).await;
    let c = coord_client::client::Client::builder()
        .servers(proxy.addr.to_string())
        .session_timeout(SESSION)
        .request_timeout(Duration::from_millis(1500))
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    c.create("/s", "", CreateMode::Persistent).await.unwrap();
    proxy.cut();
    wait_state(&c, SessionState::Suspended).await;

    // Issued while suspended, in this order; they go out in this order.
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.set("/s", "first", None).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = tokio::spawn({
        let c = c.clone();
        async move { c.set("/s", "second", None).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.restore();
    assert_eq!(first.await.unwrap().unwrap().version, 1);
    assert_eq!(second.await.unwrap().unwrap().version, 2);
    assert_eq!(c.get("/s").await.unwrap().0, Bytes::from("second"));

    proxy.cut();
    wait_state(&c, SessionState::Suspended).await;
    let started = tokio::time::Instant::now();
    assert!(matches!(c.get("/s").await, Err(Error::OperationTimeout(_))));
    assert!(started.elapsed() >= Duration::from_millis(1400));
    proxy.restore();
    wait_state(&c, SessionState::Connected).await;
    srv.stop().await;
}

#[tokio::test]
async fn in_flight_request_fails_with_connection_loss_when_the_server_goes_silent() {
    let srv = TestServer::start().await;
    let proxy = Proxy::start(srv.addr).await;
    let c = client(proxy.addr, Duration::from_millis(1500)).await;
    c.create("/f", "", CreateMode::Persistent).await.unwrap();
    let mut states = c.state_changes();
    assert_eq!(states.next().await, Some(SessionState::Connected));
    proxy.mute_client();
    // Nothing comes back on this connection: after 2/3 of the session
    // timeout the client gives up on it; the set may or may not be applied.
    let started = tokio::time::Instant::now();
    match within("in-flight set", c.set("/f", "x", None)).await {
        Err(Error::ConnectionLoss(d)) => assert!(d.contains("may or may not"), "{d}"),
        other => panic!("expected ConnectionLoss, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        within("suspended", states.next()).await,
        Some(SessionState::Suspended)
    );
    assert_eq!(
        within("connected", states.next()).await,
        Some(SessionState::Connected)
    );
    assert_eq!(c.set("/f", "y", None).await.unwrap().version, 1);
    srv.stop().await;
}

#[tokio::test]
async fn session_expiry_makes_the_client_expired_and_its_ephemerals_vanish() {
    let srv = TestServer::start().await;
    let proxy = Proxy::start(srv.addr).await;
    let c = client(proxy.addr, Duration::from_millis(600)).await;
    let observer = client(srv.addr, SESSION).await;
    c.create("/lock", "", CreateMode::Ephemeral).await.unwrap();
    let (_, _, watch) = c.get_watch("/lock").await.unwrap();
    let mut stream = c.watch("/", WatchMode::PersistentRecursive).await.unwrap();
    let mut states = c.state_changes();
    assert_eq!(states.next().await, Some(SessionState::Connected));

    proxy.cut();
    assert_eq!(
        within("suspended", states.next()).await,
        Some(SessionState::Suspended)
    );
    assert_eq!(
        within("expired", states.next()).await,
        Some(SessionState::Expired)
    );
    assert_eq!(states.next().await, None, "Expired is terminal");
    assert!(matches!(watch.await, Err(Error::SessionExpired(_))));
    assert!(matches!(
        stream.next().await,
        Some(Err(Error::SessionExpired(_)))
    ));
    assert!(matches!(
        c.get("/lock").await,
        Err(Error::SessionExpired(_))
    ));

    eventually("the expired session's ephemeral to vanish", || async {
        Ok(observer.exists("/lock").await?.is_none())
    })
    .await;
    // Even once the network is back, an expired client stays expired.
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.state(), SessionState::Expired);
    c.close().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn server_side_expiry_reaches_a_client_that_still_hears_from_the_server() {
    // The client keeps receiving events, so by its own clock nothing is wrong;
    // the server hears nothing from it and expires the session. The client
    // must learn it from the server's SESSION_EXPIRED.
    let srv = TestServer::start().await;
    let proxy = Proxy::start(srv.addr).await;
    let c = client(proxy.addr, Duration::from_millis(400)).await;
    assert_eq!(c.session_timeout(), Duration::from_millis(400));
    let writer = client(srv.addr, SESSION).await;
    writer
        .create("/tick", "", CreateMode::Persistent)
        .await
        .unwrap();
    c.create("/gone", "", CreateMode::Ephemeral).await.unwrap();
    let mut events = c.watch("/tick", WatchMode::Persistent).await.unwrap();

    proxy.mute_client();
    let ticking = tokio::spawn({
        let writer = writer.clone();
        async move {
            for i in 0..500u32 {
                if writer.set("/tick", i.to_string(), None).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }
    });
    wait_state(&c, SessionState::Expired).await;
    ticking.abort();
    let mut saw_events = 0;
    while let Some(item) = events.next().await {
        match item {
            Ok(_) => saw_events += 1,
            Err(e) => {
                assert!(matches!(e, Error::SessionExpired(_)), "{e}");
                break;
            }
        }
    }
    assert!(saw_events > 0, "the client kept hearing events while muted");
    eventually("ephemeral gone", || async {
        Ok(writer.exists("/gone").await?.is_none())
    })
    .await;
    srv.stop().await;
}
