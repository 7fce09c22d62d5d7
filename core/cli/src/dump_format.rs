//! The `coord dump` file format (JSON Lines, version 1): writing the header
//! and node lines, and reading them back with errors that name the line.
//! Pure text handling: no client calls (those are `dump_cmd`'s).
//!
//! Line 1, the header:
//! `{"format":"coord-dump","version":1,"root":"/app","nodes":3}`
//! (`nodes`: node lines that follow). With `--stat` it also carries the
//! state's `zxid` and `ephemerals` (the subtree's ephemeral nodes, listed
//! only with `--ephemerals`): both describe the server, not the tree, so the
//! canonical form leaves them out and a restored tree dumps to the same
//! text. Then one line per
//! node, depth first, parents before children, children in name order:
//! `{"path":"a/b","kind":"persistent","data":"aGk=","acl":["world:anyone:cdrwa"]}`
//! with `path` relative to the root (`""` for the root itself), `data` in
//! standard base64, `acl` in ZooKeeper's `scheme:id:perms` text form and
//! `kind` one of `persistent`, `container`, `ttl`, `ephemeral`. Optional
//! fields, in this order: `ttl_ms` (kind `ttl`), `quota`
//! (`{"max_nodes":N,"max_bytes":N}`, each only when set), `stat` (`--stat`).
//! Keys are always written in this order, so one tree gives one text.

use base64::Engine as _;
use bytes::Bytes;
use coord_client::Error;
use coord_client::client::{CreateMode, ExportedNode, QuotaLimits};
use coord_proto::Acl;
use serde_json::Value;

/// The header's `format`.
pub(crate) const FORMAT_NAME: &str = "coord-dump";
/// The version this coord writes and reads.
pub(crate) const FORMAT_VERSION: u64 = 1;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The first line of a dump.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub(crate) root: String,
    pub(crate) nodes: u64,
    /// The state dumped: written with `--stat` only.
    pub(crate) zxid: Option<u64>,
    /// Ephemeral nodes of the subtree: written with `--stat` only.
    pub(crate) ephemerals: Option<u64>,
}

/// A node line, read back.
#[derive(Debug, Clone)]
pub(crate) struct NodeLine {
    /// Relative to the dump's root; empty for the root.
    pub(crate) path: String,
    pub(crate) mode: CreateMode,
    pub(crate) data: Bytes,
    pub(crate) acl: Vec<Acl>,
    pub(crate) quota: Option<QuotaLimits>,
}

fn json_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The header line (without the newline).
pub(crate) fn header_line(h: &Header) -> String {
    let mut line = format!(
        "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"root\":{},\"nodes\":{}",
        json_str(&h.root),
        h.nodes,
    );
    if let Some(zxid) = h.zxid {
        line.push_str(&format!(",\"zxid\":{zxid}"));
    }
    if let Some(n) = h.ephemerals {
        line.push_str(&format!(",\"ephemerals\":{n}"));
    }
    line.push('}');
    line
}

/// `path` relative to `root` (`""` for the root itself).
pub(crate) fn relative<'a>(root: &str, path: &'a str) -> &'a str {
    if path == root {
        ""
    } else if root == "/" {
        path.strip_prefix('/').unwrap_or(path)
    } else {
        path.strip_prefix(root)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(path)
    }
}

/// The full path of `rel` (relative, `""` for the root) placed under `at`.
pub(crate) fn absolute(at: &str, rel: &str) -> String {
    match (at, rel) {
        (at, "") => at.to_string(),
        ("/", rel) => format!("/{rel}"),
        (at, rel) => format!("{at}/{rel}"),
    }
}

/// One node's line (without the newline).
pub(crate) fn node_line(root: &str, n: &ExportedNode, with_stat: bool) -> String {
    let kind = match n.mode {
        CreateMode::Ephemeral | CreateMode::EphemeralSequential => "ephemeral",
        CreateMode::Container => "container",
        CreateMode::PersistentWithTtl(_) | CreateMode::PersistentSequentialWithTtl(_) => "ttl",
        CreateMode::Persistent | CreateMode::PersistentSequential => "persistent",
    };
    let acl: Vec<String> = n.acl.iter().map(|a| json_str(&a.to_string())).collect();
    let mut line = format!(
        "{{\"path\":{},\"kind\":\"{kind}\",\"data\":\"{}\",\"acl\":[{}]",
        json_str(relative(root, &n.path)),
        B64.encode(&n.data),
        acl.join(",")
    );
    if let Some(ttl) = n.mode.ttl_ms() {
        line.push_str(&format!(",\"ttl_ms\":{ttl}"));
    }
    if let Some(q) = &n.quota {
        let mut parts = Vec::new();
        if let Some(v) = q.max_nodes {
            parts.push(format!("\"max_nodes\":{v}"));
        }
        if let Some(v) = q.max_bytes {
            parts.push(format!("\"max_bytes\":{v}"));
        }
        line.push_str(&format!(",\"quota\":{{{}}}", parts.join(",")));
    }
    if with_stat {
        // Stat's fields in declaration order (serde keeps it).
        let stat = serde_json::to_string(&n.stat).unwrap_or_else(|_| "null".into());
        line.push_str(&format!(",\"stat\":{stat}"));
    }
    line.push('}');
    line
}

fn bad(file: &str, line: usize, why: impl std::fmt::Display) -> Error {
    Error::BadArguments(format!("{file} line {line}: {why}"))
}

/// Reads the header line (line 1 of `file`).
pub(crate) fn parse_header(file: &str, text: &str) -> Result<Header, Error> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad(file, 1, format!("not a coord dump header ({e})")))?;
    let format = v.get("format").and_then(Value::as_str);
    if format != Some(FORMAT_NAME) {
        return Err(bad(
            file,
            1,
            format!("not a coord dump (format {format:?}, expected {FORMAT_NAME:?})"),
        ));
    }
    match v.get("version").and_then(Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        other => {
            return Err(bad(
                file,
                1,
                format!(
                    "dump format version {} is not supported (this coord reads version \
                     {FORMAT_VERSION})",
                    other.map_or_else(|| "missing".to_string(), |v| v.to_string())
                ),
            ));
        }
    }
    let field = |name: &str| {
        v.get(name).and_then(Value::as_u64).ok_or_else(|| {
            bad(
                file,
                1,
                format!("header field {name:?} missing or not a number"),
            )
        })
    };
    let root = v
        .get("root")
        .and_then(Value::as_str)
        .filter(|r| r.starts_with('/'))
        .ok_or_else(|| {
            bad(
                file,
                1,
                "header field \"root\" missing or not an absolute path",
            )
        })?;
    Ok(Header {
        root: root.to_string(),
        nodes: field("nodes")?,
        zxid: v.get("zxid").and_then(Value::as_u64),
        ephemerals: v.get("ephemerals").and_then(Value::as_u64),
    })
}

/// Reads node line `line` of `file`.
pub(crate) fn parse_node(file: &str, line: usize, text: &str) -> Result<NodeLine, Error> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad(file, line, format!("not a node line ({e})")))?;
    let str_field = |name: &str| {
        v.get(name).and_then(Value::as_str).ok_or_else(|| {
            bad(
                file,
                line,
                format!("field {name:?} missing or not a string"),
            )
        })
    };
    let path = str_field("path")?;
    if path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err(bad(
            file,
            line,
            format!("path {path:?} must be relative to the root (\"\" for the root)"),
        ));
    }
    let mode = match str_field("kind")? {
        "persistent" => CreateMode::Persistent,
        "container" => CreateMode::Container,
        "ephemeral" => CreateMode::Ephemeral,
        "ttl" => match v.get("ttl_ms").and_then(Value::as_u64) {
            Some(ttl) => CreateMode::PersistentWithTtl(ttl),
            None => return Err(bad(file, line, "kind \"ttl\" needs a numeric \"ttl_ms\"")),
        },
        other => {
            return Err(bad(
                file,
                line,
                format!("kind {other:?} (expected persistent, container, ttl or ephemeral)"),
            ));
        }
    };
    let data = B64
        .decode(str_field("data")?)
        .map_err(|e| bad(file, line, format!("data is not base64 ({e})")))?;
    let acl = v
        .get("acl")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(file, line, "field \"acl\" missing or not a list"))?
        .iter()
        .map(|a| {
            a.as_str()
                .ok_or_else(|| bad(file, line, "an ACL entry is not a string"))
                .and_then(|t| Acl::parse(t).map_err(|e| bad(file, line, e.detail())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quota = v.get("quota").map(|q| QuotaLimits {
        max_nodes: q.get("max_nodes").and_then(Value::as_u64),
        max_bytes: q.get("max_bytes").and_then(Value::as_u64),
    });
    Ok(NodeLine {
        path: path.to_string(),
        mode,
        data: Bytes::from(data),
        acl,
        quota,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_between_roots() {
        assert_eq!(relative("/", "/"), "");
        assert_eq!(relative("/", "/a/b"), "a/b");
        assert_eq!(relative("/app", "/app"), "");
        assert_eq!(relative("/app", "/app/x"), "x");
        assert_eq!(absolute("/", ""), "/");
        assert_eq!(absolute("/", "a/b"), "/a/b");
        assert_eq!(absolute("/copy", ""), "/copy");
        assert_eq!(absolute("/copy", "x"), "/copy/x");
    }

    #[test]
    fn a_wrong_version_names_line_one() {
        let e = parse_header(
            "f",
            r#"{"format":"coord-dump","version":7,"root":"/","zxid":1,"nodes":0,"ephemerals":0}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("f line 1"), "{e}");
        assert!(e.to_string().contains("version 7"), "{e}");
    }
}
