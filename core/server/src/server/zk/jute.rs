//! ZooKeeper's jute encoding: the primitives (big-endian `int`, `long`,
//! one-byte `boolean`, length-prefixed `buffer` and `ustring`, counted
//! `vector`) and the [`Jute`] trait the records of `records` are built on.
//!
//! Decoding never trusts a length: a buffer, string or vector longer than
//! what is left of the frame is refused before anything is allocated, so a
//! hostile count costs nothing. Null (length -1) buffers and strings decode
//! as `None`; null vectors as empty. This module knows nothing of opcodes.

use bytes::{BufMut, Bytes, BytesMut};

/// Why a frame could not be decoded; names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JuteError(pub(crate) String);

impl std::fmt::Display for JuteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A cursor over one received frame.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Reader {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&[u8], JuteError> {
        if self.remaining() < n {
            return Err(JuteError(format!(
                "frame ends inside {field} (needs {n} bytes, {} left)",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn int(&mut self, field: &str) -> Result<i32, JuteError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn long(&mut self, field: &str) -> Result<i64, JuteError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub(crate) fn boolean(&mut self, field: &str) -> Result<bool, JuteError> {
        Ok(self.take(1, field)?[0] != 0)
    }

    /// A length-prefixed byte string; `None` for null (-1).
    pub(crate) fn buffer(&mut self, field: &str) -> Result<Option<Bytes>, JuteError> {
        let len = self.int(field)?;
        if len == -1 {
            return Ok(None);
        }
        let Ok(len) = usize::try_from(len) else {
            return Err(JuteError(format!("{field} has negative length {len}")));
        };
        self.take(len, field)?;
        Ok(Some(self.buf.slice(self.pos - len..self.pos)))
    }

    /// A length-prefixed UTF-8 string; `None` for null (-1).
    pub(crate) fn ustring(&mut self, field: &str) -> Result<Option<String>, JuteError> {
        match self.buffer(field)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b.to_vec())
                .map(Some)
                .map_err(|_| JuteError(format!("{field} is not valid UTF-8"))),
        }
    }

    /// A vector's element count (null reads as 0), refused when even
    /// `min_elem_bytes`-byte elements could not fit in what is left.
    pub(crate) fn count(&mut self, field: &str, min_elem_bytes: usize) -> Result<usize, JuteError> {
        let n = self.int(field)?;
        if n == -1 {
            return Ok(0);
        }
        let Ok(n) = usize::try_from(n) else {
            return Err(JuteError(format!("{field} has negative count {n}")));
        };
        if n.saturating_mul(min_elem_bytes.max(1)) > self.remaining() {
            return Err(JuteError(format!(
                "{field} claims {n} elements but only {} bytes are left",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Refuses bytes left over after the last field.
    pub(crate) fn finish(&self, record: &str) -> Result<(), JuteError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(JuteError(format!("{n} bytes left after {record}"))),
        }
    }
}

/// Writes one length-prefixed byte string (`None`: null).
pub(crate) fn put_buffer(w: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => w.put_i32(-1),
        Some(b) => {
            w.put_i32(len_i32(b.len()));
            w.put_slice(b);
        }
    }
}

/// A length as jute writes it. Every frame is bounded far below 2 GiB, so
/// a longer one is a bug, not input.
pub(crate) fn len_i32(n: usize) -> i32 {
    i32::try_from(n).expect("jute lengths fit in an int")
}

/// A value with a jute encoding.
pub(crate) trait Jute: Sized {
    /// The fewest bytes one value takes (bounds vector counts).
    const MIN_BYTES: usize;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError>;
    fn write(&self, w: &mut BytesMut);
}

impl Jute for i32 {
    const MIN_BYTES: usize = 4;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        r.int(field)
    }
    fn write(&self, w: &mut BytesMut) {
        w.put_i32(*self);
    }
}

impl Jute for i64 {
    const MIN_BYTES: usize = 8;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        r.long(field)
    }
    fn write(&self, w: &mut BytesMut) {
        w.put_i64(*self);
    }
}

impl Jute for bool {
    const MIN_BYTES: usize = 1;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        r.boolean(field)
    }
    fn write(&self, w: &mut BytesMut) {
        w.put_u8(u8::from(*self));
    }
}

/// A `buffer` field (null kept apart from empty, as ZooKeeper does).
impl Jute for Option<Bytes> {
    const MIN_BYTES: usize = 4;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        r.buffer(field)
    }
    fn write(&self, w: &mut BytesMut) {
        put_buffer(w, self.as_deref());
    }
}

/// A `ustring` field (null kept apart from empty).
impl Jute for Option<String> {
    const MIN_BYTES: usize = 4;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        r.ustring(field)
    }
    fn write(&self, w: &mut BytesMut) {
        put_buffer(w, self.as_deref().map(str::as_bytes));
    }
}

/// A `ustring` that must not be null (paths, schemes).
impl Jute for String {
    const MIN_BYTES: usize = 4;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        r.ustring(field)?
            .ok_or_else(|| JuteError(format!("{field} is null")))
    }
    fn write(&self, w: &mut BytesMut) {
        put_buffer(w, Some(self.as_bytes()));
    }
}

/// A `vector` (null reads as empty).
impl<T: Jute> Jute for Vec<T> {
    const MIN_BYTES: usize = 4;
    fn read(r: &mut Reader, field: &str) -> Result<Self, JuteError> {
        let n = r.count(field, T::MIN_BYTES)?;
        (0..n).map(|_| T::read(r, field)).collect()
    }
    fn write(&self, w: &mut BytesMut) {
        w.put_i32(len_i32(self.len()));
        for v in self {
            v.write(w);
        }
    }
}

/// Declares a jute record: a struct whose fields are read and written in
/// declaration order, as ZooKeeper's `zookeeper.jute` lists them.
macro_rules! record {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub(crate) struct $name {
            $(pub(crate) $field: $ty,)*
        }

        impl $crate::server::zk::jute::Jute for $name {
            const MIN_BYTES: usize = 0 $(+ <$ty as $crate::server::zk::jute::Jute>::MIN_BYTES)*;
            #[allow(unused_variables)]
            fn read(
                r: &mut $crate::server::zk::jute::Reader,
                field: &str,
            ) -> Result<Self, $crate::server::zk::jute::JuteError> {
                Ok($name {
                    $($field: <$ty as $crate::server::zk::jute::Jute>::read(
                        r,
                        concat!(stringify!($name), ".", stringify!($field)),
                    )?,)*
                })
            }
            #[allow(unused_variables)]
            fn write(&self, w: &mut bytes::BytesMut) {
                $(<$ty as $crate::server::zk::jute::Jute>::write(&self.$field, w);)*
            }
        }
    };
}
pub(crate) use record;

/// Decodes a whole frame as one record, refusing bytes left over.
#[cfg(test)]
pub(crate) fn decode_all<T: Jute>(frame: Bytes, what: &str) -> Result<T, JuteError> {
    let mut r = Reader::new(frame);
    let v = T::read(&mut r, what)?;
    r.finish(what)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    record!(Pair { a: i32, s: String, b: Option<Bytes>, v: Vec<i64> });

    fn encode<T: Jute>(v: &T) -> Bytes {
        let mut w = BytesMut::new();
        v.write(&mut w);
        w.freeze()
    }

    #[test]
    fn a_record_round_trips_in_field_order() {
        let p = Pair {
            a: -7,
            s: "/x".into(),
            b: None,
            v: vec![1, -1],
        };
        let bytes = encode(&p);
        assert_eq!(
            &bytes[..],
            &[
                0xff, 0xff, 0xff, 0xf9, 0, 0, 0, 2, b'/', b'x', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2,
                0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
            ][..]
        );
        assert_eq!(decode_all::<Pair>(bytes, "Pair").unwrap(), p);
    }

    #[test]
    fn lengths_beyond_the_frame_are_refused_before_allocating() {
        // A string claiming 2 GiB in a 12-byte frame.
        let mut w = BytesMut::new();
        w.put_i32(1);
        w.put_i32(i32::MAX);
        w.put_i32(0);
        let e = decode_all::<Pair>(w.freeze(), "Pair").unwrap_err();
        assert!(e.0.contains("Pair.s"), "{e}");
        // A vector claiming a billion longs.
        let mut w = BytesMut::new();
        w.put_i32(1);
        put_buffer(&mut w, Some(b"/"));
        put_buffer(&mut w, None);
        w.put_i32(1_000_000_000);
        let e = decode_all::<Pair>(w.freeze(), "Pair").unwrap_err();
        assert!(e.0.contains("claims 1000000000 elements"), "{e}");
    }

    #[test]
    fn negative_lengths_trailing_bytes_and_bad_utf8_are_refused() {
        let mut w = BytesMut::new();
        w.put_i32(1);
        w.put_i32(-5);
        assert!(decode_all::<Pair>(w.freeze(), "Pair").is_err());
        let mut w = BytesMut::new();
        w.put_i32(1);
        put_buffer(&mut w, Some(&[0xff, 0xfe]));
        let e = decode_all::<Pair>(w.freeze(), "Pair").unwrap_err();
        assert!(e.0.contains("UTF-8"), "{e}");
        let mut bytes = BytesMut::from(&encode(&Pair::default())[..]);
        bytes.put_u8(0);
        let e = decode_all::<Pair>(bytes.freeze(), "Pair").unwrap_err();
        assert!(e.0.contains("1 bytes left"), "{e}");
    }
}
