//! Loopback ports a test names before the process that binds them runs.
//!
//! A cluster's members must know each other's peer addresses before any of
//! them starts, so tests pick ports, release them, and let the members bind
//! them later. A port picked by binding port 0 comes from the kernel's
//! ephemeral range, which is also where every outgoing connection on the
//! machine takes its source port: between the pick and the bind another
//! process's connection can take it, and the member fails with "Address
//! already in use" (seen in fresh-clone runs). Ports below that range are
//! never handed out implicitly, so only an explicit bind can take them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener};

/// Where the picks start; below are well-known and registered services.
const LOWEST: u16 = 10_000;
/// Used when the kernel's range cannot be read (Linux's default start).
const DEFAULT_EPHEMERAL_START: u16 = 32_768;
/// Most candidate ports tried per call.
const MAX_TRIES: usize = 4_096;

/// `n` distinct loopback ports, each free when picked, from below the
/// kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`),
/// starting at a random one so that concurrent test processes rarely try
/// the same. Every port is bound while the others are picked, then all are
/// released for the caller's processes to bind.
pub fn unused_loopback_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let top = ephemeral_start().unwrap_or(DEFAULT_EPHEMERAL_START);
    let mut rng = RandomState::new().build_hasher();
    rng.write_u32(std::process::id());
    let offset = rng.finish() % u64::from(top.saturating_sub(LOWEST).max(1));
    pick(n, LOWEST..top, LOWEST + offset as u16)
}

/// `n` ports of `range` that bind, trying them in order from `first` and
/// wrapping around; each is held until all are found.
fn pick(n: usize, range: std::ops::Range<u16>, first: u16) -> std::io::Result<Vec<u16>> {
    let span = usize::from(range.end.saturating_sub(range.start));
    if span < n.max(1) || !range.contains(&first) {
        return Err(std::io::Error::other(format!(
            "no room for {n} ports in {range:?} (first try {first})"
        )));
    }
    let mut held = Vec::with_capacity(n);
    for i in 0..MAX_TRIES.min(span) {
        if held.len() == n {
            break;
        }
        let port = range.start + ((usize::from(first - range.start) + i) % span) as u16;
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(listener);
        }
    }
    if held.len() < n {
        return Err(std::io::Error::other(format!(
            "found {} of {n} free loopback ports in {range:?}",
            held.len()
        )));
    }
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_start() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let top = ephemeral_start().unwrap_or(DEFAULT_EPHEMERAL_START);
        let ports = unused_loopback_ports(5).expect("ports");
        assert_eq!(ports.len(), 5);
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 5, "distinct: {ports:?}");
        for p in &ports {
            assert!((LOWEST..top).contains(p), "{p} outside {LOWEST}..{top}");
            // Released: the caller's process can bind it.
            TcpListener::bind((Ipv4Addr::LOCALHOST, *p)).expect("bind a returned port");
        }
    }

    #[test]
    fn a_port_in_use_is_skipped_and_a_full_range_is_an_error() {
        let a = unused_loopback_ports(1).expect("port")[0];
        let _taken = TcpListener::bind((Ipv4Addr::LOCALHOST, a)).expect("take it");
        // The search starts at the taken port and moves past it.
        let got = pick(1, a..a.saturating_add(64), a).expect("a free port after it")[0];
        assert!(got > a, "{a} is bound, got {got}");
        // Nothing free in a range of the one taken port.
        let err = pick(1, a..a + 1, a).expect_err("taken");
        assert!(err.to_string().contains("found 0 of 1"), "{err}");
        let err = pick(2, a..a + 1, a).expect_err("no room");
        assert!(err.to_string().contains("no room for 2 ports"), "{err}");
    }
}
