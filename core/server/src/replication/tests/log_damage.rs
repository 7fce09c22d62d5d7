//! Damage found when the raft log is opened: what is refused (with the file,
//! the offset and the ways out), what is dropped as a torn tail, and how long
//! deciding takes on a large log.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use openraft::Vote;
use openraft::storage::RaftLogStorage;

use super::log_store::{
    append_acked, append_entries_acked, commit, open, records_len, test_options,
};
use super::{big_entry, command_entry, log_id};
use crate::replication::LogStore;
use crate::replication::codec::{Frame, entry_to_proto, put_frame, read_frame};
use crate::replication::wal::WAL_MAGIC;
use crate::storage;

/// Every frame of a log file: (offset, first payload byte, end).
pub(super) fn frames(wal: &Path) -> Vec<(usize, u8, usize)> {
    let bytes = fs::read(wal).expect("read wal");
    let mut off = WAL_MAGIC.len();
    let mut out = Vec::new();
    while let Frame::Valid { payload, next } = read_frame(&bytes, off) {
        out.push((off, payload[0], next));
        off = next;
    }
    out
}

/// Offset of the last entry frame (payload tag 0x0a) and its end.
fn last_entry_frame(wal: &Path) -> (usize, usize) {
    frames(wal)
        .into_iter()
        .filter(|(_, tag, _)| *tag == 0x0a)
        .map(|(off, _, end)| (off, end))
        .next_back()
        .expect("an entry frame")
}

fn flip(wal: &Path, at: usize) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(wal)
        .expect("open wal");
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at as u64).expect("read byte");
    byte[0] ^= 0x5a;
    file.write_all_at(&byte, at as u64).expect("write byte");
}

fn open_err(dir: &Path) -> String {
    match LogStore::open_with(dir, test_options()) {
        Ok(_) => panic!("{} opened despite the damage", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn damage_inside_the_last_acknowledged_entry_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=10, 1).await;
        commit(&mut store, 10).await;
        store.writer().sync().await.expect("sync");
    }
    // Bit rot (or a bad sector) inside the newest acknowledged entry.
    let (off, end) = last_entry_frame(&wal);
    flip(&wal, (off + end) / 2);
    let msg = open_err(dir.path());
    for part in [
        wal.display().to_string(),
        format!("offset {off} is damaged"),
        "sync marker".into(),
        format!("truncate -s {off} {}", wal.display()),
    ] {
        assert!(msg.contains(&part), "{part:?} missing from: {msg}");
    }
}

#[tokio::test]
async fn a_complete_but_damaged_frame_after_the_last_sync_is_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=10, 1).await;
    }
    // Entry 11 reached the file but its fsync (and so its marker) never
    // happened: a crash left some of its pages stale.
    let good_len = records_len(&wal);
    let mut frame = Vec::new();
    let record = storage::LogRecord {
        record: Some(storage::log_record::Record::Entry(
            entry_to_proto(&command_entry(1, 11)).expect("encode"),
        )),
    };
    put_frame(&mut frame, &record);
    let mid = frame.len() / 2;
    frame[mid] ^= 0xff;
    let file = OpenOptions::new().write(true).open(&wal).expect("open wal");
    file.write_all_at(&frame, good_len).expect("write frame");
    drop(file);
    let mut store = open(dir.path());
    let state = store.get_log_state().await.expect("state");
    assert_eq!(
        state.last_log_id,
        Some(log_id(1, 10)),
        "entry 11 was dropped"
    );
    assert_eq!(fs::metadata(&wal).expect("stat").len(), good_len);
}

#[tokio::test]
async fn a_multi_megabyte_damaged_region_is_refused_within_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        for i in 1..=160 {
            append_entries_acked(&mut store, vec![big_entry(1, i, 64 * 1024)]).await;
        }
    }
    let frames = frames(&wal);
    // 4 MiB of garbage from 2 MiB on, in a 10 MiB log: no frame boundary in
    // it survives, and acknowledged records follow it.
    let (from, len) = (2usize << 20, 4usize << 20);
    let hit = frames
        .iter()
        .find(|(off, _, end)| *off <= from && from < *end)
        .map(|(off, _, _)| *off)
        .expect("a frame holds the damage's start");
    let mut garbage = vec![0u8; len];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let file = OpenOptions::new().write(true).open(&wal).expect("open wal");
    file.write_all_at(&garbage, from as u64)
        .expect("write garbage");
    drop(file);
    let started = Instant::now();
    let msg = open_err(dir.path());
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "deciding took {took:?} on a {} MiB log",
        fs::metadata(&wal).expect("stat").len() >> 20
    );
    assert!(msg.contains(&wal.display().to_string()), "{msg}");
    assert!(
        msg.contains(&format!("offset {hit} ")),
        "offset {hit} missing from: {msg}"
    );
}

#[tokio::test]
async fn an_empty_log_beside_a_vote_is_refused_at_once() {
    for emptied in ["truncated", "deleted"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = dir.path().join("log.wal");
        {
            let mut store = open(dir.path());
            store.save_vote(&Vote::new(2, 1)).await.expect("vote");
            append_acked(&mut store, 1..=3, 2).await;
        }
        if emptied == "truncated" {
            OpenOptions::new()
                .write(true)
                .open(&wal)
                .expect("wal")
                .set_len(0)
                .expect("truncate");
        } else {
            fs::remove_file(&wal).expect("delete");
        }
        let msg = open_err(dir.path());
        for part in [
            wal.display().to_string(),
            dir.path().join("vote").display().to_string(),
            "missing or empty".into(),
            "Restore".into(),
        ] {
            assert!(
                msg.contains(&part),
                "{emptied}: {part:?} missing from: {msg}"
            );
        }
    }
}

#[tokio::test]
async fn a_committed_entry_missing_from_the_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = dir.path().join("log.wal");
    {
        let mut store = open(dir.path());
        append_acked(&mut store, 1..=10, 1).await;
        commit(&mut store, 10).await;
        // Compaction writes the committed id ahead of the entries.
        store.purge(log_id(1, 6)).await.expect("purge");
        store.writer().sync().await.expect("sync");
        store.writer().sync().await.expect("sync");
        let stats = store
            .writer()
            .stats()
            .compactions
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stats, 1, "compacted");
    }
    // The file loses everything after entry 8, at a frame boundary.
    let cut = frames(&wal)
        .into_iter()
        .filter(|(_, tag, _)| *tag == 0x0a)
        .nth(1)
        .map(|(_, _, end)| end)
        .expect("entry 8");
    OpenOptions::new()
        .write(true)
        .open(&wal)
        .expect("wal")
        .set_len(cut as u64)
        .expect("cut");
    let msg = open_err(dir.path());
    assert!(
        msg.contains("were committed but the log ends at index 8"),
        "{msg}"
    );
}
