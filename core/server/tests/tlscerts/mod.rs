//! Certificate authorities and certificates for the TLS tests, made with
//! rcgen in the test and written as PEM files to a temp dir.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A CA that signs server and client certificates.
pub struct Ca {
    /// Its certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = dn(&[(DnType::CommonName, name)]);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A server certificate for 127.0.0.1 and `localhost`.
    pub fn server(&self, dir: &Path, name: &str) -> CertFiles {
        self.leaf(dir, name, &["127.0.0.1", "localhost"], Leaf::default())
    }

    /// A leaf certificate with these SANs; `leaf` sets the rest.
    pub fn leaf(&self, dir: &Path, name: &str, sans: &[&str], leaf: Leaf) -> CertFiles {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = dn(&leaf.subject);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if leaf.expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let files = CertFiles {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// A client certificate with subject `CN=cn,O=org`.
    pub fn client(&self, dir: &Path, name: &str, cn: &str, org: &str) -> CertFiles {
        self.leaf(
            dir,
            name,
            &[],
            Leaf {
                subject: vec![
                    (DnType::OrganizationName, org.into()),
                    (DnType::CommonName, cn.into()),
                ],
                expired: false,
            },
        )
    }
}

/// How a leaf certificate differs from a plain, valid one.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Its subject, most general first.
    pub subject: Vec<(DnType, String)>,
    /// Valid only in the year 2000.
    pub expired: bool,
}

impl Default for Leaf {
    fn default() -> Self {
        Leaf {
            subject: vec![(DnType::CommonName, "coord test server".into())],
            expired: false,
        }
    }
}

fn dn<S: AsRef<str>>(parts: &[(DnType, S)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in parts {
        dn.push(t.clone(), v.as_ref());
    }
    dn
}
