//! The per-host cache of measured ceilings, so that later runs reuse them (`--refresh`
//! measures again). By default one file per host,
//! `$XDG_CACHE_HOME/rankscope/ceilings-<host>.json` (`~/.cache/...` when unset), each a
//! ceilings document holding that host; `--cache FILE` names one document for every host.

use super::format::{Ceilings, HostCeilings};
use std::path::{Path, PathBuf};

/// The default cache file of `host`; `None` when neither `XDG_CACHE_HOME` nor `HOME` is set.
pub fn default_path(host: &str) -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    // A host name is one path component; anything else in it would escape the folder.
    let safe: String = host
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    Some(base.join("rankscope").join(format!("ceilings-{safe}.json")))
}

/// `host`'s entry in the cache file at `path`: `None` when the file or the entry does not
/// exist; an error naming the file when it cannot be read or is not a ceilings document.
pub fn read_host(path: &Path, host: &str) -> Result<Option<HostCeilings>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("ceilings cache {}: {e}", path.display())),
    };
    let doc = Ceilings::parse(&text).map_err(|e| {
        format!(
            "ceilings cache {}: {e}; remove it (it is then measured again) or name another \
             file with --cache",
            path.display()
        )
    })?;
    Ok(doc.host(host).cloned())
}

/// Whether a cached entry answers a request: a full sweep answers both kinds, a quick one only
/// quick requests.
pub fn answers(cached: &HostCeilings, quick: bool) -> bool {
    quick || !cached.quick
}

/// Writes `hosts` into the document at `path` (creating folders), replacing the entries of the
/// same hosts and keeping the others when the file already holds a valid document.
pub fn write_hosts(path: &Path, hosts: &[HostCeilings]) -> Result<(), String> {
    let named = |e: std::io::Error| format!("writing the ceilings cache {}: {e}", path.display());
    // A file that is not a ceilings document (a mistyped --cache) is never overwritten.
    let mut doc = match std::fs::read_to_string(path) {
        Ok(text) => Ceilings::parse(&text)
            .map_err(|e| format!("ceilings cache {}: {e}; not overwritten", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ceilings::new(Vec::new()),
        Err(e) => return Err(named(e)),
    };
    doc.hosts
        .retain(|old| !hosts.iter().any(|new| new.host == old.host));
    doc.hosts.extend(hosts.iter().cloned());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(named)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("ceilings cache {}: not a file name", path.display()))?;
    crate::output::write_atomic(&dir, name, doc.to_json().as_bytes()).map_err(named)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::format::tests::sample_host;
    use super::*;

    #[test]
    fn write_read_and_merge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("c.json");
        assert_eq!(read_host(&path, "a").unwrap(), None);
        write_hosts(&path, &[sample_host("a", false), sample_host("b", false)]).unwrap();
        let mut newer = sample_host("a", true);
        newer.threads = 9;
        write_hosts(&path, &[newer.clone()]).unwrap();
        assert_eq!(read_host(&path, "a").unwrap(), Some(newer));
        assert_eq!(
            read_host(&path, "b").unwrap(),
            Some(sample_host("b", false))
        );
        assert_eq!(read_host(&path, "c").unwrap(), None);
    }

    #[test]
    fn a_bad_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, "{\"not\": \"ceilings\"}").unwrap();
        let e = read_host(&path, "a").unwrap_err();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("remove it"),
            "{e}"
        );
        assert!(e.contains("rankscope-ceilings/1"), "{e}");
        // Nor is it overwritten.
        let e = write_hosts(&path, &[sample_host("a", false)]).unwrap_err();
        assert!(e.contains("not overwritten"), "{e}");
        let kept = std::fs::read_to_string(&path).unwrap();
        assert_eq!(kept, "{\"not\": \"ceilings\"}");
    }

    #[test]
    fn quick_entries_answer_only_quick_requests() {
        assert!(answers(&sample_host("a", false), false));
        assert!(answers(&sample_host("a", false), true));
        assert!(answers(&sample_host("a", true), true));
        assert!(!answers(&sample_host("a", true), false));
    }

    #[test]
    fn default_path_is_one_file_per_host() {
        let p = default_path("node/01").unwrap();
        assert!(p.ends_with("rankscope/ceilings-node_01.json"), "{p:?}");
    }
}
