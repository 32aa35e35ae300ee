//! Interned region names: regions carry a small id; strings are looked up only when writing.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Id of an interned name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameId(pub u32);

#[derive(Default)]
struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

fn interner() -> &'static RwLock<Interner> {
    static I: OnceLock<RwLock<Interner>> = OnceLock::new();
    I.get_or_init(Default::default)
}

/// The id of `name`, interning it on first use.
pub fn intern(name: &str) -> NameId {
    if let Some(&id) = interner()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .ids
        .get(name)
    {
        return NameId(id);
    }
    let mut w = interner().write().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = w.ids.get(name) {
        return NameId(id);
    }
    let id = w.names.len() as u32;
    let s: Arc<str> = Arc::from(name);
    w.names.push(s.clone());
    w.ids.insert(s, id);
    NameId(id)
}

/// The string of an interned id.
pub fn resolve(id: NameId) -> Arc<str> {
    interner().read().unwrap_or_else(|e| e.into_inner()).names[id.0 as usize].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id() {
        let a = intern("names-test-a");
        assert_eq!(intern("names-test-a"), a);
        assert_ne!(intern("names-test-b"), a);
        assert_eq!(&*resolve(a), "names-test-a");
    }
}
