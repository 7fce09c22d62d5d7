//! Identities and access control lists in ZooKeeper's model: [`Identity`]
//! (scheme + id), [`Acl`] (permissions granted to one identity), the
//! permission bits ([`perms`]), the text forms the CLI and ZooKeeper's tools
//! use (`world:anyone:cdrwa`, `digest:alice:<hash>:r`), the `digest` scheme's
//! id (`user:base64(sha1(user:password))`, byte for byte ZooKeeper's) and the
//! matching rule ([`allows`]).
//!
//! Plain data and pure functions: which identities a session holds and where
//! a check runs (the server's `apply` and reads) are decided elsewhere.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Permission bits, with ZooKeeper's values.
pub mod perms {
    /// Read the node's data and list its children.
    pub const READ: u32 = 1;
    /// Set the node's data.
    pub const WRITE: u32 = 2;
    /// Create children.
    pub const CREATE: u32 = 4;
    /// Delete children.
    pub const DELETE: u32 = 8;
    /// Set the node's ACL.
    pub const ADMIN: u32 = 16;
    /// Every permission.
    pub const ALL: u32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Scheme every session matches (id `anyone`).
pub const WORLD: &str = "world";
/// Create-time placeholder for "every identity the creator holds".
pub const AUTH: &str = "auth";
/// ZooKeeper's user:password scheme (id `user:base64(sha1(user:password))`).
pub const DIGEST: &str = "digest";
/// Client address (id an address, or an address/prefix-length CIDR in an ACL).
pub const IP: &str = "ip";
/// Client certificate subject (mTLS).
pub const X509: &str = "x509";
/// Bearer token (id: the user name the tokens file maps the token to).
pub const TOKEN: &str = "token";

/// Who a session is, in one scheme.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// `world`, `digest`, `ip`, `x509` or `token` (`auth` only inside ACLs at create).
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl Identity {
    /// An identity from its parts.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Identity {
        Identity {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Identity {
        Identity::new(WORLD, "anyone")
    }

    /// Parses `scheme:id` (the id may contain colons, as a digest id does;
    /// it may be empty only for `auth`, which ZooKeeper writes `auth:`).
    pub fn parse(text: &str) -> Result<Identity> {
        match text.split_once(':') {
            Some((scheme, id)) if !scheme.is_empty() && (!id.is_empty() || scheme == AUTH) => {
                Ok(Identity::new(scheme, id))
            }
            _ => Err(Error::BadArguments(format!(
                "identity {text:?}: expected SCHEME:ID (e.g. token:alice)"
            ))),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

/// Permissions granted to one identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Acl {
    /// Bits of [`perms`].
    pub perms: u32,
    /// Who gets them.
    pub identity: Identity,
}

impl Acl {
    /// An entry from its parts.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>, perms: u32) -> Acl {
        Acl {
            perms,
            identity: Identity::new(scheme, id),
        }
    }

    /// `world:anyone:cdrwa`: the ACL of a node created without one.
    pub fn open() -> Acl {
        Acl::new(WORLD, "anyone", perms::ALL)
    }

    /// Parses `scheme:id:perms` as ZooKeeper's tools write it; the id may
    /// contain colons (a digest id does), so the permissions are taken from
    /// the right.
    pub fn parse(text: &str) -> Result<Acl> {
        let bad = |why: &str| {
            Error::BadArguments(format!(
                "ACL {text:?}: {why} (expected SCHEME:ID:PERMS, e.g. world:anyone:r)"
            ))
        };
        let (rest, p) = text.rsplit_once(':').ok_or_else(|| bad("no permissions"))?;
        let identity = Identity::parse(rest).map_err(|_| bad("no SCHEME:ID"))?;
        let perms = parse_perms(p).map_err(|e| bad(e.detail()))?;
        Ok(Acl { perms, identity })
    }
}

impl std::fmt::Display for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.identity, perms_to_string(self.perms))
    }
}

/// Permission letters in ZooKeeper's order (`cdrwa`).
const LETTERS: [(char, u32); 5] = [
    ('c', perms::CREATE),
    ('d', perms::DELETE),
    ('r', perms::READ),
    ('w', perms::WRITE),
    ('a', perms::ADMIN),
];

/// `cdrwa`-style letters for permission bits (only those set).
pub fn perms_to_string(bits: u32) -> String {
    LETTERS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(c, _)| *c)
        .collect()
}

/// Permission bits from letters `c d r w a` in any order (case-insensitive).
pub fn parse_perms(text: &str) -> Result<u32> {
    let mut bits = 0;
    for ch in text.chars() {
        let lower = ch.to_ascii_lowercase();
        match LETTERS.iter().find(|(c, _)| *c == lower) {
            Some((_, b)) => bits |= b,
            None => {
                return Err(Error::BadArguments(format!(
                    "permission letter {ch:?} in {text:?}: use c, d, r, w, a"
                )));
            }
        }
    }
    Ok(bits)
}

/// The name of one permission bit, for errors (`CREATE`, `READ`...).
pub fn perm_name(bit: u32) -> &'static str {
    match bit {
        perms::READ => "READ",
        perms::WRITE => "WRITE",
        perms::CREATE => "CREATE",
        perms::DELETE => "DELETE",
        perms::ADMIN => "ADMIN",
        _ => "PERMISSION",
    }
}

/// ZooKeeper's digest id for `user` and `password`:
/// `user:base64(sha1("user:password"))`.
pub fn digest_id(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let hash = sha1_smol::Sha1::from(format!("{user}:{password}")).digest();
    let b64 = base64::engine::general_purpose::STANDARD.encode(hash.bytes());
    format!("{user}:{b64}")
}

/// Whether a session holding `identities` gets `perm` from `acl`. An empty
/// list is open (a node created before ACLs existed). `world:anyone` matches
/// every session; `ip` entries match an `ip` identity by address or CIDR;
/// other schemes match an identical identity.
pub fn allows(acl: &[Acl], identities: &[Identity], perm: u32) -> bool {
    if acl.is_empty() {
        return true;
    }
    acl.iter()
        .filter(|entry| entry.perms & perm != 0)
        .any(|entry| matches(&entry.identity, identities))
}

fn matches(want: &Identity, identities: &[Identity]) -> bool {
    if want.scheme == WORLD && want.id == "anyone" {
        return true;
    }
    identities.iter().any(|have| {
        have.scheme == want.scheme
            && (have.id == want.id || (want.scheme == IP && ip_matches(&want.id, &have.id)))
    })
}

/// Whether address `addr` is inside `pattern` (an address or `addr/bits`).
fn ip_matches(pattern: &str, addr: &str) -> bool {
    let Ok(addr) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let (net, bits) = match pattern.split_once('/') {
        Some((net, bits)) => (net, bits.parse::<u32>().ok()),
        None => (pattern, None),
    };
    let Ok(net) = net.parse::<std::net::IpAddr>() else {
        return false;
    };
    let (a, n, width) = match (addr, net) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(n)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(n)), 32)
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (n >> shift)
}

/// Checks an ACL list given at create or setACL: known schemes, non-empty
/// ids, `world` only as `anyone`, valid `ip` patterns, no unknown permission
/// bits. (`auth` is expanded by the server before it is stored.)
pub fn validate_acl(acl: &[Acl]) -> Result<()> {
    for entry in acl {
        let Identity { scheme, id } = &entry.identity;
        let bad = |why: &str| Error::InvalidAcl(format!("ACL entry {entry}: {why}"));
        if entry.perms & !perms::ALL != 0 {
            return Err(bad("unknown permission bits"));
        }
        match scheme.as_str() {
            WORLD if id != "anyone" => return Err(bad("the world scheme's only id is anyone")),
            DIGEST if !id.contains(':') => return Err(bad("a digest id is user:hash")),
            IP if !ip_matches(id, id.split('/').next().unwrap_or_default()) => {
                return Err(bad("not an address or address/bits"));
            }
            // ZooKeeper writes `auth::cdrwa`: the id is ignored.
            AUTH => {}
            WORLD | DIGEST | IP | X509 | TOKEN if !id.is_empty() => {}
            WORLD | DIGEST | IP | X509 | TOKEN => return Err(bad("empty id")),
            _ => {
                return Err(bad(
                    "unknown scheme (use world, auth, digest, ip, x509 or token)",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_id_is_zookeepers() {
        // From ZooKeeper's DigestAuthenticationProvider for super:test.
        assert_eq!(
            digest_id("super", "test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn acl_text_parses_from_the_right_and_prints_back() {
        let a = Acl::parse("digest:alice:abc=:cdrwa").unwrap();
        assert_eq!(a.identity, Identity::new("digest", "alice:abc="));
        assert_eq!(a.perms, perms::ALL);
        assert_eq!(a.to_string(), "digest:alice:abc=:cdrwa");
        assert_eq!(Acl::parse("world:anyone:r").unwrap().perms, perms::READ);
        assert!(Acl::parse("world:anyone:x").is_err());
        assert!(Acl::parse("anyone").is_err());
    }

    #[test]
    fn ip_entries_match_addresses_and_cidrs() {
        let ids = [Identity::new(IP, "10.1.2.3")];
        assert!(allows(&[Acl::new(IP, "10.1.0.0/16", 1)], &ids, 1));
        assert!(allows(&[Acl::new(IP, "10.1.2.3", 1)], &ids, 1));
        assert!(!allows(&[Acl::new(IP, "10.2.0.0/16", 1)], &ids, 1));
        assert!(!allows(&[Acl::new(IP, "::1", 1)], &ids, 1));
    }

    #[test]
    fn only_entries_with_the_bit_grant_it() {
        let ids = [Identity::new(TOKEN, "bob")];
        let acl = [
            Acl::new(TOKEN, "bob", perms::READ),
            Acl::new(WORLD, "anyone", 0),
        ];
        assert!(allows(&acl, &ids, perms::READ));
        assert!(!allows(&acl, &ids, perms::WRITE));
        assert!(allows(&[], &ids, perms::WRITE), "empty list is open");
    }
}
