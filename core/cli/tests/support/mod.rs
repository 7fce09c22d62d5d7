//! What the `coord` binary's integration tests share: a `coord serve` child
//! process on an ephemeral loopback port (optionally under shell `ulimit`s),
//! its captured log, and a client for it. Each test file uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coord_client::client::Client;

/// The binary under test.
pub(crate) const COORD: &str = env!("CARGO_BIN_EXE_coord");

/// A `coord serve` child process; killed (SIGKILL) when dropped.
pub(crate) struct Served {
    child: Child,
    addr: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
    /// Copies stderr into `log`; ends when the process closes stderr.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// `coord serve --listen 127.0.0.1:0 --data-dir DATA_DIR ARGS...`;
    /// returns once it announced its address or exited.
    pub(crate) fn start(data_dir: &Path, args: &[&str]) -> Served {
        Self::spawn(Command::new(COORD), data_dir, args)
    }

    /// [`Served::start`] through `sh` so that `limits` (arguments of the
    /// shell's `ulimit`, e.g. `-n 256`) apply to the server.
    pub(crate) fn start_limited(limits: &str, data_dir: &Path, args: &[&str]) -> Served {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("ulimit {limits} || exit 99; exec \"$0\" \"$@\""))
            .arg(COORD);
        Self::spawn(sh, data_dir, args)
    }

    fn spawn(mut cmd: Command, data_dir: &Path, args: &[&str]) -> Served {
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info,openraft=error")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start coord serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("coord: serving on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        // Either the address or, when the process exits first, a closed channel.
        let addr = rx.recv_timeout(Duration::from_secs(60)).ok();
        Served {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    /// The server's process id (to send it signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server announced an address (it is serving).
    pub(crate) fn is_serving(&self) -> bool {
        self.addr.is_some()
    }

    /// The client address; panics with the server's log if it never served.
    pub(crate) fn addr(&self) -> &str {
        self.addr
            .as_deref()
            .unwrap_or_else(|| panic!("server did not start; its log:\n{}", self.log_text()))
    }

    /// Everything the server wrote to stderr so far.
    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to `limit` for the process to exit by itself; once it has,
    /// [`Served::log_text`] holds everything it wrote.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: no shutdown path runs.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// (current, peak) resident memory of the server process, KiB.
    pub(crate) fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing in /proc status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// Lines of the server's log a failing test prints.
const LOG_LINES_ON_FAILURE: usize = 200;

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the server was doing (its log is
        // otherwise only in memory).
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let tail = &log[log.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
            eprintln!(
                "--- last {} lines of the coord serve log ---\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// A client of `addr` with a 10 s session.
pub(crate) async fn client(addr: &str) -> Client {
    Client::builder()
        .servers(addr.to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

/// Runs the `coord` binary with `args` to its end (bounded by 30 s), with no
/// credentials from the environment; returns (exit code, stdout, stderr).
pub(crate) async fn run_coord(args: &[&str]) -> (Option<i32>, String, String) {
    let run = tokio::process::Command::new(COORD)
        .args(args)
        .env_remove("COORD_TOKEN")
        .env_remove("COORD_DIGEST")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("coord finishes in time")
        .expect("coord runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

/// Free loopback ports for peer addresses, from below the kernel's
/// ephemeral range so that no outgoing connection takes one before the
/// member binds it (see `coord_server::testing::unused_loopback_ports`).
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    coord_server::testing::unused_loopback_ports(n).expect("free loopback ports")
}

/// One HTTP/1.1 request with an empty body (and a bearer token if given);
/// (status code, body).
pub(crate) fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

/// The HTTP port `server` logged (`coord: http on ADDR`).
pub(crate) fn http_addr(server: &Served) -> String {
    server
        .log_text()
        .lines()
        .find_map(|l| l.strip_prefix("coord: http on "))
        .map(|a| a.trim().to_string())
        .unwrap_or_else(|| panic!("no `coord: http on` line:\n{}", server.log_text()))
}
