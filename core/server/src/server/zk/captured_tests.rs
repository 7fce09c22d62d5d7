//! The codec against bytes real ZooKeeper software produced: traffic
//! between ZooKeeper 3.8 (Debian's package) and kazoo, zkCli.sh (the Java
//! client) and cli_mt (the C client), captured by `tests/zk/capture.sh`
//! into `testdata/`. Every frame must decode as the record its opcode names
//! and encode back to the same bytes; every request must be accepted by the
//! listener's translation. Then a bounded, seeded mutation run over the same
//! corpus checks that no damaged frame panics the decoders.

use bytes::{Bytes, BytesMut};

use super::convert::{Decoded, decode_request};
use super::jute::{Jute, Reader};
use super::records::{self as rec, op};
use super::{ZkConn, ZkStats};

const CAPTURES: [(&str, &str); 3] = [
    ("kazoo", include_str!("testdata/kazoo.txt")),
    ("zkcli", include_str!("testdata/zkcli.txt")),
    ("cli_mt", include_str!("testdata/cli_mt.txt")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Client,
    Server,
}

/// The connections of one capture, each a list of frames in wire order.
fn connections(text: &str) -> Vec<Vec<(Dir, Bytes)>> {
    let mut out: Vec<Vec<(Dir, Bytes)>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("= connection") {
            out.push(Vec::new());
            continue;
        }
        let (dir, hex) = match line.split_once(' ') {
            Some(("C", h)) => (Dir::Client, h),
            Some(("S", h)) => (Dir::Server, h),
            _ => continue,
        };
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        out.last_mut()
            .expect("a frame before any connection")
            .push((dir, Bytes::from(bytes)));
    }
    out
}

fn encoded<T: Jute>(v: &T) -> Bytes {
    let mut w = BytesMut::new();
    v.write(&mut w);
    w.freeze()
}

/// Decodes the rest of `r` as `T` and checks it encodes back to the same bytes.
fn round_trip<T: Jute>(r: &mut Reader, rest: &[u8], what: &str) {
    let v = T::read(r, what).unwrap_or_else(|e| panic!("{what}: {e}"));
    r.finish(what).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(&encoded(&v)[..], rest, "{what} re-encodes differently");
}

fn request(opcode: i32, r: &mut Reader, rest: &[u8], what: &str) {
    use rec::*;
    match opcode {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
            round_trip::<CreateRequest>(r, rest, what)
        }
        op::CREATE_TTL => round_trip::<CreateTtlRequest>(r, rest, what),
        op::DELETE => round_trip::<DeleteRequest>(r, rest, what),
        op::EXISTS | op::GET_DATA | op::GET_CHILDREN | op::GET_CHILDREN2 => {
            round_trip::<PathWatch>(r, rest, what)
        }
        op::SET_DATA => round_trip::<SetDataRequest>(r, rest, what),
        op::GET_ACL | op::SYNC | op::GET_EPHEMERALS | op::GET_ALL_CHILDREN_NUMBER => {
            round_trip::<PathOnly>(r, rest, what)
        }
        op::SET_ACL => round_trip::<SetAclRequest>(r, rest, what),
        op::CHECK => round_trip::<CheckVersionRequest>(r, rest, what),
        op::CHECK_WATCHES | op::REMOVE_WATCHES => round_trip::<WatchesRequest>(r, rest, what),
        op::AUTH => round_trip::<AuthPacket>(r, rest, what),
        op::SET_WATCHES => round_trip::<SetWatches>(r, rest, what),
        op::SET_WATCHES2 => round_trip::<SetWatches2>(r, rest, what),
        op::ADD_WATCH => round_trip::<AddWatchRequest>(r, rest, what),
        op::RECONFIG => round_trip::<ReconfigRequest>(r, rest, what),
        op::MULTI | op::MULTI_READ => {
            let ops = decode_multi(r, usize::MAX).unwrap_or_else(|e| panic!("{what}: {e}"));
            r.finish(what).unwrap();
            let mut w = BytesMut::new();
            encode_multi(&ops, &mut w);
            assert_eq!(&w[..], rest, "{what} re-encodes differently");
        }
        op::PING | op::CLOSE_SESSION | op::WHO_AM_I => r.finish(what).unwrap(),
        other => panic!("{what}: no request record for opcode {other}"),
    }
}

fn reply(opcode: i32, r: &mut Reader, rest: &[u8], what: &str) {
    use rec::*;
    match opcode {
        op::CREATE => round_trip::<CreateResponse>(r, rest, what),
        op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            round_trip::<Create2Response>(r, rest, what)
        }
        op::EXISTS | op::SET_DATA | op::SET_ACL => round_trip::<StatResponse>(r, rest, what),
        op::GET_DATA => round_trip::<GetDataResponse>(r, rest, what),
        op::GET_ACL => round_trip::<GetAclResponse>(r, rest, what),
        op::GET_CHILDREN => round_trip::<GetChildrenResponse>(r, rest, what),
        op::GET_CHILDREN2 => round_trip::<GetChildren2Response>(r, rest, what),
        op::SYNC => round_trip::<PathOnly>(r, rest, what),
        op::GET_EPHEMERALS => round_trip::<GetEphemeralsResponse>(r, rest, what),
        op::GET_ALL_CHILDREN_NUMBER => round_trip::<GetAllChildrenNumberResponse>(r, rest, what),
        op::WHO_AM_I => round_trip::<WhoAmIResponse>(r, rest, what),
        op::ADD_WATCH => round_trip::<ErrorResult>(r, rest, what),
        op::MULTI | op::MULTI_READ => {
            let results = decode_multi_results(r).unwrap_or_else(|e| panic!("{what}: {e}"));
            r.finish(what).unwrap();
            let mut w = BytesMut::new();
            encode_multi_results(&results, &mut w);
            assert_eq!(&w[..], rest, "{what} re-encodes differently");
        }
        _ => r.finish(what).unwrap(),
    }
}

/// Which opcodes and error codes a capture held, for the coverage check.
#[derive(Default)]
struct Seen {
    requests: std::collections::BTreeSet<i32>,
    replies: std::collections::BTreeSet<i32>,
    errors: std::collections::BTreeSet<i32>,
    events: usize,
}

fn check_capture(name: &str, text: &str) -> Seen {
    let mut seen = Seen::default();
    let zk = ZkConn::new(
        0,
        "127.0.0.1:1".parse().unwrap(),
        std::sync::Arc::new(ZkStats::default()),
    );
    for (c, frames) in connections(text).into_iter().enumerate() {
        let mut ops = std::collections::HashMap::new();
        let mut refused = std::collections::HashMap::new();
        let mut frames = frames.into_iter();
        let Some((Dir::Client, connect)) = frames.next() else {
            continue;
        };
        let req = rec::ConnectRequest::decode(connect.clone())
            .unwrap_or_else(|e| panic!("{name} #{c} connect: {e}"));
        let mut w = BytesMut::new();
        req.encode(&mut w);
        assert_eq!(
            &w[..],
            &connect[..],
            "{name} #{c}: ConnectRequest re-encodes differently"
        );
        let mut connected = false;
        for (i, (dir, frame)) in frames.enumerate() {
            let what = format!("{name} #{c} frame {i}");
            let mut r = Reader::new(frame.clone());
            if !connected {
                assert_eq!(dir, Dir::Server, "{what}: the connect reply comes first");
                round_trip::<rec::ConnectResponse>(&mut r, &frame, &what);
                connected = true;
                continue;
            }
            match dir {
                Dir::Client => {
                    let h = rec::RequestHeader::read(&mut r, &what).unwrap();
                    ops.insert(h.xid, h.op);
                    seen.requests.insert(h.op);
                    request(h.op, &mut r, &frame[8..], &what);
                    let decoded = decode_request(frame.clone(), &zk, || 1000)
                        .unwrap_or_else(|e| panic!("{what}: the listener cannot read it: {e}"));
                    if let Decoded::Local {
                        op: super::convert::Local::Refuse { opcode, code, why },
                        ..
                    } = decoded
                    {
                        refused.insert(h.xid, (opcode, code, why));
                    }
                }
                Dir::Server => {
                    let h = rec::ReplyHeader::read(&mut r, &what).unwrap();
                    let rest = &frame[16..];
                    if h.xid == rec::xid::NOTIFICATION {
                        seen.events += 1;
                        round_trip::<rec::WatcherEvent>(&mut r, rest, &what);
                        continue;
                    }
                    let opcode = *ops
                        .get(&h.xid)
                        .unwrap_or_else(|| panic!("{what}: reply to unknown xid {}", h.xid));
                    seen.replies.insert(opcode);
                    if let Some((opcode, code, why)) = refused.remove(&h.xid) {
                        // coord refuses what ZooKeeper refused, with its code;
                        // the documented differences aside (ACLs other than
                        // the open one, reconfig, multiRead).
                        let by_design = why.contains("ACL") || opcode == op::RECONFIG;
                        assert!(
                            h.err == code || by_design,
                            "{what}: coord refuses with {code} ({why}), ZooKeeper answered {}",
                            h.err
                        );
                    }
                    if h.err != 0 {
                        seen.errors.insert(h.err);
                        assert!(rest.is_empty(), "{what}: an error reply has no body");
                    } else {
                        reply(opcode, &mut r, rest, &what);
                    }
                }
            }
        }
    }
    seen
}

#[test]
fn every_captured_frame_decodes_and_encodes_back_to_the_same_bytes() {
    let mut all = Seen::default();
    for (name, text) in CAPTURES {
        let seen = check_capture(name, text);
        assert!(!seen.requests.is_empty(), "{name}: no requests captured");
        all.requests.extend(seen.requests);
        all.replies.extend(seen.replies);
        all.errors.extend(seen.errors);
        all.events += seen.events;
    }
    // The captures must keep covering what the listener serves.
    for opcode in [
        op::CREATE,
        op::CREATE2,
        op::CREATE_CONTAINER,
        op::CREATE_TTL,
        op::DELETE,
        op::EXISTS,
        op::GET_DATA,
        op::SET_DATA,
        op::GET_ACL,
        op::SET_ACL,
        op::GET_CHILDREN,
        op::GET_CHILDREN2,
        op::SYNC,
        op::PING,
        op::MULTI,
        op::AUTH,
        op::ADD_WATCH,
        op::CLOSE_SESSION,
    ] {
        assert!(
            all.requests.contains(&opcode),
            "no capture of opcode {opcode}"
        );
    }
    assert!(all.events > 0, "no watch event captured");
    assert!(
        all.errors.contains(&rec::err::NO_NODE),
        "no error reply captured"
    );
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One damaged copy of `frame`: bytes flipped, cut short, lengths made
/// huge or negative, or bytes spliced in.
fn mutate(frame: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut f = frame.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(5) {
            0 if !f.is_empty() => {
                let i = rng.below(f.len());
                f[i] ^= 1 << rng.below(8);
            }
            1 => f.truncate(rng.below(f.len() + 1)),
            2 if f.len() >= 4 => {
                let i = rng.below(f.len() - 3);
                let v: i32 = [i32::MAX, -1, -2, i32::MIN, 0x7fff_fff0][rng.below(5)];
                f[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            3 => {
                let i = rng.below(f.len() + 1);
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                f.splice(i..i, extra);
            }
            _ => f.reverse(),
        }
    }
    f
}

/// Iterations of the mutation run; `COORD_ZK_FUZZ_ITERS` makes it longer.
fn fuzz_iterations() -> usize {
    std::env::var("COORD_ZK_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

#[test]
fn damaged_frames_never_panic_the_decoders() {
    let seed = std::env::var("COORD_ZK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15_u64);
    let mut rng = Rng(seed);
    let corpus: Vec<(Dir, Bytes)> = CAPTURES
        .iter()
        .flat_map(|(_, text)| connections(text).into_iter().flatten())
        .collect();
    assert!(corpus.len() > 100, "corpus too small: {}", corpus.len());
    let zk = ZkConn::new(
        0,
        "127.0.0.1:1".parse().unwrap(),
        std::sync::Arc::new(ZkStats::default()),
    );
    let mut decoded = 0usize;
    for _ in 0..fuzz_iterations() {
        let (_, frame) = &corpus[rng.below(corpus.len())];
        let damaged = Bytes::from(mutate(frame, &mut rng));
        // Each must return (Ok or a JuteError), never panic or allocate
        // what the frame cannot hold.
        if decode_request(damaged.clone(), &zk, || 1000).is_ok() {
            decoded += 1;
        }
        let _ = rec::ConnectRequest::decode(damaged.clone());
        let mut r = Reader::new(damaged);
        if rec::ReplyHeader::read(&mut r, "h").is_ok() {
            let _ = rec::decode_multi_results(&mut r);
        }
    }
    // Most damage is caught; some leaves a valid frame (a flipped data byte).
    assert!(
        decoded > 0,
        "seed {seed:#x}: no mutation survived, the corpus is not reaching the decoder"
    );
}
