//! The sequence-suffix rule: a sequential node's name ends in ten decimal
//! digits (`%010d`, from the parent's cversion), and siblings are ordered by
//! that number. The server uses it to report a new node's predecessor; the
//! recipes use it to decide who holds a lock and whom to watch.

/// Length of the sequence suffix the server appends (`%010d`).
pub const SEQUENCE_DIGITS: usize = 10;

/// The sequence number at the end of a sequential node's name.
pub fn sequence_of(name: &str) -> Option<i64> {
    if name.len() < SEQUENCE_DIGITS || !name.is_char_boundary(name.len() - SEQUENCE_DIGITS) {
        return None;
    }
    let suffix = &name[name.len() - SEQUENCE_DIGITS..];
    if suffix.bytes().all(|b| b.is_ascii_digit()) {
        suffix.parse().ok()
    } else {
        None
    }
}

/// Children that carry `marker` and a sequence suffix, sorted by sequence
/// (ties, which cannot happen under one parent, by name).
pub fn sorted_by_sequence<'a>(children: &'a [String], marker: &str) -> Vec<(i64, &'a str)> {
    let mut v: Vec<(i64, &str)> = children
        .iter()
        .filter(|c| c.contains(marker))
        .filter_map(|c| sequence_of(c).map(|s| (s, c.as_str())))
        .collect();
    v.sort_unstable();
    v
}

/// The sibling just before `ours` in sequence order among `children` carrying
/// `marker` (None when `ours` is first or absent).
pub fn predecessor<'a>(children: &'a [String], marker: &str, ours: &str) -> Option<&'a str> {
    let line = sorted_by_sequence(children, marker);
    let pos = line.iter().position(|(_, n)| *n == ours)?;
    pos.checked_sub(1).map(|p| line[p].1)
}

/// The name a sequential create gets: `prefix` followed by `seq` written with
/// [`SEQUENCE_DIGITS`] digits, zero-padded (ZooKeeper's `%010d`).
pub fn with_sequence_suffix(prefix: &str, seq: i32) -> String {
    format!("{prefix}{seq:010}")
}
