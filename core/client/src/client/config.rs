//! [`ClientBuilder`] and the validated settings ([`Config`]) it produces.
//!
//! Owns the defaults and their validation; it must not open sockets (that is
//! `connection`'s job) nor keep any state of a running client.

use std::time::Duration;

use crate::error::{Error, Result};
use coord_proto::wire::DEFAULT_MAX_FRAME_BYTES;

use super::Client;
use super::tls::{ClientTls, TlsOptions};

/// Server list used when none is given and `COORD_SERVERS` is unset.
pub(crate) const DEFAULT_SERVERS: &str = "127.0.0.1:2281";

/// Environment variable holding the default server list (`h:p,h:p`).
pub(crate) const SERVERS_ENV: &str = "COORD_SERVERS";

/// Configures and opens a [`Client`]. Obtain one with [`Client::builder`].
///
/// ```no_run
/// # async fn f() -> coord_client::Result<()> {
/// use std::time::Duration;
/// let client = coord_client::client::Client::builder()
///     .servers("10.0.0.1:2281,10.0.0.2:2281")
///     .session_timeout(Duration::from_secs(6))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    servers: String,
    session_timeout: Duration,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    backoff_min: Duration,
    backoff_max: Duration,
    max_frame_bytes: usize,
    tls: Option<TlsOptions>,
    token: Option<Token>,
}

/// A bearer token; `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Token(pub(crate) std::sync::Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            servers: default_servers(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            request_timeout: None,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            tls: None,
            token: None,
        }
    }
}

impl ClientBuilder {
    /// The servers to use, `host:port` separated by commas. Default:
    /// `$COORD_SERVERS`, else `127.0.0.1:2281`.
    pub fn servers(mut self, servers: impl Into<String>) -> Self {
        self.servers = servers.into();
        self
    }

    /// The session timeout to ask for (default 10 s). The server clamps it into
    /// its bounds; [`Client::session_timeout`] tells the negotiated value.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// Limit on the first connection, and on each TCP connect plus handshake
    /// of a reconnect (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Limit on each request, including the time it waits for a reconnect
    /// (default: the requested session timeout). On expiry the request fails
    /// with [`Error::OperationTimeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Bounds of the reconnect delay (default 50 ms .. 2 s): it doubles from
    /// `min` up to `max`, with random jitter, and resets after a connection.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// Largest frame accepted from the server (default
    /// [`DEFAULT_MAX_FRAME_BYTES`]).
    pub fn max_frame_bytes(mut self, max: usize) -> Self {
        self.max_frame_bytes = max;
        self
    }

    /// Speaks TLS to every server (default: plain TCP). The CA and client
    /// certificate files are read when the client is built.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A bearer token from the server's tokens file, presented at connect:
    /// the session holds the identity `token:<user>` from its start (needed
    /// when the server runs with `--auth-required`). Never logged.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        let token: String = token.into();
        self.token = (!token.is_empty()).then(|| Token(token.into()));
        self
    }

    /// Opens a session with one of the servers (tried in random order until
    /// `connect_timeout` has passed) and starts the client's tasks.
    pub async fn connect(self) -> Result<Client> {
        let config = self.build()?;
        Client::start(config).await
    }

    /// Validates the settings.
    pub(crate) fn build(self) -> Result<Config> {
        let servers = parse_servers(&self.servers)?;
        let ms = self.session_timeout.as_millis();
        if ms == 0 || ms > u128::from(u32::MAX) {
            return Err(Error::BadArguments(format!(
                "session_timeout must be between 1 ms and {} ms, got {ms} ms",
                u32::MAX
            )));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::BadArguments(
                "connect_timeout must not be zero".into(),
            ));
        }
        let request_timeout = self.request_timeout.unwrap_or(self.session_timeout);
        if request_timeout.is_zero() {
            return Err(Error::BadArguments(
                "request_timeout must not be zero".into(),
            ));
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return Err(Error::BadArguments(format!(
                "backoff needs 0 < min <= max, got min {:?} max {:?}",
                self.backoff_min, self.backoff_max
            )));
        }
        if self.max_frame_bytes < 1024 {
            return Err(Error::BadArguments(format!(
                "max_frame_bytes must be at least 1024, got {}",
                self.max_frame_bytes
            )));
        }
        let tls = match &self.tls {
            Some(t) => Some(t.build()?),
            None => None,
        };
        Ok(Config {
            tls,
            servers,
            session_timeout: self.session_timeout,
            connect_timeout: self.connect_timeout,
            request_timeout,
            backoff_min: self.backoff_min,
            backoff_max: self.backoff_max,
            max_frame_bytes: self.max_frame_bytes,
            token: self.token,
        })
    }
}

/// Validated client settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `host:port` entries, in the order to try them.
    pub(crate) servers: Vec<String>,
    /// Requested session timeout.
    pub(crate) session_timeout: Duration,
    /// Limit on one TCP connect + handshake (and on the whole first connect).
    pub(crate) connect_timeout: Duration,
    /// Limit on one request.
    pub(crate) request_timeout: Duration,
    /// Smallest reconnect delay.
    pub(crate) backoff_min: Duration,
    /// Largest reconnect delay.
    pub(crate) backoff_max: Duration,
    /// Largest frame accepted.
    pub(crate) max_frame_bytes: usize,
    /// TLS settings (`None`: plain TCP).
    pub(crate) tls: Option<ClientTls>,
    /// Bearer token presented at connect (see [`ClientBuilder::token`]).
    pub(crate) token: Option<Token>,
}

/// `$COORD_SERVERS`, or `127.0.0.1:2281` when unset or empty.
pub(crate) fn default_servers() -> String {
    match std::env::var(SERVERS_ENV) {
        Ok(s) if !s.trim().is_empty() => s,
        _ => DEFAULT_SERVERS.to_string(),
    }
}

/// Splits `h:p,h:p` into entries, checking each has a host and a numeric port.
pub(crate) fn parse_servers(list: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ok = entry
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(Error::BadArguments(format!(
                "server {entry:?} is not host:port"
            )));
        }
        out.push(entry.to_string());
    }
    if out.is_empty() {
        return Err(Error::BadArguments(format!(
            "server list {list:?} names no server"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_list_is_split_trimmed_and_checked() {
        assert_eq!(
            parse_servers(" a:1, [::1]:2281 ,,b.example:3").unwrap(),
            vec!["a:1", "[::1]:2281", "b.example:3"]
        );
        assert!(matches!(parse_servers(""), Err(Error::BadArguments(_))));
        assert!(matches!(parse_servers("a"), Err(Error::BadArguments(_))));
        assert!(matches!(parse_servers("a:x"), Err(Error::BadArguments(_))));
        assert!(matches!(parse_servers(":1"), Err(Error::BadArguments(_))));
    }

    #[test]
    fn request_timeout_defaults_to_the_session_timeout() {
        let cfg = ClientBuilder::default()
            .servers("h:1")
            .session_timeout(Duration::from_millis(1234))
            .build()
            .unwrap();
        assert_eq!(cfg.request_timeout, Duration::from_millis(1234));
        assert_eq!(cfg.backoff_min, Duration::from_millis(50));
        assert_eq!(cfg.backoff_max, Duration::from_secs(2));
    }

    #[test]
    fn bad_settings_are_refused() {
        let b = || ClientBuilder::default().servers("h:1");
        assert!(b().session_timeout(Duration::ZERO).build().is_err());
        assert!(
            b().backoff(Duration::from_secs(2), Duration::from_secs(1))
                .build()
                .is_err()
        );
        assert!(b().request_timeout(Duration::ZERO).build().is_err());
        assert!(b().max_frame_bytes(10).build().is_err());
    }
}
