//! Durability and recovery of the raft log store: what a restarted node finds.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use openraft::storage::RaftLogStorage;
use openraft::{Entry, EntryPayload, RaftLogReader, Vote};

use super::{command_entry, log_id};
use crate::replication::codec::{Frame, entry_to_proto, put_frame, read_frame};
use crate::replication::log_store::LogOptions;
use crate::replication::log_writer::Job;
use crate::replication::{LogStore, TypeConfig};
use crate::storage;

/// Compaction at any size (so tests see it), the default cache.
pub(super) fn test_options() -> LogOptions {
    LogOptions {
        compact_min_bytes: 0,
        ..LogOptions::default()
    }
}

pub(super) fn open(dir: &Path) -> LogStore {
    match LogStore::open_with(dir, test_options()) {
        Ok(store) => store,
        Err(e) => panic!("open {}: {e}", dir.display()),
    }
}

/// Appends and waits until the writer reports the entries durable.
pub(super) async fn append_acked(
    store: &mut LogStore,
    indexes: std::ops::RangeInclusive<u64>,
    term: u64,
) {
    append_entries_acked(store, indexes.map(|i| command_entry(term, i)).collect()).await;
}

/// Appends `entries` and waits until the writer reports them durable.
pub(super) async fn append_entries_acked(store: &mut LogStore, entries: Vec<Entry<TypeConfig>>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    store
        .append_with(
            entries,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        )
        .expect("queue append");
    rx.await.expect("writer alive").expect("append durable");
}

/// Tells the store entry `index` of term 1 is committed.
pub(super) async fn commit(store: &mut LogStore, index: u64) {
    store
        .save_committed(Some(log_id(1, index)))
        .await
        .expect("commit");
}

async fn indexes(store: &mut LogStore) -> Vec<u64> {
    let entries = store.try_get_log_entries(0..u64::MAX).await.expect("read");
    entries.iter().map(|e| e.log_id.index).collect()
}

fn time_of(entry: &Entry<TypeConfig>) -> i64 {
    match &entry.payload {
        EntryPayload::Normal(batch) => batch.0[0].time_ms,
        other => panic!("expected a command entry, got {other:?}"),
    }
}

#[tokio::test]
async fn acknowledged_appends_vote_and_commit_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = open(dir.path());
        for batch in 0..10 {
            append_acked(&mut store, batch * 10 + 1..=batch * 10 + 10, 1).await;
        }
        store.save_vote(&Vote::new(3, 1)).await.expect("vote");
        commit(&mut store, 90).await;
    }
    let mut store = open(dir.path());
    let entries = store.try_get_log_entries(1..=100).await.expect("read");
    assert_eq!(entries.len(), 100);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.log_id, log_id(1, i as u64 + 1));
        assert_eq!(
            time_of(entry),
            i as i64 + 1,
            "command payload survives the round trip"
        );
    }
    assert_eq!(
        store.read_vote().await.expect("vote"),
        Some(Vote::new(3, 1))
    );
    assert_eq!(
        store.read_committed().await.expect("committed"),
        Some(log_id(1, 90))
    );
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(1, 100)));
    assert_eq!(state.last_purged_log_id, None);
}

/// Bytes up to the end of the last record (the file goes on with zeros).
pub(super) fn records_len(wal: &std::path::Path) -> u64 {
    let bytes = fs::read(wal).expect("read wal");
    let mut off = crate::replication::wal::WAL_MAGIC.len();
    while let Frame::Valid { next, .. } = read_frame(&bytes, off) {
        off = next;
    }
    off as u64
}

#[tokio::test]
async fn torn_tail_record_is_discarded_on_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=10, 1).await;
    }
    let good_len = records_len(&wal);
    // A crash in the middle of writing entry 11: only half its frame reached
    // disk, over the zero-filled space after the last record.
    let mut frame = Vec::new();
    let entry = entry_to_proto(&command_entry(1, 11)).expect("encode");
    put_frame(
        &mut frame,
        &storage::LogRecord {
            record: Some(storage::log_record::Record::Entry(entry)),
        },
    );
    let file = OpenOptions::new().write(true).open(&wal).expect("open wal");
    file.write_all_at(&frame[..frame.len() / 2], good_len)
        .expect("write torn tail");
    drop(file);

    {
        let mut store = open(dir.path());
        assert_eq!(indexes(&mut store).await, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            fs::metadata(&wal).expect("stat").len(),
            good_len,
            "torn bytes (and the space after them) are cut away"
        );
        append_acked(&mut store, 11..=11, 1).await;
    }
    let mut store = open(dir.path());
    assert_eq!(indexes(&mut store).await, (1..=11).collect::<Vec<_>>());
}

#[tokio::test]
async fn damaged_record_followed_by_valid_records_fails_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=20, 1).await;
    }
    let mut bytes = fs::read(&wal).expect("read wal");
    // The middle of the records, not of the zero-filled space after them.
    let middle = records_len(&wal) as usize / 2;
    bytes[middle] ^= 0x5a;
    fs::write(&wal, &bytes).expect("write wal");
    match LogStore::open_with(dir.path(), test_options()) {
        Ok(_) => panic!("a damaged record in the middle of the log must not be skipped"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}"),
    }
}

#[tokio::test]
async fn appends_queued_during_a_sync_share_one_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    let writer = store.writer();
    // Hold the writer so that every append below is queued behind it, as appends
    // are while the writer waits on a slow disk.
    let (release, held) = std::sync::mpsc::channel();
    writer.send(Job::Hold(held)).expect("hold");
    let before = writer.stats().fsyncs.load(Ordering::Relaxed);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    const APPENDS: u64 = 200;
    for i in 1..=APPENDS {
        let tx = tx.clone();
        store
            .append_with(
                vec![command_entry(1, i)],
                Some(Box::new(move |r| {
                    let _ = tx.send((i, r.is_ok()));
                })),
            )
            .expect("queue append");
    }
    release.send(()).expect("release");
    for expected in 1..=APPENDS {
        assert_eq!(
            rx.recv().await,
            Some((expected, true)),
            "acks arrive in append order"
        );
    }
    assert_eq!(writer.stats().fsyncs.load(Ordering::Relaxed) - before, 1);
}

#[tokio::test]
async fn concurrent_appends_use_fewer_fsyncs_than_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    let writer = store.writer();
    let before = writer.stats().fsyncs.load(Ordering::Relaxed);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    const APPENDS: u64 = 1000;
    // openraft's pattern: append returns at once and the next append follows
    // before the previous one is durable.
    for i in 1..=APPENDS {
        let tx = tx.clone();
        store
            .append_with(
                vec![command_entry(1, i)],
                Some(Box::new(move |r| {
                    let _ = tx.send(r.is_ok());
                })),
            )
            .expect("queue append");
    }
    for _ in 1..=APPENDS {
        assert_eq!(rx.recv().await, Some(true));
    }
    let fsyncs = writer.stats().fsyncs.load(Ordering::Relaxed) - before;
    assert!(
        fsyncs < APPENDS,
        "{fsyncs} fsyncs for {APPENDS} appends: no group commit"
    );
    // The writer thread (and its directory lock) lives while any handle does.
    drop(writer);
    drop(store);
    let mut store = open(dir.path());
    assert_eq!(indexes(&mut store).await.len() as u64, APPENDS);
}

#[tokio::test]
async fn purge_compacts_the_file_and_keeps_later_entries_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        for batch in 0..10 {
            append_acked(&mut store, batch * 10 + 1..=batch * 10 + 10, 1).await;
        }
        let full = records_len(&wal);
        store.purge(log_id(1, 80)).await.expect("purge");
        // Compaction runs right after the purge's batch: a second sync is queued behind it.
        store.writer().sync().await.expect("sync");
        store.writer().sync().await.expect("sync");
        assert_eq!(
            store.writer().stats().compactions.load(Ordering::Relaxed),
            1
        );
        let compacted = records_len(&wal);
        assert!(
            compacted < full / 2,
            "compacted file {compacted} bytes, was {full}"
        );
        append_acked(&mut store, 101..=110, 1).await;
        assert_eq!(indexes(&mut store).await, (81..=110).collect::<Vec<_>>());
    }
    {
        let mut store = open(dir.path());
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 80)));
        assert_eq!(state.last_log_id, Some(log_id(1, 110)));
        let entries = store.try_get_log_entries(0..u64::MAX).await.expect("read");
        assert_eq!(
            entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            (81..=110).collect::<Vec<_>>()
        );
        assert!(entries.iter().all(|e| time_of(e) == e.log_id.index as i64));
        // A leader change overwrites the tail: truncate, then append in term 2.
        store.truncate(log_id(1, 105)).await.expect("truncate");
        append_acked(&mut store, 105..=106, 2).await;
    }
    let mut store = open(dir.path());
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(2, 106)));
    let entries = store.try_get_log_entries(104..=106).await.expect("read");
    let ids: Vec<_> = entries.iter().map(|e| e.log_id).collect();
    assert_eq!(ids, vec![log_id(1, 104), log_id(2, 105), log_id(2, 106)]);
}

#[tokio::test]
async fn purging_everything_leaves_an_empty_log_that_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=30, 1).await;
        store.purge(log_id(1, 30)).await.expect("purge");
        store.writer().sync().await.expect("sync");
    }
    let mut store = open(dir.path());
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 30)));
    assert_eq!(state.last_log_id, Some(log_id(1, 30)));
    assert!(indexes(&mut store).await.is_empty());
}

/// Payload tag of a `committed` record's frame (`LogRecord` field 4).
const COMMITTED_TAG: u8 = 0x22;
/// Payload tag of an entry's frame (`LogRecord` field 1).
const ENTRY_TAG: u8 = 0x0a;

#[tokio::test]
async fn a_commit_is_written_with_the_next_batch_after_its_entries_and_when_the_writer_stops() {
    use super::log_damage::frames;
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=10, 1).await;
        commit(&mut store, 10).await;
        // No write of its own: nothing reaches the file until the next batch.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !frames(&wal).iter().any(|f| f.1 == COMMITTED_TAG),
            "a commit alone wrote a record"
        );
        append_acked(&mut store, 11..=12, 1).await;
        let all = frames(&wal);
        let committed = all
            .iter()
            .position(|f| f.1 == COMMITTED_TAG)
            .expect("the next batch carries the commit");
        let last_entry = all.iter().rposition(|f| f.1 == ENTRY_TAG).expect("entries");
        assert!(
            committed > last_entry,
            "the record follows the batch's entries: {all:?}"
        );
        // The last commit before a stop is written as the writer stops.
        commit(&mut store, 12).await;
    }
    let mut store = open(dir.path());
    assert_eq!(
        store.read_committed().await.expect("committed"),
        Some(log_id(1, 12))
    );
}

#[tokio::test]
async fn a_commit_beyond_the_written_log_waits_for_its_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=10, 1).await;
        commit(&mut store, 10).await;
        // Noted before its entry reached the writer (the writer must not put
        // a record naming an entry the file does not hold yet).
        commit(&mut store, 12).await;
        store.writer().sync().await.expect("sync");
    }
    // Had the record for 12 been written, the log would refuse to open
    // ("committed but the log ends at index 10").
    let mut store = open(dir.path());
    assert_eq!(
        store.read_committed().await.expect("committed"),
        Some(log_id(1, 10))
    );
}

/// Waits (at most 10 s) until the writer's durable mark is `upto`: the
/// writer publishes it after the fsync's callbacks, so just after one.
async fn durable_reaches(
    durable: &tokio::sync::watch::Receiver<crate::replication::log_writer::Durable>,
    upto: Option<u64>,
) {
    let mut rx = durable.clone();
    let reached = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        rx.wait_for(|d| d.upto == upto),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(
        reached,
        "durable mark {:?}, expected {upto:?}",
        *durable.borrow()
    );
}

#[tokio::test]
async fn the_durable_mark_follows_fsyncs_and_drops_on_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = open(dir.path());
        let writer = store.writer();
        let durable = writer.durable();
        assert_eq!(durable.borrow().upto, None, "an empty log");
        append_acked(&mut store, 1..=3, 1).await;
        durable_reaches(&durable, Some(3)).await;
        // Written but not yet synced: not durable.
        let (release, held) = std::sync::mpsc::channel();
        writer.send(Job::Hold(held)).expect("hold");
        let (tx, rx) = tokio::sync::oneshot::channel();
        store
            .append_with(
                vec![command_entry(1, 4)],
                Some(Box::new(move |r| {
                    let _ = tx.send(r);
                })),
            )
            .expect("queue append");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(durable.borrow().upto, Some(3), "before its fsync");
        release.send(()).expect("release");
        rx.await.expect("writer alive").expect("append durable");
        durable_reaches(&durable, Some(4)).await;
        // A truncation takes back what it removes at once, before anything
        // is written again at those indexes.
        store.truncate(log_id(1, 3)).await.expect("truncate");
        writer.sync().await.expect("sync");
        assert_eq!(durable.borrow().upto, Some(2));
        assert_eq!(durable.borrow().failed, None);
    }
    // Reopened: what replay finds is durable.
    let store = open(dir.path());
    assert_eq!(store.writer().durable().borrow().upto, Some(2));
}
