//! `coord locks`, `coord elections` and `coord lock break`: who holds each
//! lock and who waits, who leads each election and who is in line, and
//! breaking a lock an operator knows to be stuck. Reads through
//! `recipes::info` (the recipes' own hold rule); prints text for people or
//! `--json` for scripts. Times are the leader's (node ctime) against this
//! machine's clock.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};

use coord_client::Error;
use coord_client::client::Client;
use coord_client::recipes::info::{self, Contender, LockInfo};
use serde_json::{Value, json};

use crate::verbs::iso8601;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn kind(c: &Contender) -> &'static str {
    c.kind.as_str()
}

/// Each contender's session -> the address its client connected from (the
/// session's `ip` identity in the replicated table; any member knows it).
type Clients = HashMap<u64, String>;

/// The client addresses of every contender in `lines`.
async fn clients_of(client: &Client, lines: &[LockInfo]) -> Result<Clients, Error> {
    let mut ids: Vec<u64> = lines
        .iter()
        .flat_map(|l| l.holders.iter().chain(&l.waiters))
        .map(|c| c.session)
        .filter(|&s| s != 0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Clients::new();
    for chunk in ids.chunks(SESSION_INFO_CHUNK) {
        for s in client.session_info(chunk).await?.into_iter().flatten() {
            if let Some(ip) = s.client_ip() {
                out.insert(s.session_id, ip.to_string());
            }
        }
    }
    Ok(out)
}

/// Session ids per `SessionInfo` request (the server takes at most 1000).
const SESSION_INFO_CHUNK: usize = 1000;

fn contender_json(c: &Contender, now: i64, identity: Option<&[u8]>, clients: &Clients) -> Value {
    let mut v = json!({
        "node": c.node,
        "owner": c.owner,
        "kind": kind(c),
        "session": format!("{:#x}", c.session),
        "client": clients.get(&c.session),
        "token": c.token,
        "since": iso8601(c.since_ms),
        "for_ms": (now - c.since_ms).max(0),
    });
    if let Some(id) = identity {
        v["identity"] = json!(String::from_utf8_lossy(id));
    }
    v
}

fn line(c: &Contender, now: i64, clients: &Clients) -> String {
    format!(
        "owner={} {} session={:#x} client={} token={} since={} ({:.1} s)",
        c.owner,
        kind(c),
        c.session,
        clients.get(&c.session).map_or("?", String::as_str),
        c.token,
        iso8601(c.since_ms),
        (now - c.since_ms).max(0) as f64 / 1000.0
    )
}

/// `coord locks [PATH]`.
pub(crate) async fn locks(client: &Client, root: &str, as_json: bool) -> Result<(), Error> {
    let found = info::locks_under(client, root).await?;
    let clients = clients_of(client, &found).await?;
    let now = now_ms();
    let mut out = std::io::stdout().lock();
    if as_json {
        let v: Vec<Value> = found
            .iter()
            .map(|l| {
                json!({
                    "path": l.path,
                    "holders": l.holders.iter().map(|c| contender_json(c, now, None, &clients)).collect::<Vec<_>>(),
                    "waiters": l.waiters.iter().map(|c| contender_json(c, now, None, &clients)).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", Value::from(v))?;
        return Ok(());
    }
    for l in &found {
        writeln!(out, "{}", l.path)?;
        for h in &l.holders {
            writeln!(out, "  held by  {}", line(h, now, &clients))?;
        }
        for (i, w) in l.waiters.iter().enumerate() {
            writeln!(out, "  waiter {} {}", i + 1, line(w, now, &clients))?;
        }
    }
    Ok(())
}

/// `coord elections PATH`: the election at PATH, or every one under it.
pub(crate) async fn elections(client: &Client, root: &str, as_json: bool) -> Result<(), Error> {
    let found = info::locks_under(client, root).await?;
    let clients = clients_of(client, &found).await?;
    let now = now_ms();
    let mut all = Vec::new();
    for l in &found {
        all.push((l, info::identities(client, l).await?));
    }
    let mut out = std::io::stdout().lock();
    if as_json {
        let v: Vec<Value> = all
            .iter()
            .map(|(l, ids)| {
                let mut ids = ids.iter();
                json!({
                    "path": l.path,
                    "leader": l.holders.first().map(|c| contender_json(c, now, ids.next().map(|b| &b[..]), &clients)),
                    "candidates": l.waiters.iter().map(|c| {
                        contender_json(c, now, ids.next().map(|b| &b[..]), &clients)
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", Value::from(v))?;
        return Ok(());
    }
    for (l, ids) in &all {
        writeln!(out, "{}", l.path)?;
        let mut ids = ids.iter().map(|b| String::from_utf8_lossy(b).into_owned());
        for h in &l.holders {
            writeln!(
                out,
                "  leader      {} {}",
                ids.next().unwrap_or_default(),
                line(h, now, &clients)
            )?;
        }
        for (i, w) in l.waiters.iter().enumerate() {
            writeln!(
                out,
                "  candidate {} {} {}",
                i + 1,
                ids.next().unwrap_or_default(),
                line(w, now, &clients)
            )?;
        }
    }
    Ok(())
}

/// `coord lock break PATH [--yes]`: deletes the holders' nodes. The holder's
/// lost signal fires, its guarded writes fail, and the next waiter takes the
/// lock with a higher token.
pub(crate) async fn break_lock(client: &Client, path: &str, yes: bool) -> Result<(), Error> {
    let info: LockInfo = client.lock_info(path).await?;
    if info.holders.is_empty() {
        return Err(Error::NoNode(format!("{path}: nobody holds this lock")));
    }
    let clients = clients_of(client, std::slice::from_ref(&info)).await?;
    let now = now_ms();
    let mut err = std::io::stderr().lock();
    for h in &info.holders {
        writeln!(err, "{path}: held by {}", line(h, now, &clients))?;
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::BadArguments(
                "lock break: not on a terminal, so nothing can confirm it; add --yes".into(),
            ));
        }
        write!(
            err,
            "break it (the holder loses it; the next waiter gets it)? [y/N] "
        )?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Error::Cancelled("lock break: not confirmed".into()));
        }
    }
    for h in &info.holders {
        let node = format!("{}/{}", path.trim_end_matches('/'), h.node);
        match client.delete(&node, None).await {
            // Released meanwhile: it is broken all the same.
            Ok(()) | Err(Error::NoNode(_)) => {
                writeln!(std::io::stdout(), "broke {node} (token {})", h.token)?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
