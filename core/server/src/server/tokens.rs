//! The tokens file (`--tokens-file`): bearer tokens and the user name each
//! proves, for the `token` identity scheme.
//!
//! Format: one `USER TOKEN` pair per line, separated by white space; blank
//! lines and lines starting with `#` are ignored; a user may have several
//! tokens. This module owns parsing and lookup; tokens are compared in
//! constant time and never appear in an error, a log line or `Debug` output.

use std::path::Path;

use super::handshake::secrets_equal;
use crate::error::Error;

/// Tokens and their users, as read from a tokens file.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} entries)", self.entries.len())
    }
}

impl Tokens {
    /// Reads a tokens file; the error names the file and the line (never
    /// its content).
    pub fn load(path: &Path) -> Result<Tokens, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::BadArguments(format!("tokens file {}: {e}", path.display())))?;
        Tokens::parse(&text)
            .map_err(|why| Error::BadArguments(format!("tokens file {}: {why}", path.display())))
    }

    /// Parses the file's text (see the module doc).
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(user), Some(token), None) => {
                    entries.push((user.to_string(), token.as_bytes().to_vec()));
                }
                _ => return Err(format!("line {}: expected USER TOKEN", i + 1)),
            }
        }
        Ok(Tokens { entries })
    }

    /// The user `token` belongs to. Every entry is compared, each in time
    /// that depends only on the lengths.
    pub fn user_of(&self, token: &[u8]) -> Option<&str> {
        let mut found = None;
        for (user, t) in &self.entries {
            if secrets_equal(t, token) && found.is_none() {
                found = Some(user.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_maps_tokens_to_users_and_refuses_bad_lines() {
        let t = Tokens::parse("# ops\nalice s3cret\n\nbob other  \n").unwrap();
        assert_eq!(t.user_of(b"s3cret"), Some("alice"));
        assert_eq!(t.user_of(b"other"), Some("bob"));
        assert_eq!(t.user_of(b"s3cre"), None);
        let e = Tokens::parse("alice\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
