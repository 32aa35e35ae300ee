//! Helpers shared by the storage tests: find nodes of a profile by their path of names.

use rankscope::profile::{NodeRecord, Profile, Stats};

/// The path of names from the top to `id`, joined by '/'.
pub fn path(p: &Profile, id: usize) -> String {
    let mut names = vec![p.nodes[id].name.clone()];
    let mut at = p.nodes[id].parent;
    while let Some(i) = at {
        names.push(p.nodes[i].name.clone());
        at = p.nodes[i].parent;
    }
    names.reverse();
    names.join("/")
}

/// Every node whose path is `want`.
pub fn nodes<'a>(p: &'a Profile, want: &str) -> Vec<&'a NodeRecord> {
    p.nodes.iter().filter(|n| path(p, n.id) == want).collect()
}

/// The wall-clock statistics of the one node at `want`.
pub fn wall(p: &Profile, want: &str) -> Stats {
    let found = nodes(p, want);
    assert_eq!(
        found.len(),
        1,
        "expected one node at {want}, paths: {:?}",
        paths(p)
    );
    found[0].stats["wall_clock"]
}

/// All paths, for failure messages.
pub fn paths(p: &Profile) -> Vec<String> {
    (0..p.nodes.len()).map(|i| path(p, i)).collect()
}
