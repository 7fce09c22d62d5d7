//! A linearizability checker for a versioned register with compare-and-set,
//! the model of one coord node's data under `get` / `set` / `set` with a
//! version: Wing & Gong's search over the history, with Lowe's memoization
//! of (ops linearized so far, model state), as in Porcupine. Keys are
//! independent (a register each), so each key's history is checked alone.
//!
//! A history is a list of [`Op`]s with invoke and return times taken from one
//! monotonic counter shared by every client. An op whose outcome the client
//! could not learn (connection loss, timeout) is [`Outcome::Unknown`]: it may
//! have taken effect at any time after its invoke, or never (return time
//! +infinity, any output), as Porcupine and Knossos treat them. Unknown reads
//! say nothing and are dropped.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// The state of one register: its value and its version (bumped by every
/// write, as a node's `version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reg {
    pub value: u64,
    pub version: i32,
}

/// What a client asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Read the value and version.
    Get,
    /// Write `value` whatever the version.
    Set(u64),
    /// Write `value` only if the version is `expected`.
    Cas { expected: i32, value: u64 },
}

/// What the client was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A read's answer.
    Read(Reg),
    /// A write succeeded; the node's new version.
    Written(i32),
    /// A compare-and-set failed: the version differed.
    BadVersion,
    /// Not known (connection loss, timeout): maybe applied, maybe not.
    Unknown,
}

/// One operation of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub client: usize,
    pub key: usize,
    pub input: Input,
    pub outcome: Outcome,
    pub invoke: u64,
    /// Ignored for [`Outcome::Unknown`] (taken as +infinity).
    pub ret: u64,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = if self.outcome == Outcome::Unknown {
            "inf".to_string()
        } else {
            self.ret.to_string()
        };
        write!(
            f,
            "client {} key {} [{}, {}] {:?} -> {:?}",
            self.client, self.key, self.invoke, ret, self.input, self.outcome
        )
    }
}

impl Op {
    /// One line of a dump: `client key invoke ret input outcome`, numbers
    /// and words separated by spaces (see [`Op::from_line`]).
    pub fn to_line(&self) -> String {
        let input = match self.input {
            Input::Get => "get 0 0".to_string(),
            Input::Set(v) => format!("set {v} 0"),
            Input::Cas { expected, value } => format!("cas {value} {expected}"),
        };
        let outcome = match self.outcome {
            Outcome::Read(r) => format!("read {} {}", r.value, r.version),
            Outcome::Written(v) => format!("written 0 {v}"),
            Outcome::BadVersion => "bad 0 0".to_string(),
            Outcome::Unknown => "unknown 0 0".to_string(),
        };
        format!(
            "{} {} {} {} {input} {outcome}",
            self.client, self.key, self.invoke, self.ret
        )
    }

    /// Reads a line written by [`Op::to_line`].
    pub fn from_line(line: &str) -> Option<Op> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let [client, key, invoke, ret, i, a, b, o, x, y] = w[..] else {
            return None;
        };
        let (a, b, x, y): (u64, i32, u64, i32) = (
            a.parse().ok()?,
            b.parse().ok()?,
            x.parse().ok()?,
            y.parse().ok()?,
        );
        Some(Op {
            client: client.parse().ok()?,
            key: key.parse().ok()?,
            invoke: invoke.parse().ok()?,
            ret: ret.parse().ok()?,
            input: match i {
                "get" => Input::Get,
                "set" => Input::Set(a),
                "cas" => Input::Cas {
                    expected: b,
                    value: a,
                },
                _ => return None,
            },
            outcome: match o {
                "read" => Outcome::Read(Reg {
                    value: x,
                    version: y,
                }),
                "written" => Outcome::Written(y),
                "bad" => Outcome::BadVersion,
                "unknown" => Outcome::Unknown,
                _ => return None,
            },
        })
    }
}

/// Applies `input` to `state`; `Some(new state)` if `outcome` is possible.
fn step(state: Reg, input: Input, outcome: Outcome) -> Option<Reg> {
    let written = |value| Reg {
        value,
        version: state.version + 1,
    };
    match (input, outcome) {
        (Input::Get, Outcome::Read(r)) => (r == state).then_some(state),
        (Input::Get, _) => None,
        (Input::Set(v), Outcome::Written(ver)) => (ver == state.version + 1).then(|| written(v)),
        (Input::Set(v), Outcome::Unknown) => Some(written(v)),
        (Input::Set(_), _) => None,
        (Input::Cas { expected, value }, Outcome::Written(ver)) => {
            (state.version == expected && ver == expected + 1).then(|| written(value))
        }
        (Input::Cas { expected, .. }, Outcome::BadVersion) => {
            (state.version != expected).then_some(state)
        }
        // If it ran, it did what the model says; if it never ran, taking it
        // last (after every observation) is the same as not at all.
        (Input::Cas { expected, value }, Outcome::Unknown) => Some(if state.version == expected {
            written(value)
        } else {
            state
        }),
        (Input::Cas { .. }, Outcome::Read(_)) => None,
    }
}

/// Whether an op that was told `outcome` can no longer take effect from
/// `state` or any later state (versions only grow; a version's value is
/// fixed once written).
fn doomed(state: Reg, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Read(r) => {
            r.version < state.version || (r.version == state.version && r.value != state.value)
        }
        Outcome::Written(v) => v <= state.version,
        Outcome::BadVersion | Outcome::Unknown => false,
    }
}

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order fits; the explanation names the op the search could not get
    /// past with the longest prefix it found.
    Violation(String),
    /// The search took more steps than allowed.
    GaveUp,
}

/// The verdict on a whole history, with how many ops were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ops: usize,
    pub keys: usize,
    pub violations: Vec<(usize, String)>,
    pub gave_up: Vec<usize>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty() && self.gave_up.is_empty()
    }
}

/// Most search steps per key before giving up.
pub const DEFAULT_BUDGET: u64 = 50_000_000;

/// Checks every key of `history` separately; each register starts as `init`.
pub fn check(history: &[Op], init: Reg, budget: u64) -> Report {
    let mut by_key: BTreeMap<usize, Vec<Op>> = BTreeMap::new();
    for op in history {
        // An unknown read observed nothing.
        if op.input == Input::Get && op.outcome == Outcome::Unknown {
            continue;
        }
        by_key.entry(op.key).or_default().push(op.clone());
    }
    let mut report = Report {
        ops: by_key.values().map(Vec::len).sum(),
        keys: by_key.len(),
        violations: Vec::new(),
        gave_up: Vec::new(),
    };
    for (key, ops) in by_key {
        match check_key(&ops, init, budget) {
            Verdict::Linearizable => {}
            Verdict::Violation(why) => report.violations.push((key, why)),
            Verdict::GaveUp => report.gave_up.push(key),
        }
    }
    report
}

/// One entry of the search list: an op's call or return.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call: the index of its return entry.
    matching: usize,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;

/// A set of op indexes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// Wing & Gong with memoization over one key's ops.
pub fn check_key(ops: &[Op], init: Reg, budget: u64) -> Verdict {
    // Entries sorted by time: calls at invoke, returns at ret (unknown: last).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        let ret = if op.outcome == Outcome::Unknown {
            u64::MAX
        } else {
            op.ret
        };
        events.push((op.invoke, true, i));
        events.push((ret, false, i));
    }
    // At equal times calls sort first: an op precedes another only if it
    // returned strictly before the other began (the client counter never
    // repeats a time anyway).
    events.sort_by_key(|(t, is_call, op)| (*t, !*is_call, *op));
    // Node 0 is the head sentinel; entries are 1..=2n.
    let mut list: Vec<Entry> = Vec::with_capacity(events.len() + 1);
    list.push(Entry {
        op: NIL,
        is_call: false,
        matching: NIL,
        prev: NIL,
        next: NIL,
    });
    let mut return_at = vec![NIL; ops.len()];
    for (pos, (_, is_call, op)) in events.iter().enumerate() {
        let idx = pos + 1;
        if !is_call {
            return_at[*op] = idx;
        }
        list.push(Entry {
            op: *op,
            is_call: *is_call,
            matching: NIL,
            prev: idx - 1,
            next: if pos + 1 < events.len() { idx + 1 } else { NIL },
        });
    }
    if list.len() > 1 {
        list[0].next = 1;
    }
    for e in list.iter_mut().skip(1) {
        if e.is_call {
            e.matching = return_at[e.op];
        }
    }
    let lift = |list: &mut Vec<Entry>, call: usize| {
        let ret = list[call].matching;
        let (p, n) = (list[call].prev, list[call].next);
        list[p].next = n;
        if n != NIL {
            list[n].prev = p;
        }
        let (p, n) = (list[ret].prev, list[ret].next);
        list[p].next = n;
        if n != NIL {
            list[n].prev = p;
        }
    };
    let unlift = |list: &mut Vec<Entry>, call: usize| {
        let ret = list[call].matching;
        let (p, n) = (list[ret].prev, list[ret].next);
        list[p].next = ret;
        if n != NIL {
            list[n].prev = ret;
        }
        let (p, n) = (list[call].prev, list[call].next);
        list[p].next = call;
        if n != NIL {
            list[n].prev = call;
        }
    };

    // The search: a stack of frames, each with the ops to try next among
    // those that could take effect now (the calls before the first return
    // in the list). Two reductions keep it from branching where no choice
    // exists (both keep the search complete):
    // - a known read or failed compare-and-set that fits the state now is
    //   taken alone: it changes nothing, and every op that must precede it
    //   in real time is already placed, so any order that places it later
    //   can place it here instead;
    // - else a known write that fits now is taken alone: it names the
    //   version it made, so no other write can come first, and the ops that
    //   change nothing were taken by the rule above.
    // A known op that needs an older state than the one reached (versions
    // only grow, and a version's value never changes) ends the branch at
    // once.
    // Only when no known op fits are the ops of unknown outcome tried, and
    // of those whose written value no read saw only one per kind: they are
    // interchangeable (the model's other ops look at the version only), so
    // any order that takes another can swap it with that one.
    let observed: HashSet<u64> = ops
        .iter()
        .filter_map(|o| match o.outcome {
            Outcome::Read(r) => Some(r.value),
            _ => None,
        })
        .collect();
    let candidates = |list: &Vec<Entry>, state: Reg| -> Vec<usize> {
        let mut unknown = Vec::new();
        let mut write = None;
        let mut blind_set = false;
        let mut blind_cas: Vec<i32> = Vec::new();
        let mut e = list[0].next;
        while e != NIL && list[e].is_call {
            let op = &ops[list[e].op];
            if doomed(state, op.outcome) {
                return Vec::new();
            }
            if op.outcome != Outcome::Unknown {
                match step(state, op.input, op.outcome) {
                    Some(next) if next == state => return vec![e],
                    Some(_) => write = write.or(Some(e)),
                    None => {}
                }
            } else {
                let take = match op.input {
                    Input::Set(v) if !observed.contains(&v) => {
                        !std::mem::replace(&mut blind_set, true)
                    }
                    Input::Cas { expected, value } if !observed.contains(&value) => {
                        if blind_cas.contains(&expected) {
                            false
                        } else {
                            blind_cas.push(expected);
                            true
                        }
                    }
                    _ => true,
                };
                if take {
                    unknown.push(e);
                }
            }
            e = list[e].next;
        }
        match write {
            Some(w) => vec![w],
            None => unknown,
        }
    };
    // The op whose return blocks the list's head, if any.
    let blocker = |list: &Vec<Entry>| -> usize {
        let mut e = list[0].next;
        while e != NIL && list[e].is_call {
            e = list[e].next;
        }
        if e == NIL { NIL } else { list[e].op }
    };
    struct Frame {
        cands: Vec<usize>,
        next: usize,
        /// The entry this frame lifted to go deeper, and the state before.
        lifted: Option<(usize, Reg)>,
    }
    let mut cache: HashSet<(Bits, Reg)> = HashSet::new();
    let mut linearized = Bits::new(ops.len());
    let mut state = init;
    let mut stack = vec![Frame {
        cands: candidates(&list, init),
        next: 0,
        lifted: None,
    }];
    let mut steps = 0u64;
    // The deepest point reached, for the explanation.
    let mut best: (usize, usize, Reg) = (0, blocker(&list), init);
    while list[0].next != NIL {
        steps += 1;
        if steps > budget {
            return Verdict::GaveUp;
        }
        let depth = stack.len() - 1;
        let top = stack.last_mut().expect("a frame");
        if top.next < top.cands.len() {
            let e = top.cands[top.next];
            top.next += 1;
            let op = &ops[list[e].op];
            if let Some(next_state) = step(state, op.input, op.outcome) {
                let mut with = linearized.clone();
                with.set(list[e].op);
                if cache.insert((with.clone(), next_state)) {
                    top.lifted = Some((e, state));
                    lift(&mut list, e);
                    state = next_state;
                    linearized = with;
                    stack.push(Frame {
                        cands: candidates(&list, state),
                        next: 0,
                        lifted: None,
                    });
                }
            }
            continue;
        }
        // Nothing more fits here: back up.
        if depth >= best.0 {
            best = (depth, blocker(&list), state);
        }
        stack.pop();
        let Some(parent) = stack.last_mut() else {
            return Verdict::Violation(explain(ops, best));
        };
        let (e, prior) = parent.lifted.take().expect("the parent went deeper");
        unlift(&mut list, e);
        linearized.clear(list[e].op);
        state = prior;
    }
    debug_assert_eq!(linearized.count(), ops.len());
    Verdict::Linearizable
}

fn explain(ops: &[Op], (depth, stuck, state): (usize, usize, Reg)) -> String {
    if stuck == NIL {
        return format!("at most {depth} of {} ops linearize", ops.len());
    }
    let mut s = format!(
        "at most {depth} of {} ops linearize; then no order can place op {}, \
         with the register at value {} version {}. Ops overlapping it:",
        ops.len(),
        ops[stuck],
        state.value,
        state.version
    );
    let stuck_op = &ops[stuck];
    let end = |o: &Op| {
        if o.outcome == Outcome::Unknown {
            u64::MAX
        } else {
            o.ret
        }
    };
    let mut near: Vec<&Op> = ops
        .iter()
        .filter(|o| o.invoke <= end(stuck_op) && end(o) >= stuck_op.invoke.saturating_sub(50))
        .collect();
    near.sort_by_key(|o| o.invoke);
    for o in near.iter().take(20) {
        s.push_str(&format!("\n  {o}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: usize, invoke: u64, ret: u64, input: Input, outcome: Outcome) -> Op {
        Op {
            client,
            key: 0,
            input,
            outcome,
            invoke,
            ret,
        }
    }

    fn read(value: u64, version: i32) -> Outcome {
        Outcome::Read(Reg { value, version })
    }

    fn verdict(history: &[Op]) -> Verdict {
        check_key(history, Reg::default(), DEFAULT_BUDGET)
    }

    /// Checks the history dumped by a fault run (`COORD_FAULT_DUMP`), e.g. to
    /// replay a slow or failing check: `COORD_CHECK_DUMP=/tmp/h cargo nextest
    /// run ... checks_a_dumped_history --run-ignored all`.
    #[test]
    #[ignore = "runs only on a dump named by COORD_CHECK_DUMP"]
    fn checks_a_dumped_history() {
        let path = std::env::var("COORD_CHECK_DUMP").expect("COORD_CHECK_DUMP");
        let text = std::fs::read_to_string(path).expect("read the dump");
        let h: Vec<Op> = text
            .lines()
            .map(|l| Op::from_line(l).expect("a line"))
            .collect();
        let started = std::time::Instant::now();
        let r = check(&h, Reg::default(), DEFAULT_BUDGET);
        eprintln!("{} ops, {:?}: {r:?}", h.len(), started.elapsed());
        assert!(r.ok());
    }

    #[test]
    fn a_dump_line_reads_back_as_the_op() {
        let ops = [
            op(3, 5, 9, Input::Get, read(7, 2)),
            op(0, 1, 2, Input::Set(4), Outcome::Written(1)),
            op(
                1,
                1,
                0,
                Input::Cas {
                    expected: 3,
                    value: 8,
                },
                Outcome::Unknown,
            ),
            op(
                2,
                1,
                4,
                Input::Cas {
                    expected: 0,
                    value: 9,
                },
                Outcome::BadVersion,
            ),
        ];
        for o in ops {
            assert_eq!(Op::from_line(&o.to_line()), Some(o));
        }
    }

    #[test]
    fn sequential_history_that_follows_the_model_passes() {
        let h = [
            op(0, 1, 2, Input::Set(10), Outcome::Written(1)),
            op(1, 3, 4, Input::Get, read(10, 1)),
            op(
                1,
                5,
                6,
                Input::Cas {
                    expected: 1,
                    value: 11,
                },
                Outcome::Written(2),
            ),
            op(
                0,
                7,
                8,
                Input::Cas {
                    expected: 1,
                    value: 12,
                },
                Outcome::BadVersion,
            ),
            op(0, 9, 10, Input::Get, read(11, 2)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn concurrent_ops_may_take_effect_in_either_order() {
        // Two overlapping sets; the reads after them fix the order as B, A.
        let h = [
            op(0, 1, 10, Input::Set(1), Outcome::Written(2)),
            op(1, 2, 9, Input::Set(2), Outcome::Written(1)),
            op(2, 3, 4, Input::Get, read(2, 1)),
            op(2, 11, 12, Input::Get, read(1, 2)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_fails() {
        let h = [
            op(0, 1, 2, Input::Set(1), Outcome::Written(1)),
            op(0, 3, 4, Input::Set(2), Outcome::Written(2)),
            op(1, 5, 6, Input::Get, read(1, 1)),
        ];
        let Verdict::Violation(why) = verdict(&h) else {
            panic!("a stale read passed")
        };
        assert!(why.contains("Get"), "{why}");
    }

    #[test]
    fn a_read_going_back_in_time_between_clients_fails() {
        // B sees the new value, then C (starting after B returned) the old one.
        let h = [
            op(0, 1, 10, Input::Set(1), Outcome::Written(1)),
            op(1, 2, 3, Input::Get, read(1, 1)),
            op(2, 4, 5, Input::Get, read(0, 0)),
        ];
        assert!(matches!(verdict(&h), Verdict::Violation(_)));
    }

    #[test]
    fn two_successful_cas_on_the_same_version_fail() {
        let cas = |value| Input::Cas { expected: 0, value };
        let h = [
            op(0, 1, 4, cas(1), Outcome::Written(1)),
            op(1, 2, 3, cas(2), Outcome::Written(1)),
        ];
        assert!(matches!(verdict(&h), Verdict::Violation(_)));
    }

    #[test]
    fn a_lost_write_fails() {
        // Acknowledged, then a later read shows the register never had it.
        let h = [
            op(0, 1, 2, Input::Set(7), Outcome::Written(1)),
            op(1, 3, 4, Input::Get, read(0, 0)),
        ];
        assert!(matches!(verdict(&h), Verdict::Violation(_)));
    }

    #[test]
    fn a_write_with_unknown_outcome_may_land_late_or_never() {
        let h = [
            op(0, 1, 2, Input::Set(5), Outcome::Unknown),
            op(1, 3, 4, Input::Get, read(0, 0)),
            // It lands long after its client gave up on it.
            op(1, 50, 51, Input::Get, read(5, 1)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
        let never = [
            op(0, 1, 2, Input::Set(5), Outcome::Unknown),
            op(1, 3, 4, Input::Get, read(0, 0)),
        ];
        assert_eq!(verdict(&never), Verdict::Linearizable);
    }

    #[test]
    fn a_write_with_unknown_outcome_cannot_land_before_its_invoke() {
        let h = [
            op(1, 1, 2, Input::Get, read(5, 1)),
            op(0, 3, 4, Input::Set(5), Outcome::Unknown),
        ];
        assert!(matches!(verdict(&h), Verdict::Violation(_)));
    }

    #[test]
    fn a_bad_version_answer_needs_another_version_at_its_point() {
        let h = [
            op(
                0,
                1,
                2,
                Input::Cas {
                    expected: 0,
                    value: 1,
                },
                Outcome::BadVersion,
            ),
            op(1, 3, 4, Input::Get, read(0, 0)),
        ];
        assert!(matches!(verdict(&h), Verdict::Violation(_)));
    }

    #[test]
    fn keys_are_checked_separately_and_unknown_reads_are_dropped() {
        let mut h = vec![
            op(0, 1, 2, Input::Set(1), Outcome::Written(1)),
            op(0, 3, 4, Input::Get, Outcome::Unknown),
        ];
        let mut other = op(1, 1, 2, Input::Get, read(0, 0));
        other.key = 1;
        h.push(other);
        let r = check(&h, Reg::default(), DEFAULT_BUDGET);
        assert!(r.ok(), "{r:?}");
        assert_eq!((r.ops, r.keys), (2, 2));
        // The same read on key 0 is stale.
        let mut stale = op(1, 5, 6, Input::Get, read(0, 0));
        stale.key = 0;
        h.push(stale);
        let r = check(&h, Reg::default(), DEFAULT_BUDGET);
        assert_eq!(r.violations.len(), 1, "{r:?}");
        assert_eq!(r.violations[0].0, 0);
    }

    #[test]
    fn a_long_concurrent_history_is_checked_quickly() {
        // 4 clients, 2000 ops each, pairs overlapping, all consistent: a
        // linear chain of writes with reads between.
        let mut h = Vec::new();
        let mut t = 0;
        let mut version = 0;
        for i in 0..2000u64 {
            let c = (i % 4) as usize;
            version += 1;
            h.push(op(
                c,
                t,
                t + 3,
                Input::Set(i + 1),
                Outcome::Written(version),
            ));
            h.push(op(
                (c + 1) % 4,
                t + 1,
                t + 2,
                Input::Get,
                read(i + 1, version),
            ));
            t += 4;
        }
        let started = std::time::Instant::now();
        assert_eq!(verdict(&h), Verdict::Linearizable);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn many_writes_with_unknown_outcome_do_not_blow_up_the_search() {
        // 40 writes that may or may not have landed, among 2000 known ops:
        // every tenth of them landed (a later read shows its value).
        let mut h = Vec::new();
        let mut t = 0;
        let mut version = 0;
        let mut value = 0;
        for i in 0..40u64 {
            let lands = i % 10 == 0;
            value += 1;
            h.push(op(9, t, 0, Input::Set(value), Outcome::Unknown));
            if lands {
                version += 1;
                h.push(op(1, t + 1, t + 2, Input::Get, read(value, version)));
            }
            for _ in 0..25 {
                t += 4;
                value += 1;
                version += 1;
                h.push(op(
                    2,
                    t,
                    t + 3,
                    Input::Set(value),
                    Outcome::Written(version),
                ));
                h.push(op(3, t + 1, t + 2, Input::Get, read(value, version)));
            }
            t += 4;
        }
        let started = std::time::Instant::now();
        assert_eq!(verdict(&h), Verdict::Linearizable);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // The same with one read that sees a value nobody wrote.
        h.push(op(4, t + 10, t + 11, Input::Get, read(u64::MAX, version)));
        assert!(matches!(verdict(&h), Verdict::Violation(_)));
    }

    /// Linearizable by trying every order (tiny histories only): the plain
    /// definition, without the search's reductions.
    fn brute_force(ops: &[Op]) -> bool {
        fn go(ops: &[Op], placed: &mut Vec<bool>, state: Reg, left: usize) -> bool {
            if left == 0 {
                return true;
            }
            let end = |o: &Op| {
                if o.outcome == Outcome::Unknown {
                    u64::MAX
                } else {
                    o.ret
                }
            };
            for i in 0..ops.len() {
                if placed[i] {
                    continue;
                }
                // Every unplaced op must not have returned before i began.
                let blocked =
                    (0..ops.len()).any(|j| !placed[j] && j != i && end(&ops[j]) < ops[i].invoke);
                if blocked {
                    continue;
                }
                if let Some(next) = step(state, ops[i].input, ops[i].outcome) {
                    placed[i] = true;
                    if go(ops, placed, next, left - 1) {
                        return true;
                    }
                    placed[i] = false;
                }
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], Reg::default(), ops.len())
    }

    #[test]
    fn the_reduced_search_agrees_with_trying_every_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..3000 {
            // A real run: ops applied in some order at random points inside
            // their intervals, then some answers replaced by wrong ones.
            let n = rng.gen_range(1..7);
            let mut state = Reg::default();
            let mut t = 0u64;
            let mut h = Vec::new();
            for c in 0..n {
                let value = c as u64 + 1;
                let input = match rng.gen_range(0..3) {
                    0 => Input::Get,
                    1 => Input::Set(value),
                    _ => Input::Cas {
                        expected: rng.gen_range(0..3),
                        value,
                    },
                };
                let outcome = match input {
                    Input::Get => Outcome::Read(state),
                    Input::Set(_) => Outcome::Written(state.version + 1),
                    Input::Cas { expected, .. } if expected == state.version => {
                        Outcome::Written(expected + 1)
                    }
                    Input::Cas { .. } => Outcome::BadVersion,
                };
                state = step(state, input, outcome).expect("the model's own answer");
                let invoke = t.saturating_sub(rng.gen_range(0..6));
                t += 2;
                let ret = t + rng.gen_range(0..6);
                let mut o = op(c, invoke, ret, input, outcome);
                match rng.gen_range(0..10) {
                    0 => o.outcome = Outcome::Unknown,
                    1 if input == Input::Get => {
                        o.outcome = read(rng.gen_range(0..n as u64 + 1), rng.gen_range(0..4))
                    }
                    2 if input != Input::Get => o.outcome = Outcome::Written(rng.gen_range(1..4)),
                    3 if matches!(input, Input::Cas { .. }) => o.outcome = Outcome::BadVersion,
                    _ => {}
                }
                h.push(o);
            }
            let expected = brute_force(&h);
            let got = verdict(&h);
            assert_eq!(got == Verdict::Linearizable, expected, "{got:?} for {h:#?}");
            if expected { yes += 1 } else { no += 1 }
        }
        assert!(yes > 500 && no > 500, "{yes} linearizable, {no} not");
    }
}
