//! [`Client`]'s subtree quota calls: set, clear and read the hard quota on a
//! path ([`Client::set_quota`], [`Client::clear_quota`], [`Client::get_quota`]).
//!
//! A quota limits the node count (the subtree's root included) and the data
//! bytes (sum of the nodes' data lengths) of the subtree at a path. The server
//! enforces it in its replicated `apply`: a create, set or multi that would
//! take any quota'd subtree over a limit fails with
//! [`Error::QuotaExceeded`], naming the quota's path, the limit and the value
//! the write would have reached; a failed multi applies nothing. This module
//! owns only the requests; the types are `coord_proto`'s.

use coord_proto::proto;
use coord_proto::proto::request::Op as Req;
use coord_proto::proto::response::Result as Res;
use coord_proto::{Quota, QuotaLimits};

use super::api::{Client, result_name};
use super::request::Action;
use crate::error::{Error, Result};

impl Client {
    /// Sets (or replaces) the quota on the existing node `path`; at least one
    /// of `limits.max_nodes` / `limits.max_bytes` must be set. A subtree
    /// already over the new limits keeps its nodes; only growth is refused.
    pub async fn set_quota(&self, path: &str, limits: QuotaLimits) -> Result<()> {
        self.send_set_quota(proto::SetQuotaRequest {
            path: path.to_string(),
            limits: Some(limits.into()),
            clear: false,
        })
        .await
    }

    /// Removes the quota on `path` (`NoNode` when none is set).
    pub async fn clear_quota(&self, path: &str) -> Result<()> {
        self.send_set_quota(proto::SetQuotaRequest {
            path: path.to_string(),
            limits: None,
            clear: true,
        })
        .await
    }

    /// The quota on exactly `path` and its subtree's usage now (`NoNode`
    /// when no quota is set there).
    pub async fn get_quota(&self, path: &str) -> Result<Quota> {
        let resp = self
            .read(
                Req::GetQuota(proto::GetQuotaRequest {
                    path: path.to_string(),
                }),
                Action::None,
            )
            .await?;
        match &resp.result {
            Some(Res::GetQuota(q)) => Ok(Quota::from(q)),
            other => Err(unexpected("GetQuota", other)),
        }
    }

    async fn send_set_quota(&self, req: proto::SetQuotaRequest) -> Result<()> {
        let resp = self.call_without_min_zxid(Req::SetQuota(req)).await?;
        match &resp.result {
            Some(Res::SetQuota(_)) => Ok(()),
            other => Err(unexpected("SetQuota", other)),
        }
    }
}

fn unexpected(wanted: &str, got: &Option<Res>) -> Error {
    Error::Protocol(format!(
        "expected a {wanted} response, got {}",
        result_name(got)
    ))
}
