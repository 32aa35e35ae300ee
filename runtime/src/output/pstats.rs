//! `profile.pstats`: the call tree as Python's profiler statistics, the file cProfile's
//! `dump_stats` writes, so that `pstats.Stats(path)`, `python -m pstats` and snakeviz read it.
//!
//! The file is one marshalled dict (docs/output-format.md lists the bytes):
//! `{(file, line, name): (cc, nc, tt, ct, {caller: (nc, cc, tt, ct)})}`, one entry per function
//! summed over every node of the tree that calls it, threads and ranks included. Per entry: `nc`
//! calls, `cc` of them not recursive (no caller up the path is the same function), `tt` time
//! spent in the function itself (exclusive), `ct` time including callees, counted at the
//! outermost call of a recursion only, as cProfile does. Callers' tuples hold the same four
//! figures for the calls made from that caller, in the order cProfile writes them; there a call
//! is recursive when the same caller-to-callee pair is already open up the path (cProfile's
//! rule, so `fib` called by `fib` shows `464/2` as it does).
//!
//! Function keys come from region names: `qualname@file:line` (the profiler's names for Python
//! functions) gives `(file, line, qualname)`; `{built-in method len}` (its names for C calls)
//! gives `("~", 0, "<built-in method len>")`, as cProfile keys builtins; any other region (a
//! marker, Rust code) is `("~", 0, name)`.

use crate::log;
use crate::profile::Profile;
use std::collections::HashMap;
use std::io;

/// A function as pstats names it: file, first line, name.
type FunctionKey = (String, u32, String);

/// Calls and times of one function, or of the calls one caller made to it.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct Figures {
    /// Calls not made from inside another call of the same function.
    primitive: u64,
    /// Every call.
    calls: u64,
    /// Time in the function itself, ns. Times add up in integers and become seconds only when
    /// written, so a leaf's own time never exceeds its cumulative time by a rounding.
    own: i128,
    /// Time including callees, ns (outermost calls of a recursion only).
    cumulative: i128,
}

impl Figures {
    fn add(&mut self, laps: u64, own: i128, cumulative: i128, recursive: bool) {
        self.calls += laps;
        self.own += own;
        if !recursive {
            self.primitive += laps;
            self.cumulative += cumulative;
        }
    }
}

/// One function's entry: its figures and, per caller (index into the entries), the calls
/// that caller made.
#[derive(Debug)]
struct Entry {
    key: FunctionKey,
    total: Figures,
    callers: Vec<(usize, Figures)>,
}

/// The function key of a region name (see the module documentation).
fn function_key(name: &str) -> FunctionKey {
    if let Some(inner) = name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
        return ("~".into(), 0, format!("<{inner}>"));
    }
    let python = name.split_once('@').and_then(|(function, place)| {
        let (file, line) = place.rsplit_once(':')?;
        let line: u32 = line.parse().ok()?;
        (!function.is_empty() && !file.is_empty()).then(|| (file.into(), line, function.into()))
    });
    python.unwrap_or_else(|| ("~".into(), 0, name.into()))
}

/// The metric read as time: `wall_clock`, else the first additive one in nanoseconds.
fn time_metric(profile: &Profile) -> Option<&str> {
    let ns = |name: &str| {
        profile
            .metric(name)
            .is_some_and(|m| m.additive && m.unit == "ns")
    };
    if ns("wall_clock") {
        return Some("wall_clock");
    }
    profile
        .metrics
        .iter()
        .find(|m| ns(&m.name))
        .map(|m| m.name.as_str())
}

/// The pstats entries of a profile, in the order the functions first appear (pre-order).
fn entries(profile: &Profile) -> Vec<Entry> {
    let time = time_metric(profile);
    if time.is_none() && !profile.nodes.is_empty() {
        log::warning!(
            "profile.pstats: no time metric (wall_clock, or another additive one in ns) in \
             this profile: call counts only, every time is 0"
        );
    }
    let (_, kids) = profile.children();
    let mut index: HashMap<FunctionKey, usize> = HashMap::new();
    let mut out: Vec<Entry> = Vec::new();
    // Per node: its entry, or None for a node that holds no measurement (a `thread-N` node).
    let mut function_of: Vec<Option<usize>> = vec![None; profile.nodes.len()];
    // How many nodes of each entry, and of each caller-callee pair, are open on the current
    // path (pre-order walk).
    let mut open_count: Vec<u32> = Vec::new();
    let mut open_pairs: HashMap<(usize, usize), u32> = HashMap::new();
    let caller_of = |id: usize, function_of: &[Option<usize>]| {
        profile.nodes[id].parent.and_then(|p| function_of[p])
    };
    let mut path: Vec<usize> = Vec::new();
    for node in &profile.nodes {
        while path.last().is_some_and(|&top| Some(top) != node.parent) {
            let top = path.pop().expect("not empty");
            if let Some(e) = function_of[top] {
                open_count[e] -= 1;
                if let Some(caller) = caller_of(top, &function_of) {
                    *open_pairs.get_mut(&(caller, e)).expect("opened") -= 1;
                }
            }
        }
        path.push(node.id);
        let laps = match time.and_then(|t| node.stats.get(t)) {
            Some(s) => s.laps,
            None => node.stats.values().map(|s| s.laps).max().unwrap_or(0),
        };
        if node.stats.is_empty() {
            continue;
        }
        let sum = |id: usize| {
            time.and_then(|t| profile.nodes[id].stats.get(t))
                .map_or(0, |s| s.sum)
        };
        let inclusive = sum(node.id);
        let exclusive = inclusive - kids[node.id].iter().map(|&k| sum(k)).sum::<i128>();

        let key = function_key(&node.name);
        let e = *index.entry(key.clone()).or_insert_with(|| {
            out.push(Entry {
                key,
                total: Figures::default(),
                callers: Vec::new(),
            });
            open_count.push(0);
            out.len() - 1
        });
        function_of[node.id] = Some(e);
        let recursive = open_count[e] > 0;
        open_count[e] += 1;
        out[e].total.add(laps, exclusive, inclusive, recursive);
        if let Some(caller) = caller_of(node.id, &function_of) {
            let open = open_pairs.entry((caller, e)).or_insert(0);
            let recursive = *open > 0;
            *open += 1;
            let callers = &mut out[e].callers;
            let at = match callers.iter().position(|(c, _)| *c == caller) {
                Some(at) => at,
                None => {
                    callers.push((caller, Figures::default()));
                    callers.len() - 1
                }
            };
            callers[at].1.add(laps, exclusive, inclusive, recursive);
        }
    }
    out
}

fn seconds(ns: i128) -> f64 {
    ns as f64 * 1e-9
}

/// `profile.pstats`: the profile as a marshalled pstats dict (see the module documentation).
pub fn to_pstats(profile: &Profile) -> io::Result<Vec<u8>> {
    let entries = entries(profile);
    let mut m = marshal::Writer::default();
    m.dict_start();
    for entry in &entries {
        m.key(&entry.key);
        let t = entry.total;
        m.tuple(5);
        m.int(t.primitive);
        m.int(t.calls);
        m.float(seconds(t.own));
        m.float(seconds(t.cumulative));
        m.dict_start();
        for (caller, f) in &entry.callers {
            m.key(&entries[*caller].key);
            // cProfile's order for a caller: calls first, then primitive calls.
            m.tuple(4);
            m.int(f.calls);
            m.int(f.primitive);
            m.float(seconds(f.own));
            m.float(seconds(f.cumulative));
        }
        m.dict_end();
    }
    m.dict_end();
    Ok(m.into_bytes())
}

/// The subset of Python's `marshal` format that pstats data needs (any marshal version reads
/// it): dict, tuple, str, int and float.
mod marshal {
    /// Marshal type codes (CPython's Python/marshal.c).
    const DICT: u8 = b'{';
    const NULL: u8 = b'0';
    const TUPLE: u8 = b'(';
    const UNICODE: u8 = b'u';
    const INT: u8 = b'i';
    const LONG: u8 = b'l';
    const BINARY_FLOAT: u8 = b'g';

    #[derive(Default)]
    pub(super) struct Writer(Vec<u8>);

    impl Writer {
        pub(super) fn into_bytes(self) -> Vec<u8> {
            self.0
        }

        /// Starts a dict: key and value objects follow, then [`Writer::dict_end`].
        pub(super) fn dict_start(&mut self) {
            self.0.push(DICT);
        }

        pub(super) fn dict_end(&mut self) {
            self.0.push(NULL);
        }

        /// Starts a tuple of `len` objects, which follow.
        pub(super) fn tuple(&mut self, len: u32) {
            self.0.push(TUPLE);
            self.0.extend_from_slice(&len.to_le_bytes());
        }

        /// A str: its UTF-8 bytes, length first.
        pub(super) fn str(&mut self, text: &str) {
            self.0.push(UNICODE);
            self.0.extend_from_slice(&(text.len() as u32).to_le_bytes());
            self.0.extend_from_slice(text.as_bytes());
        }

        /// A non-negative int: 32-bit when it fits, otherwise a long of 15-bit digits.
        pub(super) fn int(&mut self, value: u64) {
            if let Ok(small) = i32::try_from(value) {
                self.0.push(INT);
                self.0.extend_from_slice(&small.to_le_bytes());
                return;
            }
            let mut digits = Vec::new();
            let mut rest = value;
            while rest > 0 {
                digits.push((rest & 0x7fff) as u16);
                rest >>= 15;
            }
            self.0.push(LONG);
            self.0
                .extend_from_slice(&(digits.len() as i32).to_le_bytes());
            for d in digits {
                self.0.extend_from_slice(&d.to_le_bytes());
            }
        }

        /// A float: the IEEE 754 double, little-endian.
        pub(super) fn float(&mut self, value: f64) {
            self.0.push(BINARY_FLOAT);
            self.0.extend_from_slice(&value.to_le_bytes());
        }

        /// A function key `(file, line, name)`.
        pub(super) fn key(&mut self, key: &super::FunctionKey) {
            self.tuple(3);
            self.str(&key.0);
            self.int(u64::from(key.1));
            self.str(&key.2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;
    use crate::profile::{NodeRecord, Stats};
    use std::collections::BTreeMap;

    #[test]
    fn region_names_become_pstats_keys() {
        let key = |f: &str, l: u32, n: &str| (f.to_string(), l, n.to_string());
        assert_eq!(
            function_key("Solver.run@app.py:12"),
            key("app.py", 12, "Solver.run")
        );
        assert_eq!(
            function_key("<module>@<string>:1"),
            key("<string>", 1, "<module>")
        );
        assert_eq!(
            function_key("{built-in method time.sleep}"),
            key("~", 0, "<built-in method time.sleep>")
        );
        assert_eq!(function_key("solve"), key("~", 0, "solve"));
        assert_eq!(function_key("a@b:c"), key("~", 0, "a@b:c"));
        assert_eq!(function_key("@x.py:3"), key("~", 0, "@x.py:3"));
    }

    fn node(id: usize, parent: Option<usize>, name: &str, laps: &[i64]) -> NodeRecord {
        let mut s = Stats::EMPTY;
        laps.iter().for_each(|&v| s.record(v));
        NodeRecord {
            across_ranks: Default::default(),
            id,
            parent,
            depth: 0,
            name: name.into(),
            thread: None,
            start_ns: None,
            stats: [("wall_clock".to_string(), s)].into(),
            per_rank: BTreeMap::new(),
        }
    }

    #[test]
    fn recursion_counts_primitive_calls_and_outermost_time() {
        // main (10 s) > f (6 s) > f (4 s, 2 laps) > g (1 s); main > g (2 s)
        let mut p = sample::single();
        p.nodes = vec![
            node(0, None, "main@m.py:1", &[10_000_000_000]),
            node(1, Some(0), "f@m.py:5", &[6_000_000_000]),
            node(2, Some(1), "f@m.py:5", &[2_000_000_000, 2_000_000_000]),
            node(3, Some(2), "{built-in method g}", &[1_000_000_000]),
            node(4, Some(0), "{built-in method g}", &[2_000_000_000]),
        ];
        let e = entries(&p);
        assert_eq!(e.len(), 3);
        let f = &e[1];
        assert_eq!(f.key, ("m.py".to_string(), 5, "f".to_string()));
        assert_eq!((f.total.primitive, f.total.calls), (1, 3));
        assert_eq!(f.total.own, 5_000_000_000, "{f:?}"); // 2 + 3
        assert_eq!(f.total.cumulative, 6_000_000_000, "{f:?}");
        // f is called by main once and by itself twice.
        assert_eq!(f.callers.len(), 2);
        assert_eq!((f.callers[0].0, f.callers[0].1.calls), (0, 1));
        assert_eq!((f.callers[1].0, f.callers[1].1.calls), (1, 2));
        // the pair f -> f was not open yet: primitive on the edge, as cProfile counts it
        assert_eq!(f.callers[1].1.primitive, 2);
        assert_eq!(f.callers[1].1.cumulative, 4_000_000_000);
        let g = &e[2];
        assert_eq!(g.key.2, "<built-in method g>");
        assert_eq!((g.total.primitive, g.total.calls), (2, 2));
        assert_eq!(g.total.cumulative, 3_000_000_000);
        assert_eq!(g.callers.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 0]);
    }

    #[test]
    fn thread_nodes_are_no_functions_and_siblings_close_the_path() {
        let mut p = sample::single();
        let mut thread = node(0, None, "thread-0", &[]);
        thread.stats.clear();
        p.nodes = vec![
            thread,
            node(1, Some(0), "f@m.py:5", &[3]),
            node(2, Some(1), "f@m.py:5", &[1]),
            node(3, Some(0), "f@m.py:5", &[3]),
        ];
        let e = entries(&p);
        assert_eq!(e.len(), 1);
        // node 3 is a sibling of node 1, not inside it: a primitive call
        assert_eq!((e[0].total.primitive, e[0].total.calls), (2, 3));
        assert_eq!(e[0].callers.len(), 1, "only itself calls f");
    }

    #[test]
    fn marshal_bytes() {
        let mut m = marshal::Writer::default();
        m.dict_start();
        m.key(&("a.py".into(), 7, "f".into()));
        m.tuple(3);
        m.int(1);
        m.int(1 << 40);
        m.float(0.5);
        m.dict_end();
        let mut want = vec![b'{', b'(', 3, 0, 0, 0, b'u', 4, 0, 0, 0];
        want.extend_from_slice(b"a.py");
        want.extend_from_slice(&[b'i', 7, 0, 0, 0, b'u', 1, 0, 0, 0, b'f']);
        want.extend_from_slice(&[b'(', 3, 0, 0, 0, b'i', 1, 0, 0, 0]);
        // 2^40 in 15-bit digits: 0, 0, 1 << 10
        want.extend_from_slice(&[b'l', 3, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
        want.push(b'g');
        want.extend_from_slice(&0.5f64.to_le_bytes());
        want.push(b'0');
        assert_eq!(m.into_bytes(), want);
    }
}
