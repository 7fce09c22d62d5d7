//! The subject of an X.509 certificate as one string, for the `x509`
//! identity of a connection that presented a client certificate.
//!
//! Reads just enough DER to reach `tbsCertificate.subject` and prints it in
//! RFC 4514's order (the last RDN first, so a certificate issued as
//! `O=team, CN=alice` reads `CN=alice,O=team`), with RFC 4514 escaping.
//! Attribute types it has no short name for are printed as dotted OIDs,
//! values that are not strings as `#` and their DER in hex. It trusts
//! nothing: the certificate was verified by rustls before this runs, but a
//! malformed one still yields `None`, never a panic.

/// DER tags used here.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const EXPLICIT_0: u8 = 0xa0;

/// The subject of `cert` (DER), e.g. `CN=alice,O=team`; `None` when the
/// certificate cannot be read or its subject is empty.
pub(crate) fn subject_of(cert: &[u8]) -> Option<String> {
    let (tag, certificate, _) = next(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = next(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    // [0] version (optional), serial, signature, issuer, validity, subject.
    if tbs.first() == Some(&EXPLICIT_0) {
        tbs = next(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = next(tbs)?.2;
    }
    let (tag, name, _) = next(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rdns = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (tag, set, after) = next(rest)?;
        if tag != SET {
            return None;
        }
        rdns.push(rdn(set)?);
        rest = after;
    }
    if rdns.is_empty() {
        return None;
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// One relative distinguished name: `type=value` pairs joined by `+`.
fn rdn(mut set: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !set.is_empty() {
        let (tag, atv, after) = next(set)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, oid, value) = next(atv)?;
        if tag != OID {
            return None;
        }
        let (vtag, raw, _) = next(value)?;
        let text = match vtag {
            // UTF8String, PrintableString, T61String, IA5String, BMPString
            // is rare in subjects and printed as hex below.
            0x0c | 0x13 | 0x14 | 0x16 => escape(std::str::from_utf8(raw).ok()?),
            _ => format!("#{}", hex(&value[..value.len() - next(value)?.2.len()])),
        };
        parts.push(format!("{}={text}", attribute_name(oid)));
        set = after;
    }
    Some(parts.join("+"))
}

/// RFC 4514's short names, else the dotted OID.
fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x09] => "STREET".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID".into(),
        _ => dotted(oid),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = acc.saturating_mul(128) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    let mut out = Vec::with_capacity(arcs.len() + 1);
    if let Some(&first) = arcs.first() {
        let top = (first / 40).min(2);
        out.push(top);
        out.push(first - top * 40);
    }
    out.extend(arcs.iter().skip(1));
    out.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 4514 section 2.4: `,+"\<>;` anywhere, `#` or a space first, a space
/// last, and NUL are escaped.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// One DER element of `input`: its tag, its contents and what follows it.
fn next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_reads_last_rdn_first() {
        let der = cert_with(&[
            (rcgen::DnType::CountryName, "DE"),
            (rcgen::DnType::OrganizationName, "team"),
            (rcgen::DnType::CommonName, "alice"),
        ]);
        assert_eq!(subject_of(&der).as_deref(), Some("CN=alice,O=team,C=DE"));
    }

    #[test]
    fn subject_escapes_special_characters() {
        let der = cert_with(&[(rcgen::DnType::CommonName, "a,b+c \"d\"")]);
        assert_eq!(subject_of(&der).as_deref(), Some("CN=a\\,b\\+c \\\"d\\\""));
        let der = cert_with(&[(rcgen::DnType::CommonName, "#x ")]);
        assert_eq!(subject_of(&der).as_deref(), Some("CN=\\#x\\ "));
    }

    #[test]
    fn unknown_attributes_print_as_dotted_oids() {
        let der = cert_with(&[(
            rcgen::DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 7]),
            "v",
        )]);
        assert_eq!(subject_of(&der).as_deref(), Some("1.3.6.1.4.1.99999.7=v"));
    }

    #[test]
    fn malformed_certificates_give_none() {
        let der = cert_with(&[(rcgen::DnType::CommonName, "alice")]);
        for cut in [0, 1, 5, 40, der.len() / 2] {
            assert_eq!(subject_of(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(subject_of(&[0x02, 0x01, 0x00]), None);
    }
}
