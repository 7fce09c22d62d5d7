//! The TLS flags of the `coord` command. `--tls-ca`, `--tls-cert` and
//! `--tls-key` (`COORD_TLS_CA`, `COORD_TLS_CERT`, `COORD_TLS_KEY`) are
//! global: for a client verb they are the CA to trust and the client
//! certificate to present; for `coord serve` the certificate and key are the
//! server's. `coord serve` adds `--tls-client-ca` (mTLS) and the peer port's
//! `--peer-tls-*` set, which defaults to the client set (the peer CA to
//! `--tls-client-ca`, else `--tls-ca`).
//!
//! This module only turns flags into `TlsOptions` / `TlsFiles`; reading the
//! files and every TLS decision belong to the client and server crates.

use std::path::PathBuf;

use clap::Args;
use coord_client::{Error, TlsOptions};
use coord_server::server::{ServerConfig, TlsFiles};

/// TLS flags shared by every verb.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct TlsArgs {
    /// CA certificates (PEM) that sign the servers' certificates; turns on
    /// TLS for client verbs.
    #[arg(long, global = true, env = "COORD_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Certificate chain (PEM, leaf first): for client verbs, the client
    /// certificate shown to servers that require one; for `serve`, the
    /// server's certificate (turns TLS on).
    #[arg(long, global = true, env = "COORD_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, global = true, env = "COORD_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Name the servers' certificates must carry (client verbs; default:
    /// each server's host, an IP address as an IP SAN).
    #[arg(long, global = true, env = "COORD_TLS_SERVER_NAME")]
    tls_server_name: Option<String>,
}

/// `coord serve`'s own TLS flags.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ServeTlsArgs {
    /// CA certificates (PEM): clients must present a certificate signed by
    /// one of them (mTLS); needs --tls-cert.
    #[arg(long, env = "COORD_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// The peer port's certificate (PEM); default --tls-cert.
    #[arg(long, env = "COORD_PEER_TLS_CERT")]
    peer_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --peer-tls-cert; default --tls-key.
    #[arg(long, env = "COORD_PEER_TLS_KEY")]
    peer_tls_key: Option<PathBuf>,
    /// CA (PEM) that signs the other members' peer certificates, checked
    /// both ways; default --tls-client-ca, else --tls-ca.
    #[arg(long, env = "COORD_PEER_TLS_CA")]
    peer_tls_ca: Option<PathBuf>,
}

fn pair(
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    names: (&str, &str),
) -> Result<Option<(PathBuf, PathBuf)>, Error> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::BadArguments(format!(
            "{} needs {} (its private key)",
            names.0, names.1
        ))),
        (None, Some(_)) => Err(Error::BadArguments(format!(
            "{} needs {} (the certificate of that key)",
            names.1, names.0
        ))),
    }
}

impl TlsArgs {
    /// The client's TLS options; `None` (plain TCP) without --tls-ca.
    pub(crate) fn client_options(&self) -> Result<Option<TlsOptions>, Error> {
        let client = pair(&self.tls_cert, &self.tls_key, ("--tls-cert", "--tls-key"))?;
        let Some(ca) = &self.tls_ca else {
            if client.is_some() {
                return Err(Error::BadArguments(
                    "--tls-cert/--tls-key need --tls-ca (the CA of the servers' certificates)"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let mut tls = TlsOptions::ca_file(ca);
        if let Some((cert, key)) = client {
            tls = tls.client_cert_files(cert, key);
        }
        if let Some(name) = &self.tls_server_name {
            tls = tls.server_name(name);
        }
        Ok(Some(tls))
    }
}

impl ServeTlsArgs {
    /// Puts the server's TLS files into `cfg`.
    pub(crate) fn apply(self, global: &TlsArgs, cfg: &mut ServerConfig) -> Result<(), Error> {
        let own = pair(
            &global.tls_cert,
            &global.tls_key,
            ("--tls-cert", "--tls-key"),
        )?;
        cfg.tls = match own.clone() {
            Some((cert, key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: self.tls_client_ca.clone(),
            }),
            None if self.tls_client_ca.is_some() => {
                return Err(Error::BadArguments(
                    "--tls-client-ca needs --tls-cert and --tls-key (TLS on the client port)"
                        .into(),
                ));
            }
            None => None,
        };
        let peer = pair(
            &self.peer_tls_cert,
            &self.peer_tls_key,
            ("--peer-tls-cert", "--peer-tls-key"),
        )?;
        let peer_ca = self
            .peer_tls_ca
            .or(self.tls_client_ca)
            .or_else(|| global.tls_ca.clone());
        cfg.peer_tls = peer.or(own).map(|(cert, key)| TlsFiles {
            cert,
            key,
            client_ca: peer_ca,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        global: TlsArgs,
        #[command(flatten)]
        serve: ServeTlsArgs,
    }

    fn serve(args: &[&str]) -> Result<ServerConfig, Error> {
        let cli = <Cli as clap::Parser>::try_parse_from(
            std::iter::once("serve").chain(args.iter().copied()),
        )
        .unwrap();
        let mut cfg = ServerConfig::new("unused");
        cli.serve.apply(&cli.global, &mut cfg)?;
        Ok(cfg)
    }

    #[test]
    fn peer_tls_defaults_to_the_client_set() {
        let cfg = serve(&[
            "--tls-cert=s.pem",
            "--tls-key=s.key",
            "--tls-client-ca=ca.pem",
        ])
        .unwrap();
        let tls = cfg.tls.unwrap();
        assert_eq!(tls.client_ca, Some(PathBuf::from("ca.pem")));
        let peer = cfg.peer_tls.unwrap();
        assert_eq!(
            (peer.cert, peer.key),
            (PathBuf::from("s.pem"), PathBuf::from("s.key"))
        );
        assert_eq!(peer.client_ca, Some(PathBuf::from("ca.pem")));
        let cfg = serve(&[
            "--tls-cert=s.pem",
            "--tls-key=s.key",
            "--peer-tls-cert=p.pem",
            "--peer-tls-key=p.key",
            "--peer-tls-ca=pca.pem",
        ])
        .unwrap();
        let peer = cfg.peer_tls.unwrap();
        assert_eq!(peer.cert, PathBuf::from("p.pem"));
        assert_eq!(peer.client_ca, Some(PathBuf::from("pca.pem")));
        assert!(serve(&[]).unwrap().tls.is_none());
    }

    #[test]
    fn half_given_pairs_are_refused_naming_the_flag() {
        let e = serve(&["--tls-cert=s.pem"]).unwrap_err().to_string();
        assert!(e.contains("--tls-cert needs --tls-key"), "{e}");
        let e = serve(&["--tls-client-ca=ca.pem"]).unwrap_err().to_string();
        assert!(e.contains("--tls-client-ca needs --tls-cert"), "{e}");
        let e = serve(&["--tls-cert=s", "--tls-key=k", "--peer-tls-key=p"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--peer-tls-key needs --peer-tls-cert"), "{e}");
        let client = TlsArgs {
            tls_cert: Some("c".into()),
            tls_key: Some("k".into()),
            ..TlsArgs::default()
        };
        let e = client.client_options().unwrap_err().to_string();
        assert!(e.contains("need --tls-ca"), "{e}");
    }
}
