//! Which parts of `coord bench` run (`--workloads floor,create,set,get,locks`;
//! all by default). A subset serves measurements that want one operation
//! alone, such as counting a server's instructions per `get` under valgrind
//! (tests/bench/instructions.sh), where every other workload would only add
//! to the count.

use std::fmt;

/// One selectable part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// fsync append / preallocated overwrite and the loopback TCP echo.
    Floor,
    /// `create` of sequential nodes.
    Create,
    /// Durable `set`.
    Set,
    /// `get`.
    Get,
    /// Lock cycle, handoff and notifications per handoff.
    Locks,
}

/// Every workload, in the order a run measures them.
pub const ALL: &[Workload] = &[
    Workload::Floor,
    Workload::Create,
    Workload::Set,
    Workload::Get,
    Workload::Locks,
];

impl Workload {
    /// The name `--workloads` takes.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Floor => "floor",
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Locks => "locks",
        }
    }

    /// Reads one name of [`Workload::name`].
    pub fn parse(s: &str) -> Result<Workload, String> {
        ALL.iter()
            .copied()
            .find(|w| w.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload `{s}`; known: {}", names.join(", "))
            })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_strangers_are_named() {
        for w in ALL {
            assert_eq!(Workload::parse(w.name()), Ok(*w));
        }
        let e = Workload::parse("gets").unwrap_err();
        assert!(
            e.contains("`gets`") && e.contains("floor, create, set, get, locks"),
            "{e}"
        );
    }
}
