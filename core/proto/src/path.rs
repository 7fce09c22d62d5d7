//! Node paths: validation with ZooKeeper's rules and the `parent` / `name`
//! helpers.
//!
//! This module owns the definition of a valid path. It knows nothing about
//! which nodes exist; it must not touch the tree or the state machine.
//!
//! The rules are ZooKeeper's `PathUtils.validatePath`: a path starts with
//! `/`, has no empty segment, no trailing `/` (except the root `/`), no `.` or
//! `..` segment, no NUL and none of the characters ZooKeeper forbids
//! (U+0001–U+001F, U+007F–U+009F, U+E000–U+F8FF, U+FFF0–U+FFFF and, because
//! Java sees them as UTF-16 surrogates U+D800–U+DFFF, every character outside
//! the Basic Multilingual Plane, such as emoji). On top of that, coord limits
//! the length in bytes (`Limits::max_path_bytes`).

use crate::error::{Error, Result};

/// Longest prefix of an offending path quoted in an error detail.
const SHOWN_PATH_CHARS: usize = 100;

/// Checks `path` against ZooKeeper's path rules and the byte limit.
///
/// On failure the [`Error::InvalidPath`] detail quotes the path (shortened if
/// very long) and says what is wrong and at which byte.
pub fn validate_path(path: &str, max_path_bytes: usize) -> Result<()> {
    match find_problem(path, max_path_bytes) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidPath(format!("{}: {reason}", shown(path)))),
    }
}

/// The parent of `path`: `None` for the root `/` (and for strings without a
/// `/`), `/` for a top-level node, otherwise everything before the last `/`.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        None => None,
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
    }
}

/// The full path of child `name` of the node at `dir`.
pub fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last segment of `path` (the node's name); empty for the root `/`.
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        None => path,
        Some(i) => &path[i + 1..],
    }
}

/// The path quoted in Rust debug form (control characters escaped), cut after
/// [`SHOWN_PATH_CHARS`] characters so a 4 KiB path does not flood a log line.
fn shown(path: &str) -> String {
    match path.char_indices().nth(SHOWN_PATH_CHARS) {
        None => format!("{path:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &path[..cut], path.len()),
    }
}

fn find_problem(path: &str, max_path_bytes: usize) -> Option<String> {
    if path.len() > max_path_bytes {
        return Some(format!(
            "path is {} bytes, limit max_path_bytes = {max_path_bytes}",
            path.len()
        ));
    }
    if is_plain_and_valid(path.as_bytes()) {
        return None;
    }
    full_problem(path)
}

/// Every rule but the byte limit, character by character.
fn full_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("path is empty".to_string());
    }
    if !path.starts_with('/') {
        return Some("path must start with '/'".to_string());
    }
    if path == "/" {
        return None;
    }
    if path.ends_with('/') {
        return Some(format!(
            "path must not end with '/' (byte {})",
            path.len() - 1
        ));
    }
    // Segments start after each '/'; `start` is the byte offset of the segment.
    let mut start = 1;
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Some(format!("empty segment at byte {start}"));
        }
        if segment == "." || segment == ".." {
            return Some(format!("relative segment {segment:?} at byte {start}"));
        }
        for (i, c) in segment.char_indices() {
            let at = start + i;
            if c == '\0' {
                return Some(format!("NUL character at byte {at}"));
            }
            if is_forbidden(c) {
                return Some(format!(
                    "forbidden character U+{:04X} at byte {at}",
                    u32::from(c)
                ));
            }
        }
        start += segment.len() + 1;
    }
    None
}

/// The common case in one pass over the bytes: `path` is valid and made of
/// printable ASCII only (`' '` to `'~'`, none of them forbidden). `false`
/// says nothing: the full check then finds the problem, if any.
fn is_plain_and_valid(path: &[u8]) -> bool {
    let rest = match path {
        [b'/'] => return true,
        [b'/', rest @ ..] => rest,
        _ => return false,
    };
    // Each segment, checked when the next '/' or the end closes it.
    let mut segment = 0..0;
    for (i, &b) in rest.iter().enumerate() {
        if b == b'/' {
            if !is_plain_segment(&rest[segment.start..i]) {
                return false;
            }
            segment = i + 1..i + 1;
        } else if !(b' '..=b'~').contains(&b) {
            return false;
        }
    }
    is_plain_segment(&rest[segment.start..])
}

fn is_plain_segment(segment: &[u8]) -> bool {
    !matches!(segment, b"" | b"." | b"..")
}

/// ZooKeeper's forbidden characters (see the module docs), NUL excluded.
fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{1}'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{E000}'..='\u{F8FF}' | '\u{FFF0}'..='\u{FFFF}'
    ) || u32::from(c) >= 0x1_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 4096;

    fn reason(path: &str) -> String {
        match validate_path(path, LIMIT) {
            Err(Error::InvalidPath(detail)) => detail,
            other => panic!("{path:?} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn root_and_plain_paths_are_valid() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b/..c/c..",
            "/.../x",
            "/a-b_c/0000000001",
        ] {
            assert_eq!(validate_path(p, LIMIT), Ok(()), "{p}");
        }
    }

    #[test]
    fn unicode_in_the_basic_plane_is_valid() {
        assert_eq!(validate_path("/café/日本語/Ωmega", LIMIT), Ok(()));
    }

    #[test]
    fn path_must_start_with_slash() {
        assert!(reason("a/b").contains("must start with '/'"));
        assert!(reason("").contains("empty"));
    }

    #[test]
    fn empty_segment_is_rejected_with_its_offset() {
        assert_eq!(reason("/a//b"), "\"/a//b\": empty segment at byte 3");
        assert!(reason("//a").contains("empty segment at byte 1"));
        assert!(reason("//").contains("must not end with '/'"));
    }

    #[test]
    fn trailing_slash_is_rejected_except_for_root() {
        assert!(reason("/a/").contains("must not end with '/'"));
    }

    #[test]
    fn dot_and_dot_dot_segments_are_rejected() {
        assert!(reason("/a/./b").contains("relative segment \".\" at byte 3"));
        assert!(reason("/a/..").contains("relative segment \"..\" at byte 3"));
        assert!(reason("/.").contains("relative segment"));
    }

    #[test]
    fn nul_and_control_characters_are_rejected() {
        assert!(reason("/a\0b").contains("NUL character at byte 2"));
        assert!(reason("/a\u{1}").contains("U+0001 at byte 2"));
        assert!(reason("/a\nb").contains("U+000A"));
        assert!(reason("/\u{7F}").contains("U+007F"));
        assert!(reason("/x\u{9F}").contains("U+009F"));
    }

    #[test]
    fn zookeeper_forbidden_ranges_are_rejected() {
        assert!(reason("/\u{E000}").contains("U+E000"));
        assert!(reason("/\u{F8FF}").contains("U+F8FF"));
        assert!(reason("/\u{FFF0}").contains("U+FFF0"));
        assert!(reason("/\u{FFFF}").contains("U+FFFF"));
        // Outside the BMP: Java sees surrogates, which ZooKeeper forbids.
        assert!(reason("/\u{1F600}").contains("U+1F600"));
        assert_eq!(validate_path("/\u{F900}", LIMIT), Ok(()));
    }

    #[test]
    fn path_over_the_byte_limit_is_rejected_and_at_the_limit_is_not() {
        let at_limit = format!("/{}", "a".repeat(LIMIT - 1));
        assert_eq!(validate_path(&at_limit, LIMIT), Ok(()));
        let over = format!("/{}", "a".repeat(LIMIT));
        let detail = reason(&over);
        assert!(
            detail.contains("4097 bytes, limit max_path_bytes = 4096"),
            "{detail}"
        );
        assert!(detail.len() < 300, "long paths are shortened in details");
    }

    #[test]
    fn parent_and_name_split_at_the_last_slash() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b/c"), Some("/a/b"));
        assert_eq!(name("/"), "");
        assert_eq!(name("/a"), "a");
        assert_eq!(name("/a/b/c"), "c");
    }

    #[test]
    fn the_one_pass_shortcut_agrees_with_the_full_check() {
        // Every string of up to 6 characters over an alphabet that has each
        // kind of character the rules tell apart.
        let alphabet = [
            '/',
            '.',
            'a',
            ' ',
            '~',
            '\0',
            '\u{1}',
            '\u{7f}',
            'é',
            '\u{10000}',
        ];
        let mut paths = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..6 {
            layer = layer
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            paths.extend(layer.iter().cloned());
        }
        let (mut plain, mut shortcut) = (0, 0);
        for p in &paths {
            let valid = full_problem(p).is_none();
            let printable = p.bytes().all(|b| (b' '..=b'~').contains(&b));
            if is_plain_and_valid(p.as_bytes()) {
                shortcut += 1;
                assert!(
                    valid,
                    "{p:?} taken as valid by the shortcut: {:?}",
                    full_problem(p)
                );
            } else {
                assert!(
                    !(valid && printable),
                    "{p:?} is plain and valid but missed the shortcut"
                );
            }
            plain += usize::from(valid && printable);
        }
        assert_eq!(plain, shortcut);
        assert!(shortcut > 1000, "only {shortcut} paths took the shortcut");
    }
}
