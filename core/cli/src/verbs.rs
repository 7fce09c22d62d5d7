//! The node verbs of the `coord` command (`create`, `get`, `set`, `delete`,
//! `ls`, `tree`, `stat`, `watch`): what they read (a value from an argument,
//! a file or standard input) and how they print (raw bytes, hex, text or
//! JSON, times as ISO 8601). Parsing the command line is `main`'s job;
//! talking to the server is the client's.

use std::io::{Read, Write};
use std::path::PathBuf;

use coord_client::client::{Client, WatchMode};
use coord_client::{CreateMode, Error, Stat};
use futures::StreamExt;
use serde_json::{Value, json};

/// Where a `create` or `set` value comes from.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueSource {
    /// The value as an argument (UTF-8).
    pub(crate) data: Option<String>,
    /// A file to read the value from; `-`: standard input.
    pub(crate) file: Option<PathBuf>,
}

impl ValueSource {
    /// The bytes: the argument, the file's or standard input's content, or
    /// empty. A file over `max` bytes is refused before it is read whole.
    fn read(self, max: u64) -> Result<Vec<u8>, Error> {
        match (self.data, self.file) {
            (Some(_), Some(_)) => Err(Error::BadArguments(
                "give the value as an argument or with --file, not both".into(),
            )),
            (Some(d), None) => Ok(d.into_bytes()),
            (None, None) => Ok(Vec::new()),
            (None, Some(f)) => {
                let mut buf = Vec::new();
                let what = if f.as_os_str() == "-" {
                    std::io::stdin()
                        .lock()
                        .take(max + 1)
                        .read_to_end(&mut buf)?;
                    "standard input".to_string()
                } else {
                    let file = std::fs::File::open(&f)
                        .map_err(|e| Error::BadArguments(format!("--file {}: {e}", f.display())))?;
                    file.take(max + 1).read_to_end(&mut buf)?;
                    format!("--file {}", f.display())
                };
                if buf.len() as u64 > max {
                    return Err(Error::TooLarge(format!(
                        "{what}: more than {max} bytes (the CLI's --max-value-bytes)"
                    )));
                }
                Ok(buf)
            }
        }
    }
}

/// How `get` prints a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataFormat {
    /// The bytes as stored (a newline added only on a terminal).
    Raw,
    /// Lowercase hex, one line.
    Hex,
    /// A JSON object with the data and the stat.
    Json,
}

/// Most bytes a CLI value may have when read from a file or standard input
/// (the server's own `--max-data-bytes` still applies).
pub(crate) const DEFAULT_MAX_VALUE_BYTES: u64 = 16 << 20;

pub(crate) struct Create {
    pub(crate) path: String,
    pub(crate) value: ValueSource,
    pub(crate) mode: CreateMode,
    pub(crate) parents: bool,
    /// The new node's ACL (`--acl`); empty: open (`world:anyone:cdrwa`).
    pub(crate) acl: Vec<coord_proto::Acl>,
}

pub(crate) async fn create(client: &Client, c: Create, max_value: u64) -> Result<(), Error> {
    if !c.acl.is_empty() && c.parents {
        return Err(Error::BadArguments(
            "--acl with --parents: create the parents first".into(),
        ));
    }
    let data = c.value.read(max_value)?;
    let created = if !c.acl.is_empty() {
        client
            .create_with_acl(&c.path, data, c.mode, &c.acl)
            .await?
            .0
    } else if c.parents {
        client.create_parents(&c.path, data, c.mode).await?
    } else {
        client.create(&c.path, data, c.mode).await?
    };
    writeln!(std::io::stdout().lock(), "{created}")?;
    Ok(())
}

pub(crate) async fn set(
    client: &Client,
    path: &str,
    value: ValueSource,
    version: Option<i32>,
    max_value: u64,
) -> Result<(), Error> {
    if value.data.is_none() && value.file.is_none() {
        return Err(Error::BadArguments(format!(
            "set {path}: give the value as an argument or with --file F (`-`: standard input)"
        )));
    }
    let data = value.read(max_value)?;
    client.set(path, data, version).await?;
    Ok(())
}

pub(crate) async fn get(client: &Client, path: &str, format: DataFormat) -> Result<(), Error> {
    let (data, stat) = client.get(path).await?;
    let mut out = std::io::stdout().lock();
    match format {
        DataFormat::Raw => {
            out.write_all(&data)?;
            // Scripts get the bytes exactly; a person gets a clean prompt.
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) && !data.ends_with(b"\n") {
                writeln!(out)?;
            }
        }
        DataFormat::Hex => writeln!(out, "{}", hex(&data))?,
        DataFormat::Json => {
            let v = json!({
                "path": path,
                "data": std::str::from_utf8(&data).ok(),
                "data_hex": hex(&data),
                "stat": stat_json(&stat),
            });
            writeln!(out, "{v}")?;
        }
    }
    Ok(())
}

pub(crate) async fn stat(client: &Client, path: &str, json: bool) -> Result<(), Error> {
    let Some(stat) = client.exists(path).await? else {
        return Err(Error::NoNode(path.to_string()));
    };
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = stat_json(&stat);
        v["path"] = json!(path);
        writeln!(out, "{v}")?;
    } else {
        print_stat(&mut out, &stat)?;
    }
    Ok(())
}

/// `ls`: children in name order, read in pages (any directory size, little
/// memory); with `recursive`, every descendant's full path, depth first in
/// name order. Each page comes from one state; a node created or deleted
/// meanwhile may or may not be printed (see `Client::children`).
pub(crate) async fn ls(
    client: &Client,
    path: &str,
    recursive: bool,
    json: bool,
) -> Result<(), Error> {
    enum Item {
        /// A page of a directory's children, after this name.
        Page(String, Option<String>),
        /// A node to print (and, recursive, to walk).
        Node(String, String),
    }
    let mut out = std::io::stdout().lock();
    let mut listed = Vec::new();
    let mut stack = vec![Item::Page(path.to_string(), None)];
    while let Some(item) = stack.pop() {
        match item {
            Item::Node(full, name) => {
                let shown = if recursive { full.clone() } else { name };
                if json {
                    listed.push(shown);
                } else {
                    writeln!(out, "{shown}")?;
                }
                if recursive {
                    stack.push(Item::Page(full, None));
                }
            }
            Item::Page(dir, cursor) => {
                let page = match client.children_page(&dir, cursor.as_deref(), None).await {
                    Ok(p) => p,
                    // A descendant deleted while we walk is skipped.
                    Err(Error::NoNode(_)) if dir != path => continue,
                    Err(e) => return Err(e),
                };
                if let Some(last) = page.next_start_after() {
                    stack.push(Item::Page(dir.clone(), Some(last.to_string())));
                }
                stack.extend(
                    page.names
                        .iter()
                        .rev()
                        .map(|n| Item::Node(child_path(&dir, n), n.clone())),
                );
            }
        }
    }
    if json {
        writeln!(out, "{}", Value::from(listed))?;
    }
    Ok(())
}

/// `tree`: the subtree under `path`, one node per line, indented by depth.
pub(crate) async fn tree(client: &Client, path: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    if client.exists(path).await?.is_none() {
        return Err(Error::NoNode(path.to_string()));
    }
    writeln!(out, "{path}")?;
    let mut stack: Vec<(String, usize)> = Vec::new();
    push_children(client, path, 1, &mut stack).await?;
    while let Some((node, depth)) = stack.pop() {
        let name = node.rsplit('/').next().unwrap_or(&node);
        writeln!(out, "{}{name}", "  ".repeat(depth))?;
        push_children(client, &node, depth + 1, &mut stack).await?;
    }
    Ok(())
}

async fn push_children(
    client: &Client,
    dir: &str,
    depth: usize,
    stack: &mut Vec<(String, usize)>,
) -> Result<(), Error> {
    let names = match client.children(dir).await {
        Ok(n) => n,
        Err(Error::NoNode(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    stack.extend(names.iter().rev().map(|n| (child_path(dir, n), depth)));
    Ok(())
}

pub(crate) async fn watch(
    client: &Client,
    path: &str,
    recursive: bool,
    count: Option<u64>,
) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let mode = if recursive {
        WatchMode::PersistentRecursive
    } else {
        WatchMode::Persistent
    };
    let mut events = client.watch(path, mode).await?;
    let mut seen = 0u64;
    loop {
        let next = tokio::select! {
            e = events.next() => e,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(event) = next else { break };
        let event = event?;
        writeln!(out, "{:?} {} {}", event.kind, event.path, event.zxid)?;
        out.flush()?;
        seen += 1;
        if count.is_some_and(|c| seen >= c) {
            break;
        }
    }
    Ok(())
}

fn child_path(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn print_stat(out: &mut impl Write, s: &Stat) -> std::io::Result<()> {
    writeln!(out, "czxid: {}", s.czxid)?;
    writeln!(out, "mzxid: {}", s.mzxid)?;
    writeln!(out, "pzxid: {}", s.pzxid)?;
    writeln!(out, "ctime: {} ({})", iso8601(s.ctime), s.ctime)?;
    writeln!(out, "mtime: {} ({})", iso8601(s.mtime), s.mtime)?;
    writeln!(out, "version: {}", s.version)?;
    writeln!(out, "cversion: {}", s.cversion)?;
    writeln!(out, "ephemeral_owner: {:#x}", s.ephemeral_owner)?;
    writeln!(out, "data_length: {}", s.data_length)?;
    writeln!(out, "num_children: {}", s.num_children)
}

fn stat_json(s: &Stat) -> Value {
    json!({
        "czxid": s.czxid,
        "mzxid": s.mzxid,
        "pzxid": s.pzxid,
        "ctime": iso8601(s.ctime),
        "ctime_ms": s.ctime,
        "mtime": iso8601(s.mtime),
        "mtime_ms": s.mtime,
        "version": s.version,
        "cversion": s.cversion,
        "ephemeral_owner": format!("{:#x}", s.ephemeral_owner),
        "data_length": s.data_length,
        "num_children": s.num_children,
    })
}

fn hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    data.iter()
        .fold(String::with_capacity(data.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub(crate) fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_date(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01: counted in 400-year eras of 146,097 days, with years taken
/// to start on March 1 so that the leap day ends a year.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_iso_8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_764_779_647_123), "2025-12-03T16:34:07.123Z");
        assert_eq!(iso8601(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
