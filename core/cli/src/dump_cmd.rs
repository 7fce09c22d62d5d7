//! `coord dump` and `coord restore`: a consistent backup of a subtree in the
//! `dump_format` file, and loading one back. Dump reads the server's paged
//! export (one frozen state); restore creates the nodes in `multi` batches.
//! The format itself is `dump_format`'s; this module only drives the client.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use coord_client::client::{Op, QuotaLimits};
use coord_client::{Client, Error};

use crate::dump_format::{self, Header, NodeLine};

/// Most creates in one restore `multi` (the server's default
/// `max_multi_ops` is 1000).
pub(crate) const RESTORE_BATCH_OPS: usize = 200;
/// Most data and path bytes in one restore `multi`, well inside the
/// protocol's 4 MiB frame; a node larger than this goes in a batch alone.
pub(crate) const RESTORE_BATCH_BYTES: usize = 1024 * 1024;

/// `coord dump`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct DumpArgs {
    /// The subtree's root.
    #[arg(default_value = "/")]
    pub(crate) path: String,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
    /// Add each node's stat (zxids, times, versions: not restored, and the
    /// output no longer round-trips byte for byte).
    #[arg(long)]
    pub(crate) stat: bool,
    /// Also list ephemeral nodes (for inspection; restore skips them).
    #[arg(long)]
    pub(crate) ephemerals: bool,
}

/// Writes the dump of `args.path` to the output (stdout by default).
pub(crate) async fn dump(client: &Client, args: DumpArgs) -> Result<(), Error> {
    match &args.output {
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            write_dump(client, &args, &mut out).await
        }
        Some(file) => {
            let mut out = BufWriter::new(
                File::create(file)
                    .map_err(|e| Error::Io(format!("cannot create {}: {e}", file.display())))?,
            );
            let written = write_dump(client, &args, &mut out).await;
            if written.is_err() {
                // A partial backup must not pass for a whole one.
                drop(out);
                let _ = std::fs::remove_file(file);
            }
            written
        }
    }
}

async fn write_dump(client: &Client, args: &DumpArgs, out: &mut dyn Write) -> Result<(), Error> {
    let root = args.path.as_str();
    let mut page = client.export_page(root, None, 0).await?;
    let zxid = page.zxid;
    let total = page.total_nodes;
    let ephemerals = page.ephemeral_nodes;
    let header = Header {
        root: root.to_string(),
        nodes: if args.ephemerals {
            total
        } else {
            total - ephemerals.min(total)
        },
        zxid: args.stat.then_some(zxid),
        ephemerals: args.stat.then_some(ephemerals),
    };
    writeln!(out, "{}", dump_format::header_line(&header))?;
    let mut written = 0u64;
    // Every page holds at least one node: at most `total` pages.
    for _ in 0..=total {
        for n in &page.nodes {
            if n.mode.is_ephemeral() && !args.ephemerals {
                continue;
            }
            writeln!(out, "{}", dump_format::node_line(root, n, args.stat))?;
            written += 1;
        }
        let Some(cursor) = page.cursor.take() else {
            break;
        };
        page = client.export_page(root, Some(&cursor), 0).await?;
        if page.zxid != zxid {
            return Err(Error::Protocol(format!(
                "export of {root}: a page came from zxid {:#x}, the export from {zxid:#x}",
                page.zxid
            )));
        }
    }
    if written != header.nodes || page.cursor.is_some() {
        return Err(Error::Protocol(format!(
            "export of {root}: {written} node lines written, the server announced {}",
            header.nodes
        )));
    }
    out.flush()?;
    eprintln!(
        "dumped {written} nodes of {root} at zxid {zxid:#x}{}",
        if ephemerals > 0 && !args.ephemerals {
            format!(" ({ephemerals} ephemeral nodes left out)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `coord restore`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The dump file.
    pub(crate) file: PathBuf,
    /// Where the dump's root goes (its parent must exist); default: the
    /// dump's root.
    #[arg(long)]
    pub(crate) at: Option<String>,
    /// Replace the data and ACL of nodes that exist (their kind stays).
    #[arg(long)]
    pub(crate) overwrite: bool,
}

/// Reads a dump line by line, checking each line and the count the header
/// announced; errors name the file and the line.
struct DumpReader {
    name: String,
    lines: std::io::Lines<BufReader<File>>,
    header: Header,
    /// Node lines read so far.
    count: u64,
}

impl DumpReader {
    /// Opens `file` and reads its header.
    fn open(file: &Path) -> Result<DumpReader, Error> {
        let name = file.display().to_string();
        let f = File::open(file).map_err(|e| Error::Io(format!("cannot open {name}: {e}")))?;
        let mut lines = BufReader::new(f).lines();
        let first = match lines.next() {
            Some(l) => l.map_err(|e| Error::Io(format!("{name} line 1: {e}")))?,
            None => {
                return Err(Error::BadArguments(format!(
                    "{name} line 1: empty file (not a coord dump)"
                )));
            }
        };
        let header = dump_format::parse_header(&name, &first)?;
        Ok(DumpReader {
            name,
            lines,
            header,
            count: 0,
        })
    }

    /// The next node line and its number; `None` after the last.
    fn next_node(&mut self) -> Result<Option<(usize, NodeLine)>, Error> {
        let number = self.count as usize + 2;
        let name = &self.name;
        let Some(line) = self.lines.next() else {
            if self.count != self.header.nodes {
                return Err(Error::BadArguments(format!(
                    "{name} line {number}: file ends after {} node lines, the header \
                     announced {} (truncated?)",
                    self.count, self.header.nodes
                )));
            }
            return Ok(None);
        };
        let text = line.map_err(|e| Error::Io(format!("{name} line {number}: {e}")))?;
        if self.count == self.header.nodes {
            return Err(Error::BadArguments(format!(
                "{name} line {number}: more node lines than the header's {}",
                self.header.nodes
            )));
        }
        let node = dump_format::parse_node(name, number, &text)?;
        if self.count == 0 && !node.path.is_empty() {
            return Err(Error::BadArguments(format!(
                "{name} line {number}: the first node must be the root (path \"\")"
            )));
        }
        self.count += 1;
        Ok(Some((number, node)))
    }
}

/// Progress on stderr when it is a terminal: a `\r` counter.
struct Progress {
    on: bool,
    total: u64,
}

impl Progress {
    fn show(&self, done: u64) {
        if self.on {
            eprint!("\rrestored {done}/{} nodes", self.total);
        }
    }
    fn finish(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// Restores the dump in `args.file`; prints a summary line.
pub(crate) async fn restore(client: &Client, args: RestoreArgs) -> Result<(), Error> {
    // First pass: the whole file is checked before anything is created.
    let mut check = DumpReader::open(&args.file)?;
    let mut persistent = 0u64;
    while let Some((_, node)) = check.next_node()? {
        if !node.mode.is_ephemeral() {
            persistent += 1;
        }
    }
    let header = check.header;
    let at = args.at.clone().unwrap_or_else(|| header.root.clone());
    if !args.overwrite && client.exists(&at).await?.is_some() {
        return Err(Error::NodeExists(format!(
            "restore target {at} exists: restore under a new path (--at) or replace \
             existing nodes with --overwrite"
        )));
    }
    let progress = Progress {
        on: std::io::stderr().is_terminal(),
        total: persistent,
    };
    // Second pass: the lines are read again, so the file is never held in
    // memory whole.
    let mut reader = DumpReader::open(&args.file)?;
    let mut stats = Summary::default();
    let mut batch = Batch::default();
    let mut quotas: Vec<(String, QuotaLimits)> = Vec::new();
    while let Some((number, node)) = reader.next_node()? {
        if node.mode.is_ephemeral() {
            stats.skipped_ephemerals += 1;
            continue;
        }
        let path = dump_format::absolute(&at, &node.path);
        if let Some(q) = node.quota {
            quotas.push((path.clone(), q));
        }
        stats.bytes += node.data.len() as u64;
        if args.overwrite {
            restore_one(client, &path, &node)
                .await
                .map_err(|e| at_line(&args.file, number, e))?;
            stats.nodes += 1;
            progress.show(stats.nodes);
            continue;
        }
        let size = path.len() + node.data.len() + 64;
        if !batch.ops.is_empty()
            && (batch.ops.len() >= RESTORE_BATCH_OPS || batch.bytes + size > RESTORE_BATCH_BYTES)
        {
            stats.nodes += batch.flush(client, &args.file).await?;
            progress.show(stats.nodes);
        }
        batch.push(number, size, path, node);
    }
    stats.nodes += batch.flush(client, &args.file).await?;
    progress.show(stats.nodes);
    progress.finish();
    for (path, q) in quotas {
        client.set_quota(&path, q).await?;
        stats.quotas += 1;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "restored {} nodes ({} data bytes) under {at}; {} quotas set; {} ephemeral nodes skipped",
        stats.nodes, stats.bytes, stats.quotas, stats.skipped_ephemerals
    )?;
    Ok(())
}

#[derive(Default)]
struct Summary {
    nodes: u64,
    bytes: u64,
    quotas: u64,
    skipped_ephemerals: u64,
}

/// Creates waiting to go in one `multi`.
#[derive(Default)]
struct Batch {
    ops: Vec<Op>,
    bytes: usize,
    first_line: usize,
    last_line: usize,
}

impl Batch {
    fn push(&mut self, line: usize, size: usize, path: String, node: NodeLine) {
        if self.ops.is_empty() {
            self.first_line = line;
        }
        self.last_line = line;
        self.bytes += size;
        self.ops.push(Op::Create {
            path,
            data: node.data,
            mode: node.mode,
            acl: node.acl,
        });
    }

    /// Sends the batch; how many nodes it created.
    async fn flush(&mut self, client: &Client, file: &Path) -> Result<u64, Error> {
        if self.ops.is_empty() {
            return Ok(0);
        }
        let ops = std::mem::take(&mut self.ops);
        let n = ops.len() as u64;
        self.bytes = 0;
        client.multi(ops).await.map_err(|e| {
            Error::from_code(
                e.code(),
                format!(
                    "restoring {} lines {}..={}: {} (the batches before it were created)",
                    file.display(),
                    self.first_line,
                    self.last_line,
                    e.detail()
                ),
            )
        })?;
        Ok(n)
    }
}

/// With `--overwrite`: creates the node, or sets its data and ACL if it
/// exists (its kind is left as it is).
async fn restore_one(client: &Client, path: &str, node: &NodeLine) -> Result<(), Error> {
    match client
        .create_with_acl(path, node.data.clone(), node.mode, &node.acl)
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::NodeExists(_)) => {
            client.set(path, node.data.clone(), None).await?;
            client.set_acl(path, &node.acl, None).await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn at_line(file: &Path, line: usize, e: Error) -> Error {
    Error::from_code(
        e.code(),
        format!("restoring {} line {line}: {}", file.display(), e.detail()),
    )
}
