//! The wire: length-delimited frames over TCP, and the one place where protocol
//! messages ([`crate::proto`]) become domain types and back.
//!
//! This module owns the frame format (4-byte big-endian length, then one
//! prost-encoded message) and every proto <-> domain conversion. It must not
//! know about sockets' lifetimes, sessions or the tree: callers bring an
//! `AsyncRead`/`AsyncWrite` and get messages.

mod children;
mod convert;
mod frame;
mod shape;

pub use children::*;
pub use convert::*;
pub use frame::{FrameError, FrameReader, READ_STEP, encode_frame};
pub use shape::{FrameShape, ShapeError, frame_shape};

/// Version of the client protocol carried in the handshake. A server accepts
/// clients with a version it knows and answers with its own.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default largest frame, in bytes (`--max-frame-bytes`): a 1 MiB node value
/// plus room for paths and a multi.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Default largest frame before the handshake is done, in bytes
/// (`--max-handshake-frame-bytes`). A `Connect` is at most about 60 bytes
/// today (version, session id, 16-byte secret, timeout, last zxid, and the
/// `ClientMessage` wrapper); 4 KiB leaves room for credentials such as a
/// bearer token.
pub const DEFAULT_MAX_HANDSHAKE_FRAME_BYTES: usize = 4096;
