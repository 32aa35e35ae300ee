//! The text report of one profiled block of this process: what the IPython magic
//! `%rankscope_profile` prints inline, with the runtime's own text report (settings
//! `precision`, `width`, `scientific`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rankscope::profile::Profile;

/// The subtree of the last node named `root`, as a profile of its own (root at depth 0, no run
/// metadata, only the metrics it holds); None when no node has that name.
fn subtree(profile: &Profile, root: &str) -> Option<Profile> {
    let start = profile.nodes.iter().rposition(|n| n.name == root)?;
    let base = profile.nodes[start].depth;
    let end = profile.nodes[start + 1..]
        .iter()
        .position(|n| n.depth <= base)
        .map_or(profile.nodes.len(), |i| start + 1 + i);
    let mut out = Profile {
        schema: profile.schema.clone(),
        metrics: profile.metrics.clone(),
        ranks: profile.ranks.clone(),
        ..Default::default()
    };
    for n in &profile.nodes[start..end] {
        let mut n = n.clone();
        n.id -= start;
        n.parent = n.parent.filter(|&p| p >= start).map(|p| p - start);
        n.depth -= base;
        out.nodes.push(n);
    }
    // Only the metrics measured in the subtree: others would be empty sections.
    out.metrics
        .retain(|m| out.nodes.iter().any(|n| n.stats.contains_key(&m.name)));
    Some(out)
}

/// The text report of the calls under the region `root` (a `profile` block's key) in this
/// process; ValueError when no such region was recorded.
#[pyfunction]
fn profile_report(py: Python<'_>, root: &str) -> PyResult<String> {
    let profile = py.detach(rankscope::lifecycle::get);
    let sub = subtree(&profile, root)
        .ok_or_else(|| PyValueError::new_err(format!("no region named {root:?} was recorded")))?;
    let options = rankscope::lifecycle::output_options(&rankscope::settings::current()).text;
    Ok(rankscope::output::text_report(&sub, &options))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(profile_report, m)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rankscope::profile::NodeRecord;

    fn node(id: usize, parent: Option<usize>, depth: u32, name: &str) -> NodeRecord {
        NodeRecord {
            across_ranks: Default::default(),
            id,
            parent,
            depth,
            name: name.into(),
            thread: None,
            start_ns: None,
            stats: Default::default(),
            per_rank: Default::default(),
        }
    }

    #[test]
    fn the_subtree_of_the_last_node_so_named() {
        let mut p = Profile::new();
        p.nodes = vec![
            node(0, None, 0, "main"),
            node(1, Some(0), 1, "block"),
            node(2, Some(1), 2, "f"),
            node(3, Some(2), 3, "g"),
            node(4, Some(1), 2, "h"),
            node(5, Some(0), 1, "after"),
        ];
        let sub = subtree(&p, "block").unwrap();
        let shape: Vec<_> = sub
            .nodes
            .iter()
            .map(|n| (n.id, n.parent, n.depth, n.name.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                (0, None, 0, "block"),
                (1, Some(0), 1, "f"),
                (2, Some(1), 2, "g"),
                (3, Some(0), 1, "h")
            ]
        );
        assert_eq!(subtree(&p, "after").unwrap().nodes.len(), 1);
        assert!(subtree(&p, "missing").is_none());
    }
}
