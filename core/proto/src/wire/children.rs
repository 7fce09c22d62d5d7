//! Wire form of children listings: `GetChildrenRequest` <-> [`ListChildren`],
//! `GetChildrenResponse` <-> [`ChildrenPage`], and the exact number of bytes
//! one listed child adds to a reply ([`listed_entry_len`]), which is what the
//! server's byte budget counts.

use prost::Message;
use prost::encoding::encoded_len_varint;

use super::DEFAULT_MAX_FRAME_BYTES;
use super::convert::stat_from_proto;
use crate::children::{ChildrenPage, ListChildren, ListShape};
use crate::error::Error;
use crate::proto;
use crate::stat::Stat;

/// Decodes a listing request, refusing field combinations that mean nothing
/// (the error names the fields and the path).
pub fn list_children_from_proto(r: proto::GetChildrenRequest) -> Result<ListChildren, Error> {
    let path = r.path;
    let shape = if r.count_only {
        if r.with_stats || r.paged || !r.start_after.is_empty() || r.limit != 0 {
            return Err(Error::BadArguments(format!(
                "GetChildrenRequest.count_only on {path} cannot be combined with \
                 with_stats, paged, start_after or limit"
            )));
        }
        ListShape::Count
    } else if r.paged {
        ListShape::Page {
            with_stats: r.with_stats,
            start_after: (!r.start_after.is_empty()).then_some(r.start_after),
            limit: (r.limit != 0).then_some(r.limit),
        }
    } else {
        if !r.start_after.is_empty() || r.limit != 0 {
            return Err(Error::BadArguments(format!(
                "GetChildrenRequest.start_after and limit on {path} need paged = true"
            )));
        }
        ListShape::All {
            with_stats: r.with_stats,
        }
    };
    let client_max_frame = match r.max_reply_bytes {
        0 => DEFAULT_MAX_FRAME_BYTES,
        n => n as usize,
    };
    Ok(ListChildren {
        path,
        watch: r.watch,
        shape,
        client_max_frame,
    })
}

impl From<&ListChildren> for proto::GetChildrenRequest {
    fn from(l: &ListChildren) -> Self {
        let mut r = proto::GetChildrenRequest {
            path: l.path.clone(),
            watch: l.watch,
            max_reply_bytes: u32::try_from(l.client_max_frame).unwrap_or(u32::MAX),
            ..Default::default()
        };
        match &l.shape {
            ListShape::All { with_stats } => r.with_stats = *with_stats,
            ListShape::Page {
                with_stats,
                start_after,
                limit,
            } => {
                r.paged = true;
                r.with_stats = *with_stats;
                r.start_after = start_after.clone().unwrap_or_default();
                r.limit = limit.unwrap_or(0);
            }
            ListShape::Count => r.count_only = true,
        }
        r
    }
}

impl From<ChildrenPage> for proto::GetChildrenResponse {
    fn from(p: ChildrenPage) -> Self {
        let children = p
            .names
            .iter()
            .zip(&p.stats)
            .map(|(name, stat)| proto::Child {
                name: name.clone(),
                stat: Some(stat.into()),
            })
            .collect();
        proto::GetChildrenResponse {
            names: p.names,
            children,
            stat: Some((&p.stat).into()),
            more: p.more,
        }
    }
}

/// Decodes a listing reply read at `zxid`. With `with_stats` every child must
/// carry its stat (the names then come from the children, so a server that
/// filled only them is understood too).
pub fn children_page_from_proto(
    r: proto::GetChildrenResponse,
    zxid: u64,
    with_stats: bool,
) -> Result<ChildrenPage, Error> {
    let stat = stat_from_proto(r.stat, "GetChildrenResponse.stat")?;
    let (names, stats) = if with_stats {
        let mut names = Vec::with_capacity(r.children.len());
        let mut stats = Vec::with_capacity(r.children.len());
        for c in r.children {
            stats.push(stat_from_proto(c.stat, "Child.stat")?);
            names.push(c.name);
        }
        (names, stats)
    } else {
        (r.names, Vec::new())
    };
    Ok(ChildrenPage {
        names,
        stats,
        stat,
        more: r.more,
        zxid,
    })
}

/// Bytes one child adds to an encoded `GetChildrenResponse`: its entry in
/// `names`, plus its `Child` entry (name and stat) when `stat` is given.
pub fn listed_entry_len(name: &str, stat: Option<&Stat>) -> usize {
    // Fields 1 and 2 have one-byte keys.
    let name_field = 1 + encoded_len_varint(name.len() as u64) + name.len();
    let Some(stat) = stat else {
        return name_field;
    };
    let stat_len = proto::Stat::from(stat).encoded_len();
    let child_len = name_field + 1 + encoded_len_varint(stat_len as u64) + stat_len;
    name_field + 1 + encoded_len_varint(child_len as u64) + child_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::LISTING_ENVELOPE_BYTES;

    fn big_stat() -> Stat {
        Stat {
            czxid: u64::MAX,
            mzxid: u64::MAX,
            pzxid: u64::MAX,
            ctime: -1,
            mtime: -1,
            version: -1,
            cversion: -1,
            ephemeral_owner: u64::MAX,
            data_length: u32::MAX,
            num_children: u32::MAX,
            aversion: -1,
        }
    }

    fn page(n: usize, with_stats: bool) -> ChildrenPage {
        let names: Vec<String> = (0..n).map(|i| format!("{}{i}", "x".repeat(i))).collect();
        let stats = if with_stats {
            vec![big_stat(); n]
        } else {
            Vec::new()
        };
        ChildrenPage {
            names,
            stats,
            stat: big_stat(),
            more: true,
            zxid: 0,
        }
    }

    #[test]
    fn entry_len_is_exactly_what_an_entry_adds_to_the_reply() {
        for with_stats in [false, true] {
            let p = page(200, with_stats);
            let entries: usize = p
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| listed_entry_len(n, with_stats.then(|| &p.stats[i])))
                .sum();
            let mut bare = proto::GetChildrenResponse::from(p);
            bare.stat = None;
            bare.more = false;
            assert_eq!(bare.encoded_len(), entries, "with_stats = {with_stats}");
        }
    }

    #[test]
    fn envelope_covers_everything_but_the_entries() {
        let p = page(50, true);
        let entries: usize = p
            .names
            .iter()
            .zip(&p.stats)
            .map(|(n, s)| listed_entry_len(n, Some(s)))
            .sum();
        let msg = proto::ServerMessage {
            body: Some(proto::server_message::Body::Response(proto::Response {
                xid: u64::MAX,
                zxid: u64::MAX,
                error: None,
                result: Some(proto::response::Result::GetChildren(p.into())),
            })),
        };
        let frame = 4 + msg.encoded_len();
        assert!(
            frame <= entries + LISTING_ENVELOPE_BYTES,
            "{frame} vs {entries}"
        );
    }

    #[test]
    fn every_shape_round_trips_and_old_requests_list_everything() {
        let shapes = [
            ListShape::All { with_stats: true },
            ListShape::Page {
                with_stats: false,
                start_after: Some("b".into()),
                limit: Some(3),
            },
            ListShape::Page {
                with_stats: true,
                start_after: None,
                limit: None,
            },
            ListShape::Count,
        ];
        for shape in shapes {
            let l = ListChildren {
                shape,
                watch: true,
                ..ListChildren::all("/d")
            };
            let wire = proto::GetChildrenRequest::from(&l);
            assert_eq!(list_children_from_proto(wire).unwrap(), l);
        }
        let old = proto::GetChildrenRequest {
            path: "/d".into(),
            ..Default::default()
        };
        assert_eq!(
            list_children_from_proto(old).unwrap(),
            ListChildren::all("/d")
        );
    }

    #[test]
    fn meaningless_combinations_name_the_fields_and_the_path() {
        let count_with_page = proto::GetChildrenRequest {
            path: "/d".into(),
            count_only: true,
            paged: true,
            ..Default::default()
        };
        let e = list_children_from_proto(count_with_page).unwrap_err();
        assert!(matches!(&e, Error::BadArguments(m) if m.contains("count_only on /d")));
        let cursor_without_page = proto::GetChildrenRequest {
            path: "/d".into(),
            start_after: "a".into(),
            ..Default::default()
        };
        let e = list_children_from_proto(cursor_without_page).unwrap_err();
        assert!(matches!(&e, Error::BadArguments(m) if m.contains("need paged")));
    }

    #[test]
    fn page_with_stats_decodes_names_from_children() {
        let p = page(3, true);
        let wire = proto::GetChildrenResponse::from(p.clone());
        let back = children_page_from_proto(wire, 0, true).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.next_start_after(), Some(p.names[2].as_str()));
    }
}
