//! What the server measures for `/metrics` (Prometheus text, through the
//! `prometheus-client` crate: no exposition format written here).
//!
//! Two kinds of figures:
//! - recorded on the hot path, cheaply: each request's latency by operation
//!   (one lock-free [`AtomicHistogram`] per operation, created up front and
//!   indexed by [`OpKind`], so an observation is two relaxed atomic adds, no
//!   lock and no lookup; nothing is recorded unless the HTTP port is on), and
//!   the log writer's
//!   fsync latency and commit batch size (`replication`'s writer stats);
//! - read when scraped, by [`StateCollector`]: sessions, connections,
//!   watches, nodes, data bytes (a walk of a frozen copy of the tree, outside
//!   the state lock), snapshot age and size, raft term, leader, log and
//!   applied index, follower lag, proposal backlog.
//!
//! Owns no state of the server; it only reads it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::Shared;
use crate::histogram::AtomicHistogram;
use coord_proto::proto::request::Op as Req;

/// The operations whose latency is measured, one histogram each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Create,
    Delete,
    SetData,
    Multi,
    CloseSession,
    GetData,
    Exists,
    GetChildren,
    Sync,
    Ping,
    SetWatches,
    AddWatch,
    RemoveWatches,
    Cluster,
    Quota,
    Acl,
    Export,
    Other,
}

impl OpKind {
    const ALL: [OpKind; 18] = [
        OpKind::Create,
        OpKind::Delete,
        OpKind::SetData,
        OpKind::Multi,
        OpKind::CloseSession,
        OpKind::GetData,
        OpKind::Exists,
        OpKind::GetChildren,
        OpKind::Sync,
        OpKind::Ping,
        OpKind::SetWatches,
        OpKind::AddWatch,
        OpKind::RemoveWatches,
        OpKind::Cluster,
        OpKind::Quota,
        OpKind::Acl,
        OpKind::Export,
        OpKind::Other,
    ];

    /// The `op` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Delete => "delete",
            OpKind::SetData => "set_data",
            OpKind::Multi => "multi",
            OpKind::CloseSession => "close_session",
            OpKind::GetData => "get_data",
            OpKind::Exists => "exists",
            OpKind::GetChildren => "get_children",
            OpKind::Sync => "sync",
            OpKind::Ping => "ping",
            OpKind::SetWatches => "set_watches",
            OpKind::AddWatch => "add_watch",
            OpKind::RemoveWatches => "remove_watches",
            OpKind::Cluster => "cluster",
            OpKind::Quota => "quota",
            OpKind::Acl => "acl",
            OpKind::Export => "export",
            OpKind::Other => "other",
        }
    }

    /// The kind of a native request.
    pub(crate) fn of(op: &Req) -> OpKind {
        match op {
            Req::Create(_) => OpKind::Create,
            Req::Delete(_) => OpKind::Delete,
            Req::SetData(_) => OpKind::SetData,
            Req::Multi(_) => OpKind::Multi,
            Req::CloseSession(_) => OpKind::CloseSession,
            Req::GetData(_) => OpKind::GetData,
            Req::Exists(_) => OpKind::Exists,
            Req::GetChildren(_) => OpKind::GetChildren,
            Req::Sync(_) => OpKind::Sync,
            Req::Ping(_) => OpKind::Ping,
            Req::SetWatches(_) => OpKind::SetWatches,
            Req::AddWatch(_) => OpKind::AddWatch,
            Req::RemoveWatches(_) => OpKind::RemoveWatches,
            Req::ClusterStatus(_) | Req::ClusterChange(_) => OpKind::Cluster,
            Req::SetQuota(_) | Req::GetQuota(_) => OpKind::Quota,
            Req::GetAcl(_)
            | Req::SetAcl(_)
            | Req::AddAuth(_)
            | Req::WhoAmI(_)
            | Req::SessionInfo(_) => OpKind::Acl,
            Req::Export(_) => OpKind::Export,
            #[allow(unreachable_patterns)]
            _ => OpKind::Other,
        }
    }
}

/// Label set of the request histograms.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

/// The hot-path instruments.
pub(crate) struct Metrics {
    /// Off when no HTTP port serves them: then nothing is recorded.
    enabled: bool,
    family: Family<OpLabel, AtomicHistogram>,
    by_op: Vec<AtomicHistogram>,
}

impl Metrics {
    pub(crate) fn new(enabled: bool) -> Metrics {
        let family = Family::<OpLabel, AtomicHistogram>::new_with_constructor(
            AtomicHistogram::seconds as fn() -> AtomicHistogram,
        );
        let by_op = OpKind::ALL
            .iter()
            .map(|k| family.get_or_create(&OpLabel { op: k.label() }).clone())
            .collect();
        Metrics {
            enabled,
            family,
            by_op,
        }
    }

    /// The start of a request's timing (`None` when metrics are off).
    pub(crate) fn start(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }

    /// Records a request of `kind` that started at `started`.
    pub(crate) fn observe(&self, kind: OpKind, started: Option<Instant>) {
        if let Some(t) = started {
            // `ALL` lists the kinds in declaration order: the discriminant is
            // the histogram's index.
            self.by_op[kind as usize].observe(t.elapsed().as_secs_f64());
        }
    }
}

impl Metrics {
    /// Per operation: its label, the requests recorded and the sum of their
    /// latencies in seconds (the same histograms `/metrics` encodes; the
    /// dashboard's `/api/stats`).
    pub(crate) fn per_op(&self) -> Vec<(&'static str, u64, f64)> {
        OpKind::ALL
            .iter()
            .zip(&self.by_op)
            .map(|(k, h)| {
                let (sum, count) = h.sum_and_count();
                (k.label(), count, sum)
            })
            .collect()
    }
}

/// The registry `/metrics` encodes: the request histograms, the log
/// writer's, and the figures read at scrape time.
pub(crate) fn registry(shared: &Arc<Shared>) -> Registry {
    let mut r = Registry::with_prefix("coord");
    r.register(
        "request_duration_seconds",
        "Time from a request's arrival to its answer being queued, by operation",
        shared.metrics.family.clone(),
    );
    let (fsync, batch) = shared.replica.log_histograms();
    r.register(
        "log_fsync_duration_seconds",
        "Duration of each fdatasync of the raft log",
        fsync,
    );
    r.register(
        "log_commit_batch_entries",
        "Log entries made durable by one fsync (group commit)",
        batch,
    );
    r.register(
        "lock_wait_seconds",
        "Time from joining a lock's line (lock, read-write lock or election) to holding it, per acquisition (0 when held at once)",
        shared.lock_waits.histogram(),
    );
    r.register_collector(Box::new(StateCollector {
        shared: Arc::downgrade(shared),
    }));
    r
}

/// Encodes `registry` in Prometheus' text format.
pub(crate) fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "encoding /metrics failed");
    }
    out
}

/// Reads the server's state when scraped.
#[derive(Debug)]
struct StateCollector {
    shared: std::sync::Weak<Shared>,
}

/// One gauge or counter line for [`StateCollector`].
fn put(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let metric = enc.encode_descriptor(name, help, None, value.metric_type())?;
    value.encode(metric)
}

impl Collector for StateCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let (nodes, frozen) = {
            let sm = shared.read_sm();
            (sm.node_count(), sm.tree().frozen_nodes())
        };
        let data_bytes: u64 = crate::tree::walk(&frozen)
            .map(|(_, node)| node.data().len() as u64)
            .sum();
        let e = &mut enc;
        put(
            e,
            "sessions",
            "Sessions the server knows",
            ConstGauge::new(shared.sessions.session_count() as i64),
        )?;
        put(
            e,
            "connections",
            "Open client connections (both ports)",
            ConstGauge::new(shared.sessions.connection_count() as i64),
        )?;
        put(
            e,
            "watches",
            "Watches registered on this server",
            ConstGauge::new(shared.watches.len() as i64),
        )?;
        put(
            e,
            "nodes",
            "Nodes in the tree",
            ConstGauge::new(nodes as i64),
        )?;
        put(
            e,
            "data_bytes",
            "Bytes of node data in the tree",
            ConstGauge::new(data_bytes as i64),
        )?;
        put(
            e,
            "log_fsyncs",
            "fdatasync calls of the raft log",
            ConstCounter::new(shared.replica.log_fsyncs()),
        )?;
        put(
            e,
            "lock_waits",
            "Contenders (lock, read-write lock, election) that joined a line behind a holder",
            ConstCounter::new(shared.lock_waits.waits()),
        )?;
        put(
            e,
            "proposal_backlog_bytes",
            "Bytes of proposals queued in front of the log or in flight now",
            ConstGauge::new(shared.replica.pending_proposal_bytes() as i64),
        )?;
        put(
            e,
            "proposal_backlog_peak_bytes",
            "Most bytes of proposals queued or in flight at once since start",
            ConstGauge::new(shared.replica.pending_proposal_peak() as i64),
        )?;
        let m = shared.replica.metrics().borrow().clone();
        put(
            e,
            "raft_term",
            "Current raft term",
            ConstGauge::new(m.current_term as i64),
        )?;
        put(
            e,
            "raft_leader_id",
            "Member id of the leader this member knows (0: none)",
            ConstGauge::new(m.current_leader.unwrap_or(0) as i64),
        )?;
        put(
            e,
            "raft_is_leader",
            "1 on the leader",
            ConstGauge::new(i64::from(shared.replica.is_leader())),
        )?;
        let last_log = m.last_log_index.unwrap_or(0);
        put(
            e,
            "raft_last_log_index",
            "Index of the last entry in this member's log",
            ConstGauge::new(last_log as i64),
        )?;
        put(
            e,
            "raft_applied_index",
            "Index of the last entry applied here",
            ConstGauge::new(m.last_applied.map_or(0, |l| l.index) as i64),
        )?;
        if let Some(replication) = &m.replication {
            let mut family = e.encode_descriptor(
                "raft_follower_lag_entries",
                "On the leader: entries of its log each follower has not matched yet",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (follower, matched) in replication.iter().filter(|(id, _)| **id != m.id) {
                let lag = last_log.saturating_sub(matched.map_or(0, |l| l.index));
                let labels = [("follower", follower.to_string())];
                ConstGauge::new(lag as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        if let Some((size, modified)) = newest_snapshot(&shared.cfg.data_dir) {
            put(
                e,
                "snapshot_size_bytes",
                "Size of the newest snapshot file",
                ConstGauge::new(size as i64),
            )?;
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or(Duration::ZERO);
            put(
                e,
                "snapshot_age_seconds",
                "Seconds since the newest snapshot was written",
                ConstGauge::new(age.as_secs() as i64),
            )?;
        }
        Ok(())
    }
}

/// Size and write time of the newest snapshot in the data dir.
fn newest_snapshot(data_dir: &std::path::Path) -> Option<(u64, SystemTime)> {
    let path = crate::replication::newest_snapshot_file(data_dir)?;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

#[cfg(test)]
mod tests {
    use super::OpKind;

    #[test]
    fn every_kind_indexes_its_own_histogram() {
        for (i, k) in OpKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?} is out of declaration order in ALL");
        }
    }
}
