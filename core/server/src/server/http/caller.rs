//! Who an HTTP request reads as, and what it may see: the dashboard's
//! identities and permission checks.
//!
//! A request carries `Authorization: Bearer <token>`, mapped through the
//! tokens file exactly as a native `Connect`'s token is (`token:<user>`),
//! and its client address (`ip:<addr>`); every request also matches
//! `world:anyone`. A refused token is 401 whatever the settings; with
//! `--auth-required` a request without a token is 401 too. The permission
//! rule is `coord_proto::acl`'s, with the replicated `--superuser` bypass;
//! this module decides nothing about the tree and changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use coord_proto::acl::{self, IP, TOKEN};
use coord_proto::{Acl, Identity};

use super::HttpState;
use crate::config::Limits;

/// The identities of one HTTP request.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub(super) ids: Vec<Identity>,
}

impl Caller {
    /// What this caller may do, against the replicated `limits` (read under
    /// the state's lock, with the tree it is checked against).
    pub(super) fn viewer(&self, limits: &Limits) -> Viewer {
        Viewer {
            is_super: self.ids.iter().any(|i| limits.superusers.contains(i)),
            ids: self.ids.clone(),
        }
    }

    /// `scheme:id` of each identity, `world:anyone` last.
    pub(super) fn names(&self) -> Vec<String> {
        self.ids
            .iter()
            .map(|i| format!("{}:{}", i.scheme, i.id))
            .chain(std::iter::once("world:anyone".to_string()))
            .collect()
    }
}

/// A caller's identities and whether one of them is a super user.
#[derive(Debug, Clone)]
pub(super) struct Viewer {
    ids: Vec<Identity>,
    pub(super) is_super: bool,
}

impl Viewer {
    /// Whether the node ACL `acl` grants `perm` (an empty list is open).
    pub(super) fn may(&self, acl: &[Acl], perm: u32) -> bool {
        self.is_super || acl::allows(acl, &self.ids, perm)
    }
}

/// A refused request: 401 with a `WWW-Authenticate` challenge and the reason.
pub(super) struct Refused(&'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({ "error": self.0 })),
        )
            .into_response()
    }
}

impl FromRequestParts<Arc<HttpState>> for Caller {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Caller, Refused> {
        let mut ids = Vec::new();
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            ids.push(Identity::new(IP, addr.ip().to_string()));
        }
        let token = bearer(parts).or_else(|| page_token(parts));
        match token {
            Some(token) => {
                let user = state
                    .shared
                    .cfg
                    .tokens
                    .as_ref()
                    .and_then(|t| t.user_of(token.as_bytes()));
                match user {
                    Some(user) => ids.push(Identity::new(TOKEN, user)),
                    None => return Err(Refused("token refused (not in the server's tokens file)")),
                }
            }
            None if state.shared.cfg.auth_required => {
                return Err(Refused(
                    "this server requires authentication (--auth-required): send \
                     Authorization: Bearer <token>",
                ));
            }
            None => {}
        }
        ids.sort_by(|a, b| (&a.scheme, &a.id).cmp(&(&b.scheme, &b.id)));
        Ok(Caller { ids })
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The page itself (`GET /`) may take the token as `?token=` (a browser
/// cannot add a header to the address it opens); the API never does.
fn page_token(parts: &Parts) -> Option<String> {
    if parts.uri.path() != "/" {
        return None;
    }
    parts.uri.query()?.split('&').find_map(|kv| {
        let token = kv.strip_prefix("token=")?;
        (!token.is_empty()).then(|| token.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, auth: Option<&str>) -> Parts {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header_and_the_page_address_only() {
        assert_eq!(
            bearer(&parts("/api/node", Some("Bearer s3"))).as_deref(),
            Some("s3")
        );
        assert_eq!(
            bearer(&parts("/", Some("bearer  s3 "))).as_deref(),
            Some("s3")
        );
        assert_eq!(bearer(&parts("/", Some("Basic s3"))), None);
        assert_eq!(bearer(&parts("/", Some("Bearer "))), None);
        assert_eq!(
            page_token(&parts("/?x=1&token=s3", None)).as_deref(),
            Some("s3")
        );
        // The API never takes a token from its address (it would end up in logs).
        assert_eq!(page_token(&parts("/api/node?token=s3", None)), None);
        assert_eq!(page_token(&parts("/?token=", None)), None);
    }
}
