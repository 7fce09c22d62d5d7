//! openraft's own storage test suite, run against our stores on fresh directories.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use tempfile::TempDir;

use crate::replication::log_store::LogOptions;
use crate::replication::{LogStore, NodeId, NoopObserver, SmStore, TypeConfig};

struct FreshStores;

impl StoreBuilder<TypeConfig, LogStore, SmStore, TempDir> for FreshStores {
    async fn build(&self) -> Result<(TempDir, LogStore, SmStore), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let log = LogStore::open_with(
            &dir.path().join("raft"),
            LogOptions {
                compact_min_bytes: 0,
                ..LogOptions::default()
            },
        )
        .map_err(|e| StorageIOError::write(&e))?;
        let sm = SmStore::open(&dir.path().join("snapshots"), Arc::new(NoopObserver))
            .map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn stores_pass_the_openraft_storage_suite() {
    // Suite::test_all starts its own runtimes: a plain #[test], not #[tokio::test].
    if let Err(e) = Suite::test_all(FreshStores) {
        panic!("openraft storage suite failed: {e}");
    }
}
