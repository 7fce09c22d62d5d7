//! The shape of a client frame, learned before it is decoded: the request's
//! xid and how many entries its repeated fields hold (ops of a multi, paths
//! of a `SetWatches`).
//!
//! prost allocates every element of a repeated field while it decodes, so a
//! 4 MiB frame of two-byte empty ops becomes millions of structs before any
//! count can be checked. [`frame_shape`] walks the protobuf fields of a
//! `ClientMessage` instead: it follows only the length-delimited fields that
//! lead to those lists, skips every other payload by its length, and
//! allocates nothing. A server checks the counts against its limits and
//! refuses the frame before handing it to prost.
//!
//! It does not decode values: what the walker accepts prost may still
//! refuse. The reverse does not happen: everything the walker calls
//! malformed is also an error to prost (bad varint, bad tag, truncated
//! field, stray end-group), so refusing it without decoding loses nothing.

/// Field numbers of `coord.proto` the walk follows (kept beside the schema's
/// names so a renumbering there shows up here in review).
mod field {
    /// `ClientMessage.request`.
    pub(super) const CLIENT_REQUEST: u32 = 2;
    /// `Request.xid`.
    pub(super) const REQUEST_XID: u32 = 1;
    /// `Request.multi`.
    pub(super) const REQUEST_MULTI: u32 = 16;
    /// `Request.set_watches`.
    pub(super) const REQUEST_SET_WATCHES: u32 = 19;
    /// `MultiRequest.ops`.
    pub(super) const MULTI_OPS: u32 = 1;
    /// `SetWatchesRequest.data` .. `persistent_recursive`: the path lists.
    pub(super) const SET_WATCHES_LISTS: std::ops::RangeInclusive<u32> = 2..=6;
}

/// Deepest nesting of groups skipped (prost's own recursion limit).
const MAX_DEPTH: u32 = 100;

/// What a frame holds, as far as limits care.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FrameShape {
    /// The request's xid (0 when the frame is not a request or carries none).
    pub xid: u64,
    /// Ops of a multi request, summed over every occurrence of the fields on
    /// the way (prost merges repeated occurrences into one list).
    pub multi_ops: usize,
    /// Paths of a `SetWatches` request, all five lists together.
    pub set_watches_paths: usize,
}

/// Why a frame is not valid protobuf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf: {0}")]
pub struct ShapeError(&'static str);

/// Walks an encoded `ClientMessage` (see the module docs). Costs one pass over
/// the bytes and no allocation.
pub fn frame_shape(frame: &[u8]) -> Result<FrameShape, ShapeError> {
    let mut shape = FrameShape::default();
    for f in Fields::new(frame) {
        if let (field::CLIENT_REQUEST, Value::Bytes(request)) = f? {
            request_shape(request, &mut shape)?;
        }
    }
    Ok(shape)
}

fn request_shape(request: &[u8], shape: &mut FrameShape) -> Result<(), ShapeError> {
    for f in Fields::new(request) {
        match f? {
            (field::REQUEST_XID, Value::Varint(xid)) => shape.xid = xid,
            (field::REQUEST_MULTI, Value::Bytes(multi)) => {
                shape.multi_ops += count(multi, |n| n == field::MULTI_OPS)?;
            }
            (field::REQUEST_SET_WATCHES, Value::Bytes(set)) => {
                shape.set_watches_paths += count(set, |n| field::SET_WATCHES_LISTS.contains(&n))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Length-delimited fields of `msg` whose number `wanted` accepts.
fn count(msg: &[u8], wanted: impl Fn(u32) -> bool) -> Result<usize, ShapeError> {
    let mut n = 0;
    for f in Fields::new(msg) {
        if let (number, Value::Bytes(_)) = f?
            && wanted(number)
        {
            n += 1;
        }
    }
    Ok(n)
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed-width or group: skipped.
    Skipped,
}

/// The top-level fields of one message, in order.
struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, failed: false }
    }

    fn varint(&mut self) -> Result<u64, ShapeError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&byte, rest)) = self.buf.split_first() else {
                return Err(ShapeError("truncated varint"));
            };
            self.buf = rest;
            if i == 9 && byte > 1 {
                return Err(ShapeError("varint longer than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(ShapeError("varint longer than 64 bits"))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], ShapeError> {
        let len = usize::try_from(len).map_err(|_| ShapeError("length out of range"))?;
        if len > self.buf.len() {
            return Err(ShapeError("field runs past the end of its message"));
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn key(&mut self) -> Result<(u32, u8), ShapeError> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| ShapeError("invalid key"))?;
        let (number, wire_type) = (key >> 3, (key & 7) as u8);
        if number == 0 {
            return Err(ShapeError("field number 0"));
        }
        Ok((number, wire_type))
    }

    /// Reads the value of a field of `wire_type` (`number` closes a group).
    fn value(&mut self, number: u32, wire_type: u8, depth: u32) -> Result<Value<'a>, ShapeError> {
        match wire_type {
            0 => self.varint().map(Value::Varint),
            1 => self.take(8).map(|_| Value::Skipped),
            2 => {
                let len = self.varint()?;
                self.take(len).map(Value::Bytes)
            }
            3 => {
                if depth >= MAX_DEPTH {
                    return Err(ShapeError("groups nested too deep"));
                }
                loop {
                    let (inner, inner_type) = self.key()?;
                    if inner_type == 4 {
                        if inner != number {
                            return Err(ShapeError("end of a group that was not open"));
                        }
                        return Ok(Value::Skipped);
                    }
                    self.value(inner, inner_type, depth + 1)?;
                }
            }
            4 => Err(ShapeError("end of a group that was not open")),
            5 => self.take(4).map(|_| Value::Skipped),
            _ => Err(ShapeError("invalid wire type")),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), ShapeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let field = self
            .key()
            .and_then(|(number, wire_type)| Ok((number, self.value(number, wire_type, 0)?)));
        self.failed = field.is_err();
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use prost::Message;

    use super::*;
    use crate::proto::{self, client_message::Body, request::Op as Req};

    fn request(xid: u64, op: Req) -> Vec<u8> {
        proto::ClientMessage {
            body: Some(Body::Request(proto::Request {
                xid,
                min_zxid: 9,
                op: Some(op),
            })),
        }
        .encode_to_vec()
    }

    fn check_op(path: &str) -> proto::Op {
        proto::Op {
            op: Some(proto::op::Op::Check(proto::CheckRequest {
                path: path.into(),
                version: 3,
            })),
        }
    }

    #[test]
    fn counts_the_ops_of_a_multi_and_reads_the_xid() {
        let ops = (0..37).map(|i| check_op(&format!("/n{i}"))).collect();
        let frame = request(42, Req::Multi(proto::MultiRequest { ops }));
        let shape = frame_shape(&frame).unwrap();
        assert_eq!(
            shape,
            FrameShape {
                xid: 42,
                multi_ops: 37,
                set_watches_paths: 0
            }
        );
    }

    #[test]
    fn counts_every_path_list_of_set_watches() {
        let paths = |n: usize| (0..n).map(|i| format!("/p{i}")).collect::<Vec<_>>();
        let frame = request(
            7,
            Req::SetWatches(proto::SetWatchesRequest {
                last_zxid: 5,
                data: paths(1),
                exist: paths(2),
                children: paths(3),
                persistent: paths(4),
                persistent_recursive: paths(5),
            }),
        );
        assert_eq!(frame_shape(&frame).unwrap().set_watches_paths, 15);
    }

    #[test]
    fn empty_ops_are_counted_without_being_decoded() {
        // Two bytes per empty op: what a frame of millions of ops looks like.
        let n = 100_000usize;
        let mut multi = BytesMut::new();
        for _ in 0..n {
            multi.extend_from_slice(&[0x0a, 0x00]);
        }
        let mut req = BytesMut::new();
        prost::encoding::uint64::encode(1, &5, &mut req);
        prost::encoding::bytes::encode(16, &multi.to_vec(), &mut req);
        let mut msg = BytesMut::new();
        prost::encoding::bytes::encode(2, &req.to_vec(), &mut msg);
        let shape = frame_shape(&msg).unwrap();
        assert_eq!((shape.xid, shape.multi_ops), (5, n));
        // prost agrees on the count (the thing it would have allocated).
        let decoded = proto::ClientMessage::decode(&msg[..]).unwrap();
        match decoded.body {
            Some(Body::Request(proto::Request {
                op: Some(Req::Multi(m)),
                ..
            })) => assert_eq!(m.ops.len(), n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn repeated_occurrences_are_summed_as_prost_merges_them() {
        let one = request(
            1,
            Req::Multi(proto::MultiRequest {
                ops: vec![check_op("/a")],
            }),
        );
        let two = request(
            2,
            Req::Multi(proto::MultiRequest {
                ops: vec![check_op("/b"), check_op("/c")],
            }),
        );
        let frame = [one, two].concat();
        let shape = frame_shape(&frame).unwrap();
        assert_eq!((shape.xid, shape.multi_ops), (2, 3));
        let decoded = proto::ClientMessage::decode(&frame[..]).unwrap();
        match decoded.body {
            Some(Body::Request(proto::Request {
                op: Some(Req::Multi(m)),
                ..
            })) => assert_eq!(m.ops.len(), 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let mut frame = Vec::new();
        // Field 9 as a group holding a varint, then fixed32 and fixed64 fields.
        frame.extend_from_slice(&[(9 << 3) | 3, 8, 1, (9 << 3) | 4]);
        frame.extend_from_slice(&[(10 << 3) | 5, 1, 2, 3, 4]);
        frame.extend_from_slice(&[(11 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        frame.extend(request(
            3,
            Req::Multi(proto::MultiRequest {
                ops: vec![check_op("/a")],
            }),
        ));
        assert!(proto::ClientMessage::decode(&frame[..]).is_ok());
        let shape = frame_shape(&frame).unwrap();
        assert_eq!((shape.xid, shape.multi_ops), (3, 1));
    }

    #[test]
    fn malformed_frames_are_refused_and_prost_refuses_them_too() {
        let good = request(
            3,
            Req::Multi(proto::MultiRequest {
                ops: vec![check_op("/a")],
            }),
        );
        let cases: Vec<Vec<u8>> = vec![
            good[..good.len() - 1].to_vec(),  // truncated
            vec![0x12, 0x05, 0x08],           // length past the end
            vec![0x00, 0x01],                 // field number 0
            vec![0x16, 0x01],                 // wire type 6
            vec![(9 << 3) | 4],               // stray end-group
            vec![(9 << 3) | 3, (8 << 3) | 4], // group closed by another number
            vec![
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
        ];
        for bytes in cases {
            assert!(frame_shape(&bytes).is_err(), "walker accepted {bytes:02x?}");
            assert!(
                proto::ClientMessage::decode(&bytes[..]).is_err(),
                "prost accepted {bytes:02x?}"
            );
        }
    }

    #[test]
    fn other_messages_have_an_empty_shape() {
        let connect = proto::ClientMessage {
            body: Some(Body::Connect(proto::Connect {
                protocol_version: 1,
                ..Default::default()
            })),
        }
        .encode_to_vec();
        assert_eq!(frame_shape(&connect).unwrap(), FrameShape::default());
        let get = request(
            8,
            Req::GetData(proto::GetDataRequest {
                path: "/x".into(),
                watch: true,
            }),
        );
        assert_eq!(
            frame_shape(&get).unwrap(),
            FrameShape {
                xid: 8,
                ..Default::default()
            }
        );
    }
}
