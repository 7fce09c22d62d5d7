//! Conversions between JS objects and core types: stats, create options,
//! multi ops and their results, watch events.

use bytes::Bytes;
use coord_client::client::{CreateMode, EventType, Op, OpResult, Stat as CoreStat, WatchEvent};
use napi::Result;
use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::sys;
use napi_derive::napi;

use crate::error::{IntoJs, bad_arguments};

/// A node's metadata. Zxids and the owner are `bigint`s (64-bit).
#[napi(object, object_from_js = false)]
pub struct Stat {
    /// Zxid of the create.
    pub czxid: u64,
    /// Zxid of the last data change.
    pub mzxid: u64,
    /// Zxid of the last change of the children.
    pub pzxid: u64,
    /// Creation time, ms since the epoch.
    pub ctime: i64,
    /// Last modification time, ms since the epoch.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// ACL version (what `setAcl`'s `version` compares with).
    pub aversion: i32,
    /// Owning session of an ephemeral node, `0n` otherwise.
    pub ephemeral_owner: u64,
    /// Bytes of data.
    pub data_length: u32,
    /// Number of children.
    pub num_children: u32,
}

impl From<CoreStat> for Stat {
    fn from(s: CoreStat) -> Self {
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

/// What kind of node `create` makes (all false: persistent).
#[napi(object)]
#[derive(Default)]
pub struct CreateOptions {
    /// Deleted when the session ends.
    pub ephemeral: Option<bool>,
    /// Name suffixed with a 10-digit sequence number.
    pub sequential: Option<bool>,
    /// Removed by the server once it had children and has none left.
    pub container: Option<bool>,
    /// Persistent, removed once unchanged and childless for this long.
    pub ttl_ms: Option<i64>,
    /// Create missing ancestors first (as empty persistent nodes).
    pub make_parents: Option<bool>,
}

/// The create mode the options name; contradictory options are `BAD_ARGUMENTS`.
pub(crate) fn create_mode(o: &CreateOptions) -> Result<CreateMode> {
    let eph = o.ephemeral.unwrap_or(false);
    let seq = o.sequential.unwrap_or(false);
    let container = o.container.unwrap_or(false);
    let ttl = match o.ttl_ms {
        Some(t) if t <= 0 => return Err(bad_arguments(format!("ttlMs must be > 0, got {t}"))),
        Some(t) => Some(t.unsigned_abs()),
        None => None,
    };
    CreateMode::from_flags(eph, seq, container, ttl).js()
}

/// Bytes of an optional Buffer (empty when absent).
pub(crate) fn bytes(b: Option<Buffer>) -> Bytes {
    b.map(|b| Bytes::copy_from_slice(&b)).unwrap_or_default()
}

/// One operation of a transaction.
#[napi(object)]
pub struct TxnOp {
    /// `'create'`, `'delete'`, `'set'` or `'check'`.
    pub op: String,
    /// The node (for a sequential create, the name prefix).
    pub path: String,
    /// Data of a create or set.
    pub data: Option<Buffer>,
    /// Expected version of a delete, set or check (any when absent).
    pub version: Option<i32>,
    /// Kind of node of a create.
    pub create: Option<CreateOptions>,
}

pub(crate) fn op(o: TxnOp) -> Result<Op> {
    let version = o.version.unwrap_or(-1);
    Ok(match o.op.as_str() {
        "create" => Op::Create {
            acl: Vec::new(),
            mode: create_mode(&o.create.unwrap_or_default())?,
            path: o.path,
            data: bytes(o.data),
        },
        "delete" => Op::Delete {
            path: o.path,
            version,
        },
        "set" => Op::SetData {
            path: o.path,
            data: bytes(o.data),
            version,
        },
        "check" => Op::Check {
            path: o.path,
            version,
        },
        other => {
            return Err(bad_arguments(format!(
                "unknown transaction op {other:?} (create, delete, set, check)"
            )));
        }
    })
}

/// The result of one operation of a committed transaction.
#[napi(object, object_from_js = false)]
pub struct TxnResult {
    /// `'create'`, `'delete'`, `'set'` or `'check'`.
    pub op: String,
    /// The created path (with its sequence suffix), for a create.
    pub path: Option<String>,
    /// The new stat, for a create or set.
    pub stat: Option<Stat>,
}

pub(crate) fn op_result(r: OpResult) -> TxnResult {
    let (op, path, stat) = match r {
        OpResult::Create { path, stat } => ("create", Some(path), Some(stat.into())),
        OpResult::Delete => ("delete", None, None),
        OpResult::SetData { stat } => ("set", None, Some(stat.into())),
        OpResult::Check => ("check", None, None),
        // A committed multi has no failed op (`Client::multi` turns a
        // failure into an error); keep the shape total anyway.
        OpResult::Error(e) => ("error", Some(e.to_string()), None),
    };
    TxnResult {
        op: op.to_string(),
        path,
        stat,
    }
}

/// A change reported by a watch.
#[napi(object, object_from_js = false)]
pub struct WatchEventJs {
    /// `'created'`, `'deleted'`, `'dataChanged'`, `'childrenChanged'` or
    /// `'eventsLost'` (after a reconnect, events may have been missed: re-read).
    #[napi(js_name = "type")]
    pub kind: String,
    /// The node that changed.
    pub path: String,
    /// Zxid of the change.
    pub zxid: u64,
}

impl From<WatchEvent> for WatchEventJs {
    fn from(ev: WatchEvent) -> Self {
        let kind = match ev.kind {
            EventType::NodeCreated => "created",
            EventType::NodeDeleted => "deleted",
            EventType::NodeDataChanged => "dataChanged",
            EventType::NodeChildrenChanged => "childrenChanged",
            EventType::EventsLost => "eventsLost",
        };
        WatchEventJs {
            kind: kind.to_string(),
            path: ev.path,
            zxid: ev.zxid,
        }
    }
}

/// A node's data and stat.
#[napi(object, object_from_js = false)]
pub struct NodeData {
    /// The data.
    #[napi(ts_type = "Buffer")]
    pub data: CopiedBuffer,
    /// The metadata.
    pub stat: Stat,
}

impl NodeData {
    pub(crate) fn new(data: Bytes, stat: CoreStat) -> Self {
        NodeData {
            data: CopiedBuffer(data),
            stat: stat.into(),
        }
    }
}

/// Bytes of the stat at the head of a [`Packed`] result.
pub(crate) const STAT_BYTES: usize = 72;

/// A stat, and for a `get` the node's data after it, as one `ArrayBuffer`
/// that the JavaScript layer unpacks (`statOf` in `lib/util.js`, which
/// reads this layout; little-endian): czxid, mzxid, pzxid, ctime, mtime,
/// ephemeralOwner as 8-byte integers at 0, 8, ..., 40; version, cversion,
/// aversion, dataLength, numChildren as 4-byte integers at 48, 52, ..., 64;
/// the data from [`STAT_BYTES`].
///
/// Why: napi builds an object property by property, interning each name
/// and changing the object's shape each time; a `get`'s stat and result
/// objects were 7% of the JavaScript thread's time in its profile. One
/// buffer, unpacked by JIT-compiled code, costs a fraction of that. An
/// `ArrayBuffer` rather than a `Buffer`: napi makes a `Buffer` as an
/// `ArrayBuffer` plus a view whose prototype it then changes, a slow path
/// in V8; the view made in JavaScript is cheap (A/B: 85 against 90 us per
/// `get`).
pub(crate) struct Packed {
    pub(crate) stat: CoreStat,
    pub(crate) data: Option<Bytes>,
}

impl Packed {
    fn write_stat(s: &CoreStat, out: &mut [u8]) {
        let wide = [
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.ctime as u64,
            s.mtime as u64,
            s.ephemeral_owner,
        ];
        for (i, v) in wide.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        let narrow = [
            s.version as u32,
            s.cversion as u32,
            s.aversion as u32,
            s.data_length,
            s.num_children,
            0,
        ];
        for (i, v) in narrow.iter().enumerate() {
            out[48 + i * 4..52 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
    }
}

impl ToNapiValue for Packed {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let data = val.data.as_deref().unwrap_or_default();
        let len = STAT_BYTES + data.len();
        let mut value = std::ptr::null_mut();
        let mut buf = std::ptr::null_mut();
        // SAFETY: napi returns `len` writable bytes at `buf` (or an error).
        let status = unsafe { sys::napi_create_arraybuffer(env, len, &mut buf, &mut value) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::from(status),
                format!("cannot make an ArrayBuffer of {len} bytes"),
            ));
        }
        if len > 0 {
            // SAFETY: as above; nothing else refers to the new buffer yet.
            let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
            Packed::write_stat(&val.stat, &mut out[..STAT_BYTES]);
            out[STAT_BYTES..].copy_from_slice(data);
        }
        Ok(value)
    }
}

/// Bytes that become a JavaScript `Buffer` holding a copy of them.
///
/// napi's `Buffer` hands its memory to JavaScript as an external buffer,
/// which costs a backing store and a finalizer per value: for the small
/// data of a node (a `get` profile: 5% of the JavaScript thread) one copy
/// into a plain `Buffer` is cheaper, and it replaces the copy into a `Vec`
/// the external path needed anyway.
pub struct CopiedBuffer(pub(crate) Bytes);

impl ToNapiValue for CopiedBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut value = std::ptr::null_mut();
        let mut copy = std::ptr::null_mut();
        // SAFETY: napi copies `len` bytes from the live slice.
        let status = unsafe {
            sys::napi_create_buffer_copy(
                env,
                val.0.len(),
                val.0.as_ptr().cast(),
                &mut copy,
                &mut value,
            )
        };
        if status == sys::Status::napi_ok {
            Ok(value)
        } else {
            Err(napi::Error::new(
                napi::Status::from(status),
                format!("cannot make a Buffer of {} bytes", val.0.len()),
            ))
        }
    }
}
