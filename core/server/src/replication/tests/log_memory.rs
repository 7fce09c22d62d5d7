//! What the raft log keeps in memory: an index and a bounded cache, whatever
//! the size of its entries; everything else is read back from `log.wal`.

use std::path::Path;

use openraft::storage::RaftLogStorage;
use openraft::{Entry, EntryPayload, RaftLogReader};

use super::log_store::{append_acked, append_entries_acked};
use super::{big_entry, log_id};
use crate::replication::log_store::LogOptions;
use crate::replication::{LogStore, TypeConfig};
use crate::state_machine::{CommandKind, Op};

const MIB: u64 = 1 << 20;

fn open(dir: &Path, cache_bytes: u64) -> LogStore {
    let opts = LogOptions {
        compact_min_bytes: 0,
        cache_bytes,
    };
    match LogStore::open_with(dir, opts) {
        Ok(store) => store,
        Err(e) => panic!("open {}: {e}", dir.display()),
    }
}

/// The value a `big_entry` sets.
fn value_of(entry: &Entry<TypeConfig>) -> &[u8] {
    match &entry.payload {
        EntryPayload::Normal(batch) => match &batch.0[0].kind {
            CommandKind::Op(Op::SetData { data, .. }) => data,
            other => panic!("expected a set, got {other:?}"),
        },
        other => panic!("expected a command entry, got {other:?}"),
    }
}

fn assert_big_entries(entries: &[Entry<TypeConfig>], first: u64, count: u64, size: usize) {
    assert_eq!(entries.len() as u64, count);
    for (entry, index) in entries.iter().zip(first..) {
        assert_eq!(entry.log_id, log_id(1, index));
        let value = value_of(entry);
        assert_eq!(value.len(), size, "entry {index}");
        assert!(value.iter().all(|&b| b == index as u8), "entry {index}");
    }
}

#[tokio::test]
async fn large_entries_stay_on_disk_and_the_cache_keeps_its_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    const N: u64 = 48;
    const SIZE: usize = 256 * 1024;
    {
        let mut store = open(dir.path(), MIB);
        for i in 1..=N {
            append_entries_acked(&mut store, vec![big_entry(1, i, SIZE)]).await;
        }
        let held = store.reader().mem_use();
        assert_eq!(held.entries as u64, N, "every entry is indexed");
        assert!(
            held.cached_bytes <= MIB,
            "{} bytes of entries held for a 1 MiB cache",
            held.cached_bytes
        );
        let wal = std::fs::metadata(dir.path().join("log.wal")).expect("wal");
        assert!(
            wal.len() > N * SIZE as u64,
            "the log file holds the entries"
        );
        // Most of them come back from the file, intact.
        let entries = store.try_get_log_entries(1..=N).await.expect("read");
        assert_big_entries(&entries, 1, N, SIZE);
    }
    // Replay indexes the entries without holding any payload.
    let mut store = open(dir.path(), MIB);
    let held = store.reader().mem_use();
    assert_eq!((held.entries as u64, held.cached), (N, 0));
    let entries = store.try_get_log_entries(1..=N).await.expect("read");
    assert_big_entries(&entries, 1, N, SIZE);
}

#[tokio::test]
async fn one_replication_read_loads_at_most_the_cache_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    const SIZE: usize = 256 * 1024;
    {
        let mut store = open(dir.path(), MIB);
        for i in 1..=16 {
            append_entries_acked(&mut store, vec![big_entry(1, i, SIZE)]).await;
        }
        let mut reader = store.get_log_reader().await;
        let first = reader
            .limited_get_log_entries(1, 17)
            .await
            .expect("limited read");
        assert!(
            (1..=5).contains(&first.len()),
            "{} entries of 256 KiB in one read with a 1 MiB bound",
            first.len()
        );
        assert_big_entries(&first, 1, first.len() as u64, SIZE);
    }
    // A bound smaller than one entry still makes progress.
    let mut store = open(dir.path(), 0);
    let mut reader = store.get_log_reader().await;
    let one = reader.limited_get_log_entries(3, 17).await.expect("read");
    assert_big_entries(&one, 3, 1, SIZE);
}

#[tokio::test]
async fn reads_of_a_cached_entry_share_its_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path(), MIB);
    append_entries_acked(&mut store, vec![big_entry(1, 1, 1000)]).await;
    let mut reader = store.get_log_reader().await;
    let a = reader.try_get_log_entries(1..2).await.expect("read");
    let b = reader.try_get_log_entries(1..2).await.expect("read");
    assert_big_entries(&a, 1, 1, 1000);
    match (&a[0].payload, &b[0].payload) {
        (EntryPayload::Normal(x), EntryPayload::Normal(y)) => assert!(
            std::sync::Arc::ptr_eq(&x.0, &y.0),
            "the apply and a follower's stream read the cached commands, not copies"
        ),
        other => panic!("expected command entries, got {other:?}"),
    }
}

#[tokio::test]
async fn uncached_reads_follow_compaction_and_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No cache: every read below goes to the file.
    let mut store = open(dir.path(), 0);
    append_acked(&mut store, 1..=30, 1).await;
    store.purge(log_id(1, 20)).await.expect("purge");
    // Compaction runs right after the purge's batch.
    store.writer().sync().await.expect("sync");
    store.writer().sync().await.expect("sync");
    let compactions = store
        .writer()
        .stats()
        .compactions
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(compactions, 1, "the file was rewritten");
    let entries = store.try_get_log_entries(21..=30).await.expect("read");
    let times: Vec<i64> = entries
        .iter()
        .map(|e| match &e.payload {
            EntryPayload::Normal(b) => b.0[0].time_ms,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        times,
        (21..=30).collect::<Vec<i64>>(),
        "frames found at their new offsets"
    );
    store.truncate(log_id(1, 25)).await.expect("truncate");
    append_acked(&mut store, 25..=27, 2).await;
    let ids: Vec<_> = store
        .try_get_log_entries(23..)
        .await
        .expect("read")
        .iter()
        .map(|e| e.log_id)
        .collect();
    assert_eq!(
        ids,
        vec![
            log_id(1, 23),
            log_id(1, 24),
            log_id(2, 25),
            log_id(2, 26),
            log_id(2, 27)
        ]
    );
    assert_eq!(store.reader().mem_use().cached, 0, "nothing stays cached");
}
