//! Subtree quotas as client and server see them: the limits set on a path
//! ([`QuotaLimits`]) and what the subtree uses now ([`QuotaUsage`]).
//!
//! A quota's subtree is its path and every node below it. Its node count
//! includes the node at the path itself; its bytes are the sum of the data
//! lengths of those nodes (names and stats are not counted). Enforcement is
//! the server's (in the replicated `apply`); this module owns only the types
//! and their wire form.

use serde::{Deserialize, Serialize};

use crate::proto;

/// The hard limits of one quota; `None` means "no limit of this kind".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuotaLimits {
    /// Most nodes the subtree may hold, its root included.
    pub max_nodes: Option<u64>,
    /// Most data bytes the subtree's nodes may hold together.
    pub max_bytes: Option<u64>,
}

/// What a quota's subtree holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuotaUsage {
    /// Nodes in the subtree, its root included (0 when the path does not exist).
    pub nodes: u64,
    /// Sum of the data lengths of those nodes.
    pub bytes: u64,
}

/// One quota as `getQuota` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// The limits set.
    pub limits: QuotaLimits,
    /// The subtree's usage at the answering server's applied zxid.
    pub usage: QuotaUsage,
}

impl From<&proto::QuotaLimits> for QuotaLimits {
    fn from(p: &proto::QuotaLimits) -> Self {
        QuotaLimits {
            max_nodes: p.max_nodes,
            max_bytes: p.max_bytes,
        }
    }
}

impl From<QuotaLimits> for proto::QuotaLimits {
    fn from(l: QuotaLimits) -> Self {
        proto::QuotaLimits {
            max_nodes: l.max_nodes,
            max_bytes: l.max_bytes,
        }
    }
}

impl From<&proto::GetQuotaResponse> for Quota {
    fn from(p: &proto::GetQuotaResponse) -> Self {
        Quota {
            limits: p.limits.as_ref().map(QuotaLimits::from).unwrap_or_default(),
            usage: QuotaUsage {
                nodes: p.usage_nodes,
                bytes: p.usage_bytes,
            },
        }
    }
}

impl From<Quota> for proto::GetQuotaResponse {
    fn from(q: Quota) -> Self {
        proto::GetQuotaResponse {
            limits: Some(q.limits.into()),
            usage_nodes: q.usage.nodes,
            usage_bytes: q.usage.bytes,
        }
    }
}
