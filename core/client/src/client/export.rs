//! [`Client::export_page`]: one page of a consistent export of a subtree
//! (what `coord dump` reads), and [`ExportedNode`], a node as exported.
//!
//! The server freezes its tree at the first page (empty cursor) and serves
//! every later page of the same export from that copy, so the pages together
//! are the subtree at one zxid. The export lives on the connection: if the
//! client reconnects between pages, the next page fails with `BadArguments`
//! and the export must start again. This module only builds requests and
//! decodes answers; the file format is the CLI's.

use bytes::Bytes;

use coord_proto::proto;
use coord_proto::proto::request::Op as Req;
use coord_proto::proto::response::Result as Res;
use coord_proto::wire::{acl_from_proto, stat_from_proto};
use coord_proto::{Acl, CreateMode, QuotaLimits, Stat};

use super::api::{Client, result_name};
use super::request::Action;
use crate::error::{Error, Result};

/// A node as an export reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedNode {
    /// Full path.
    pub path: String,
    /// The node's data.
    pub data: Bytes,
    /// The node's stat in the exported state.
    pub stat: Stat,
    /// The node's ACL (`world:anyone:cdrwa` for an open node).
    pub acl: Vec<Acl>,
    /// Its kind as a create mode (never sequential: the name already
    /// carries the suffix): persistent, ephemeral, container or TTL.
    pub mode: CreateMode,
    /// The quota set on this node, if any.
    pub quota: Option<QuotaLimits>,
}

/// One page of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    /// The zxid of the frozen state every page of this export reflects.
    pub zxid: u64,
    /// Nodes in depth-first order, parents first, children in name order.
    pub nodes: Vec<ExportedNode>,
    /// Where the next page starts; `None` after the last page.
    pub cursor: Option<String>,
    /// Nodes in the subtree, ephemerals included.
    pub total_nodes: u64,
    /// Of which ephemeral.
    pub ephemeral_nodes: u64,
}

impl Client {
    /// One page of the export of the subtree at `path`: `cursor` `None`
    /// starts a new export (freezing the server's tree), otherwise the
    /// previous page's cursor. `max_bytes` bounds the page (0: the server's
    /// `max_export_page_bytes`). `NoAuth` naming the node when this session
    /// may not READ some node of the subtree.
    pub async fn export_page(
        &self,
        path: &str,
        cursor: Option<&str>,
        max_bytes: u32,
    ) -> Result<ExportPage> {
        let resp = self
            .read(
                Req::Export(proto::ExportRequest {
                    path: path.to_string(),
                    cursor: cursor.unwrap_or_default().to_string(),
                    max_bytes,
                }),
                Action::None,
            )
            .await?;
        match resp.result {
            Some(Res::Export(page)) => page_from_proto(page),
            other => Err(Error::Protocol(format!(
                "expected an Export response, got {}",
                result_name(&other)
            ))),
        }
    }
}

fn page_from_proto(p: proto::ExportResponse) -> Result<ExportPage> {
    let nodes = p
        .nodes
        .into_iter()
        .map(node_from_proto)
        .collect::<Result<Vec<_>>>()?;
    Ok(ExportPage {
        zxid: p.zxid,
        nodes,
        cursor: (!p.done).then_some(p.cursor),
        total_nodes: p.total_nodes,
        ephemeral_nodes: p.ephemeral_nodes,
    })
}

fn node_from_proto(n: proto::ExportedNode) -> Result<ExportedNode> {
    let mode = match proto::NodeKind::try_from(n.kind) {
        Ok(proto::NodeKind::Persistent) => CreateMode::Persistent,
        Ok(proto::NodeKind::Ephemeral) => CreateMode::Ephemeral,
        Ok(proto::NodeKind::Container) => CreateMode::Container,
        Ok(proto::NodeKind::Ttl) => CreateMode::PersistentWithTtl(n.ttl_ms),
        Err(_) => {
            return Err(Error::Protocol(format!(
                "exported node {} has unknown kind {}",
                n.path, n.kind
            )));
        }
    };
    Ok(ExportedNode {
        stat: stat_from_proto(n.stat, "ExportedNode.stat")?,
        acl: acl_from_proto(n.acl),
        mode,
        quota: n.quota.as_ref().map(QuotaLimits::from),
        data: n.data,
        path: n.path,
    })
}
