//! Keeping a harness's section of `BENCHMARKS.md` current without touching
//! the rest of the file: each section lives between two HTML comment markers
//! of its own that other harnesses leave alone (`coord bench` owns
//! [`SECTION_START`]..[`SECTION_END`]; the peer benchmark its `bench:peers`
//! pair), and both rewrite theirs with [`update_section`].

use std::io;
use std::path::Path;

/// Opens the section this harness owns in `BENCHMARKS.md`.
pub const SECTION_START: &str = "<!-- bench:core:start -->";
/// Closes the section this harness owns in `BENCHMARKS.md`.
pub const SECTION_END: &str = "<!-- bench:core:end -->";

/// `coord bench`'s section: [`update_section`] between [`SECTION_START`] and
/// [`SECTION_END`].
pub fn update_benchmarks_md(path: &Path, section_markdown: &str) -> io::Result<()> {
    update_section(path, SECTION_START, SECTION_END, section_markdown)
}

/// Replaces the text between the markers `start` and `end` in the file at
/// `path` with `section_markdown`. A missing file is created; a file without the
/// markers gets them, with the section, appended at its end. A file with only one
/// marker, or with the end before the start, is left untouched and reported as
/// [`io::ErrorKind::InvalidData`] rather than guessed at. The new text is written
/// to a sibling file and renamed over the old one.
pub fn update_section(
    path: &Path,
    start: &str,
    end: &str,
    section_markdown: &str,
) -> io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let updated = replace_section(existing.as_deref(), start, end, section_markdown)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, updated)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// The new file text; pure, so every case is unit-tested.
fn replace_section(
    existing: Option<&str>,
    start: &str,
    end: &str,
    section: &str,
) -> io::Result<String> {
    let block = format!("{start}\n{}\n{end}", section.trim_end());
    let Some(text) = existing else {
        return Ok(format!("# Benchmarks\n\n{block}\n"));
    };
    match (text.find(start), text.find(end)) {
        (Some(at_start), Some(at_end)) if at_start < at_end => Ok(format!(
            "{}{block}{}",
            &text[..at_start],
            &text[at_end + end.len()..]
        )),
        (None, None) => {
            let mut out = text.trim_end().to_string();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&block);
            out.push('\n');
            Ok(out)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{start} / {end} markers are unpaired or out of order; fix them by hand"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The core harness's section.
    fn replace_section(existing: Option<&str>, section: &str) -> io::Result<String> {
        super::replace_section(existing, SECTION_START, SECTION_END, section)
    }

    #[test]
    fn section_between_markers_is_replaced_and_the_rest_kept() {
        let old =
            format!("# B\n\nintro\n{SECTION_START}\nold numbers\n{SECTION_END}\n\n## peers\nzk\n");
        let new = replace_section(Some(&old), "new numbers\n").unwrap();
        assert_eq!(
            new,
            format!("# B\n\nintro\n{SECTION_START}\nnew numbers\n{SECTION_END}\n\n## peers\nzk\n")
        );
        // Idempotent: running twice gives the same file.
        assert_eq!(replace_section(Some(&new), "new numbers").unwrap(), new);
    }

    #[test]
    fn file_without_markers_gets_the_section_appended() {
        let new = replace_section(Some("# Benchmarks\n\npeers here\n\n"), "numbers").unwrap();
        assert_eq!(
            new,
            format!("# Benchmarks\n\npeers here\n\n{SECTION_START}\nnumbers\n{SECTION_END}\n")
        );
        let from_empty = replace_section(Some(""), "numbers").unwrap();
        assert_eq!(
            from_empty,
            format!("{SECTION_START}\nnumbers\n{SECTION_END}\n")
        );
    }

    #[test]
    fn missing_file_is_created_with_a_title_and_the_section() {
        let new = replace_section(None, "numbers").unwrap();
        assert_eq!(
            new,
            format!("# Benchmarks\n\n{SECTION_START}\nnumbers\n{SECTION_END}\n")
        );
    }

    #[test]
    fn unpaired_markers_are_refused_instead_of_clobbering_the_file() {
        let only_start = format!("a\n{SECTION_START}\nb\n");
        let reversed = format!("{SECTION_END}\nx\n{SECTION_START}\n");
        for text in [only_start, reversed] {
            let err = replace_section(Some(&text), "n").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
    }

    #[test]
    fn benchmarks_md_on_disk_is_created_then_updated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BENCHMARKS.md");
        update_benchmarks_md(&path, "first").unwrap();
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).unwrap() + "\n## other harness\nkept\n",
        )
        .unwrap();
        update_benchmarks_md(&path, "second").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("second") && !text.contains("first"));
        assert!(text.ends_with("## other harness\nkept\n"));
        // No temporary file is left next to it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn each_harness_rewrites_only_its_own_marker_pair() {
        let (peers_start, peers_end) = ("<!-- bench:peers:start -->", "<!-- bench:peers:end -->");
        let core = replace_section(None, "core numbers").unwrap();
        let both =
            super::replace_section(Some(&core), peers_start, peers_end, "peer numbers").unwrap();
        let again =
            super::replace_section(Some(&both), peers_start, peers_end, "new peers").unwrap();
        assert!(again.contains(&format!("{SECTION_START}\ncore numbers\n{SECTION_END}")));
        assert!(again.contains(&format!("{peers_start}\nnew peers\n{peers_end}")));
        assert!(!again.contains("peer numbers"));
    }
}
