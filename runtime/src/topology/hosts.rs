//! One machine summary per host in the run metadata, under `topology.<host>`.

use crate::profile::Profile;
use rankscope_collectors::topology::{machine, MachineSummary};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Metadata keys holding a host's machine summary start with this; the host name follows.
pub const METADATA_PREFIX: &str = "topology.";

/// This host's metadata entry: `topology.<host>` and its machine summary, or
/// `{"error": reason}` when hwloc could not describe the machine.
pub fn host_entry() -> (String, Value) {
    let value = match machine() {
        // A summary holds only strings, integers and lists: it always has a JSON form.
        Ok(m) => serde_json::to_value(m).unwrap_or(Value::Null),
        Err(reason) => json!({ "error": reason }),
    };
    (
        format!("{METADATA_PREFIX}{}", crate::mpi::hostname()),
        value,
    )
}

/// What a profile says about one host's machine.
#[derive(Clone, Debug, PartialEq)]
pub enum HostTopology {
    /// The machine summary.
    Known(MachineSummary),
    /// Why there is none (hwloc failed on that host, or the entry cannot be read).
    Failed(String),
}

impl HostTopology {
    /// The summary, when known.
    pub fn summary(&self) -> Option<&MachineSummary> {
        match self {
            HostTopology::Known(m) => Some(m),
            HostTopology::Failed(_) => None,
        }
    }
}

/// Every host's topology in `p`'s metadata, by host name.
pub fn host_topologies(p: &Profile) -> BTreeMap<String, HostTopology> {
    p.metadata
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(METADATA_PREFIX)?.to_string(), read(v))))
        .collect()
}

fn read(v: &Value) -> HostTopology {
    if let Some(reason) = v.get("error").and_then(Value::as_str) {
        return HostTopology::Failed(reason.to_string());
    }
    match serde_json::from_value::<MachineSummary>(v.clone()) {
        Ok(m) => HostTopology::Known(m),
        Err(e) => HostTopology::Failed(format!("unreadable machine summary: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_reads_back_under_this_host() {
        let (key, value) = host_entry();
        let mut p = Profile::new();
        p.metadata.insert(key, value);
        p.metadata.insert(
            "topology.elsewhere".into(),
            json!({"error": "no hwloc there"}),
        );
        p.metadata.insert("settings".into(), json!({}));
        let hosts = host_topologies(&p);
        assert_eq!(hosts.len(), 2);
        let here = &hosts[&crate::mpi::hostname()];
        assert_eq!(here.summary(), machine().ok().as_ref());
        assert_eq!(
            hosts["elsewhere"],
            HostTopology::Failed("no hwloc there".into())
        );
    }
}
