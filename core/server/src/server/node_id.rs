//! The member id recorded in the data dir (`<data_dir>/node-id`, the id in
//! decimal): a data dir belongs to one member of one cluster, so a start
//! with another `--id` is refused instead of joining the cluster under a
//! second identity with the first one's log.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};

/// The file under the data dir that holds the id.
const NODE_ID_FILE: &str = "node-id";

/// The file a member writes when it learns it was removed from its cluster
/// (see `removal`): its data dir must not serve again.
const REMOVED_FILE: &str = "removed";

/// What a single-node server is, and what a data dir written before ids
/// were recorded belongs to.
const SINGLE_NODE_ID: u64 = 1;

/// Records `node_id` in a data dir that has none, or checks it against the
/// recorded one. A data dir written before ids were recorded (it has a raft
/// log or vote but no `node-id`) belongs to member 1: 1 is recorded, then
/// compared. Creates the data dir if it is missing.
pub(crate) fn check_or_record(data_dir: &Path, node_id: u64) -> Result<()> {
    crate::replication::create_data_dir(data_dir)?;
    let path = data_dir.join(NODE_ID_FILE);
    let recorded = match fs::read(&path) {
        Ok(bytes) => parse(&path, &bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = if has_old_data(data_dir) {
                SINGLE_NODE_ID
            } else {
                node_id
            };
            record(data_dir, id).map_err(|e| {
                Error::Io(format!(
                    "cannot record the node id in {}: {e}",
                    path.display()
                ))
            })?;
            id
        }
        Err(e) => {
            return Err(Error::Io(format!("cannot read {}: {e}", path.display())));
        }
    };
    if recorded != node_id {
        return Err(Error::BadArguments(format!(
            "data dir {} belongs to member {recorded}, not --id {node_id}: start with --id \
             {recorded}, or give member {node_id} a fresh data dir",
            data_dir.display()
        )));
    }
    match fs::read_to_string(data_dir.join(REMOVED_FILE)) {
        Ok(why) => Err(Error::BadArguments(format!(
            "data dir {} belongs to member {node_id}, which was removed from its cluster ({}): \
             to join again, start with a fresh data dir and have the cluster add the member",
            data_dir.display(),
            why.trim()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io(format!(
            "cannot read {}: {e}",
            data_dir.join(REMOVED_FILE).display()
        ))),
    }
}

/// Marks the data dir as that of a removed member (`why` says when), so
/// that no later start serves from it.
pub(crate) fn record_removed(data_dir: &Path, why: &str) -> Result<()> {
    crate::replication::write_atomic(data_dir, REMOVED_FILE, format!("{why}\n").as_bytes()).map_err(
        |e| {
            Error::Io(format!(
                "cannot record the removal in {}: {e}",
                data_dir.join(REMOVED_FILE).display()
            ))
        },
    )
}

/// Whether the data dir holds raft state written by a server older than the
/// `node-id` file (always a single-node server).
fn has_old_data(data_dir: &Path) -> bool {
    let raft = data_dir.join("raft");
    raft.join("log.wal").exists() || raft.join("vote").exists()
}

fn parse(path: &Path, bytes: &[u8]) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|&id| id != 0)
        .ok_or_else(|| {
            Error::BadArguments(format!(
                "{} is damaged: it must hold this member's id as a decimal number, \
                 found {:?}",
                path.display(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
            ))
        })
}

/// Writes the id durably (a crash leaves either no file or the whole id).
fn record(data_dir: &Path, node_id: u64) -> io::Result<()> {
    crate::replication::write_atomic(data_dir, NODE_ID_FILE, format!("{node_id}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(dir: &Path) -> String {
        fs::read_to_string(dir.join(NODE_ID_FILE)).unwrap()
    }

    #[test]
    fn a_first_start_records_the_id_and_a_later_one_checks_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        check_or_record(&dir, 3).unwrap();
        assert_eq!(recorded(&dir), "3\n");
        assert!(!dir.join("node-id.tmp").exists());
        check_or_record(&dir, 3).unwrap();
        assert_eq!(recorded(&dir), "3\n");
    }

    #[test]
    fn another_id_is_refused_naming_the_dir_both_ids_and_the_way_out() {
        let tmp = tempfile::tempdir().unwrap();
        check_or_record(tmp.path(), 2).unwrap();
        let e = check_or_record(tmp.path(), 5).unwrap_err();
        assert!(matches!(e, Error::BadArguments(_)), "{e:?}");
        let text = e.to_string();
        for want in [
            &tmp.path().display().to_string(),
            "belongs to member 2",
            "not --id 5",
            "--id 2",
            "fresh data dir",
        ] {
            assert!(text.contains(want), "{want:?} missing from: {text}");
        }
        assert_eq!(recorded(tmp.path()), "2\n", "the recorded id is kept");
    }

    #[test]
    fn a_removed_members_data_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        check_or_record(tmp.path(), 4).unwrap();
        record_removed(tmp.path(), "the membership at raft index 40 leaves it out").unwrap();
        let e = check_or_record(tmp.path(), 4).unwrap_err();
        assert!(matches!(e, Error::BadArguments(_)), "{e:?}");
        let text = e.to_string();
        for want in ["member 4", "was removed", "raft index 40", "fresh data dir"] {
            assert!(text.contains(want), "{want:?} missing from: {text}");
        }
    }

    #[test]
    fn a_damaged_file_is_refused_naming_it() {
        for content in ["two\n", "", "0\n", "-1"] {
            let tmp = tempfile::tempdir().unwrap();
            fs::write(tmp.path().join(NODE_ID_FILE), content).unwrap();
            let e = check_or_record(tmp.path(), 1).unwrap_err().to_string();
            let file = tmp.path().join(NODE_ID_FILE).display().to_string();
            assert!(
                e.contains(&file) && e.contains("damaged"),
                "{content:?}: {e}"
            );
        }
    }

    #[test]
    fn data_from_an_older_single_node_server_belongs_to_member_1() {
        for old in ["log.wal", "vote"] {
            let tmp = tempfile::tempdir().unwrap();
            fs::create_dir(tmp.path().join("raft")).unwrap();
            fs::write(tmp.path().join("raft").join(old), b"x").unwrap();
            let e = check_or_record(tmp.path(), 2).unwrap_err().to_string();
            assert!(e.contains("belongs to member 1"), "{old}: {e}");
            assert_eq!(recorded(tmp.path()), "1\n", "{old}");
            check_or_record(tmp.path(), 1).unwrap();
        }
        // Only the lock (a data dir opened but never written): a first start.
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("raft")).unwrap();
        fs::write(tmp.path().join("raft").join("LOCK"), b"").unwrap();
        check_or_record(tmp.path(), 2).unwrap();
        assert_eq!(recorded(tmp.path()), "2\n");
    }
}
