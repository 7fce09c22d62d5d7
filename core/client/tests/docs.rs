//! The types a user starts from carry a runnable example in their rustdoc
//! (the doc tests run them against a real server): this test keeps it so
//! when a type is added to the list or an example is deleted.

use std::path::Path;

/// (source file under src/, the type's declaration line)
const STARTING_POINTS: &[(&str, &str)] = &[
    ("client/api.rs", "pub struct Client {"),
    ("client/config.rs", "pub struct ClientBuilder {"),
    ("recipes/lock.rs", "pub struct Lock {"),
    ("recipes/rwlock.rs", "pub struct RwLock {"),
    ("recipes/multilock.rs", "pub struct MultiLock {"),
    ("recipes/semaphore.rs", "pub struct Semaphore {"),
    ("recipes/election.rs", "pub struct Election {"),
    ("recipes/group.rs", "pub struct Group;"),
    ("recipes/barrier.rs", "pub struct Barrier {"),
    ("recipes/barrier.rs", "pub struct DoubleBarrier {"),
    ("recipes/queue.rs", "pub struct Queue {"),
    ("recipes/counter.rs", "pub struct Counter {"),
    ("recipes/cache.rs", "pub struct NodeCache {"),
    ("recipes/cache.rs", "pub struct TreeCache {"),
    ("recipes/discovery.rs", "pub struct ServiceDiscovery {"),
];

/// The doc comment and attributes right above `decl` in `source`.
fn doc_above<'a>(source: &'a str, decl: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == decl)
        .unwrap_or_else(|| panic!("`{decl}` not found"));
    let mut doc: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.starts_with("///") || l.starts_with("#["))
        .copied()
        .collect();
    doc.reverse();
    doc
}

#[test]
fn every_starting_type_has_a_runnable_example() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for (file, decl) in STARTING_POINTS {
        let source = std::fs::read_to_string(src.join(file)).expect("source file");
        let doc = doc_above(&source, decl);
        // A fence that is not `ignore`d: `no_run` compiles, plain runs.
        let example = doc
            .iter()
            .any(|l| l.trim_start_matches("///").trim() == "```" || l.contains("```no_run"));
        if !example {
            missing.push(format!("{file}: {decl}"));
        }
    }
    assert!(
        missing.is_empty(),
        "types without an example in their rustdoc: {missing:#?}"
    );
}

#[test]
fn doc_above_stops_at_the_previous_item() {
    let source = "/// other\nfn f() {}\n/// mine\n#[derive(Debug)]\npub struct X {";
    assert_eq!(
        doc_above(source, "pub struct X {"),
        vec!["/// mine", "#[derive(Debug)]"]
    );
}
