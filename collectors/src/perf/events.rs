//! perf_event events by name: the table of named events (with perf's spellings as aliases) and
//! raw codes (`r01c7`), parsed into what `perf_event_open` needs.

/// The `type` field of `perf_event_attr` (include/uapi/linux/perf_event.h).
pub(crate) const TYPE_HARDWARE: u32 = 0;
pub(crate) const TYPE_SOFTWARE: u32 = 1;
pub(crate) const TYPE_HW_CACHE: u32 = 3;
pub(crate) const TYPE_RAW: u32 = 4;

/// A hardware cache event's config: cache id | operation << 8 | result << 16.
const fn cache(id: u64, op: u64, result: u64) -> u64 {
    id | (op << 8) | (result << 16)
}
const L1D: u64 = 0;
const LL: u64 = 2;
const DTLB: u64 = 3;
const READ: u64 = 0;
const ACCESS: u64 = 0;
const MISS: u64 = 1;

/// What the kernel is asked to count: `perf_event_attr.type` and `.config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Spec {
    pub type_: u32,
    pub config: u64,
}

impl Spec {
    /// Counted by the CPU's PMU (hardware, cache and raw events), so possibly multiplexed and
    /// unavailable without a PMU; software events are counted by the kernel itself.
    pub fn needs_pmu(self) -> bool {
        self.type_ != TYPE_SOFTWARE
    }
}

/// How a count is read by people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Events.
    Count,
    /// Nanoseconds (task-clock, cpu-clock).
    Time,
}

/// A named event.
#[derive(Debug)]
pub(crate) struct EventDef {
    /// snake_case name (`cycles`), also the metric's last part (`perf.cycles`).
    pub name: &'static str,
    /// perf's spellings (`cpu-cycles`), accepted wherever an event is named.
    pub aliases: &'static [&'static str],
    pub spec: Spec,
    pub measure: Measure,
    /// Happens in the kernel only (context switches, migrations): counting it needs kernel
    /// counting allowed (perf_event_paranoid 1 or lower, or CAP_PERFMON).
    pub kernel_only: bool,
    pub description: &'static str,
}

macro_rules! event {
    ($name:literal, [$($alias:literal),*], $type_:expr, $config:expr, $measure:ident, $kernel:literal, $doc:literal) => {
        EventDef {
            name: $name,
            aliases: &[$($alias),*],
            spec: Spec { type_: $type_, config: $config },
            measure: Measure::$measure,
            kernel_only: $kernel,
            description: $doc,
        }
    };
}

/// Every named event, as a constant (its fields are read in the built-in collectors'
/// declarations). The order is the order of the built-in collectors (`perf_<name>`).
pub(crate) const EVENT_TABLE: [EventDef; 22] = [
    event!(
        "cycles",
        ["cpu-cycles"],
        TYPE_HARDWARE,
        0,
        Count,
        false,
        "CPU cycles (hardware)"
    ),
    event!(
        "instructions",
        [],
        TYPE_HARDWARE,
        1,
        Count,
        false,
        "instructions retired (hardware)"
    ),
    event!(
        "cache_references",
        ["cache-references"],
        TYPE_HARDWARE,
        2,
        Count,
        false,
        "cache accesses, usually last-level cache (hardware)"
    ),
    event!(
        "cache_misses",
        ["cache-misses"],
        TYPE_HARDWARE,
        3,
        Count,
        false,
        "cache misses, usually last-level cache (hardware)"
    ),
    event!(
        "branches",
        ["branch-instructions"],
        TYPE_HARDWARE,
        4,
        Count,
        false,
        "branch instructions retired (hardware)"
    ),
    event!(
        "branch_misses",
        ["branch-misses"],
        TYPE_HARDWARE,
        5,
        Count,
        false,
        "mispredicted branches (hardware)"
    ),
    event!(
        "bus_cycles",
        ["bus-cycles"],
        TYPE_HARDWARE,
        6,
        Count,
        false,
        "bus cycles (hardware)"
    ),
    event!(
        "stalled_cycles_frontend",
        ["stalled-cycles-frontend", "idle-cycles-frontend"],
        TYPE_HARDWARE,
        7,
        Count,
        false,
        "cycles the front end issued nothing (hardware)"
    ),
    event!(
        "stalled_cycles_backend",
        ["stalled-cycles-backend", "idle-cycles-backend"],
        TYPE_HARDWARE,
        8,
        Count,
        false,
        "cycles the back end retired nothing (hardware)"
    ),
    event!(
        "ref_cycles",
        ["ref-cycles"],
        TYPE_HARDWARE,
        9,
        Count,
        false,
        "reference cycles at a constant rate, unaffected by frequency scaling (hardware)"
    ),
    event!(
        "l1d_loads",
        ["L1-dcache-loads"],
        TYPE_HW_CACHE,
        cache(L1D, READ, ACCESS),
        Count,
        false,
        "level-1 data cache loads (hardware cache event)"
    ),
    event!(
        "l1d_load_misses",
        ["L1-dcache-load-misses"],
        TYPE_HW_CACHE,
        cache(L1D, READ, MISS),
        Count,
        false,
        "level-1 data cache load misses (hardware cache event)"
    ),
    event!(
        "llc_loads",
        ["LLC-loads"],
        TYPE_HW_CACHE,
        cache(LL, READ, ACCESS),
        Count,
        false,
        "last-level cache loads (hardware cache event)"
    ),
    event!(
        "llc_load_misses",
        ["LLC-load-misses"],
        TYPE_HW_CACHE,
        cache(LL, READ, MISS),
        Count,
        false,
        "last-level cache load misses (hardware cache event)"
    ),
    event!(
        "dtlb_load_misses",
        ["dTLB-load-misses"],
        TYPE_HW_CACHE,
        cache(DTLB, READ, MISS),
        Count,
        false,
        "data TLB load misses (hardware cache event)"
    ),
    event!(
        "task_clock",
        ["task-clock"],
        TYPE_SOFTWARE,
        1,
        Time,
        false,
        "CPU time of the thread, kernel-timed (software)"
    ),
    event!(
        "cpu_clock",
        ["cpu-clock"],
        TYPE_SOFTWARE,
        0,
        Time,
        false,
        "CPU clock of the thread, kernel-timed (software)"
    ),
    event!(
        "page_faults",
        ["page-faults", "faults"],
        TYPE_SOFTWARE,
        2,
        Count,
        false,
        "page faults, minor and major (software)"
    ),
    event!(
        "minor_faults",
        ["minor-faults"],
        TYPE_SOFTWARE,
        5,
        Count,
        false,
        "minor page faults: no disk access (software)"
    ),
    event!(
        "major_faults",
        ["major-faults"],
        TYPE_SOFTWARE,
        6,
        Count,
        false,
        "major page faults: the page came from disk (software)"
    ),
    event!(
        "context_switches",
        ["context-switches", "cs"],
        TYPE_SOFTWARE,
        3,
        Count,
        true,
        "context switches of the thread (software)"
    ),
    event!(
        "cpu_migrations",
        ["cpu-migrations", "migrations"],
        TYPE_SOFTWARE,
        4,
        Count,
        true,
        "moves of the thread to another CPU (software)"
    ),
];

/// Every named event, at one address (what [`Event::Named`] points to).
pub(crate) static EVENTS: [EventDef; 22] = EVENT_TABLE;

/// An event a user named: one of [`EVENTS`] or a raw code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Named(&'static EventDef),
    /// `rNNNN`: a raw PMU event code (event | umask << 8 on x86), as perf writes it.
    Raw(u64),
}

impl PartialEq for EventDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for EventDef {}

impl Event {
    pub fn spec(self) -> Spec {
        match self {
            Event::Named(d) => d.spec,
            Event::Raw(config) => Spec {
                type_: TYPE_RAW,
                config,
            },
        }
    }

    /// The name used in metric names: the event's snake_case name, or `r` and the code in
    /// lowercase hex, at least four digits (`r01c7`).
    pub fn name(self) -> String {
        match self {
            Event::Named(d) => d.name.to_string(),
            Event::Raw(config) => format!("r{config:04x}"),
        }
    }

    pub fn measure(self) -> Measure {
        match self {
            Event::Named(d) => d.measure,
            Event::Raw(_) => Measure::Count,
        }
    }

    pub fn kernel_only(self) -> bool {
        matches!(self, Event::Named(d) if d.kernel_only)
    }

    pub fn description(self) -> String {
        match self {
            Event::Named(d) => d.description.to_string(),
            Event::Raw(config) => format!("raw PMU event 0x{config:x} (hardware)"),
        }
    }
}

/// Lowercase without `_` and `-`: `L1-dcache-loads`, `l1_dcache_loads` and `L1DcacheLoads`
/// are one name.
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Parses one event name: a name of [`EVENTS`] or one of perf's spellings (case, `_` and `-`
/// ignored), or a raw code `rNNNN` (1 to 16 hex digits). The error lists the valid names.
pub(crate) fn parse(name: &str) -> Result<Event, String> {
    let text = name.trim();
    let k = key(text);
    if let Some(d) = EVENTS
        .iter()
        .find(|d| key(d.name) == k || d.aliases.iter().any(|a| key(a) == k))
    {
        return Ok(Event::Named(d));
    }
    if let Some(hex) = text.strip_prefix(['r', 'R']) {
        if !hex.is_empty() && hex.len() <= 16 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Event::Raw(
                u64::from_str_radix(hex, 16).expect("checked hex"),
            ));
        }
    }
    Err(format!(
        "unknown perf event '{text}'; valid events: {}, or a raw code rNNNN (hex, as perf \
         writes it: r01c7)",
        valid_names()
    ))
}

/// Every event name with its perf spellings in parentheses.
pub(crate) fn valid_names() -> String {
    EVENTS
        .iter()
        .map(|d| {
            let other: Vec<&str> = d
                .aliases
                .iter()
                .copied()
                .filter(|a| key(a) != key(d.name))
                .collect();
            if other.is_empty() {
                d.name.to_string()
            } else {
                format!("{} ({})", d.name, other.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a comma-separated list (`cycles,instructions,r01c7`): every name valid, none twice,
/// at least one.
pub(crate) fn parse_list(text: &str) -> Result<Vec<Event>, String> {
    let mut events: Vec<Event> = Vec::new();
    for item in text.split(',') {
        if item.trim().is_empty() {
            return Err(format!("empty event name in '{text}'"));
        }
        let e = parse(item)?;
        if events.iter().any(|x| x.spec() == e.spec()) {
            return Err(format!("event '{}' is listed twice", item.trim()));
        }
        events.push(e);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_raw_codes() {
        assert_eq!(parse("cycles").unwrap().name(), "cycles");
        assert_eq!(parse("cpu-cycles").unwrap().name(), "cycles");
        assert_eq!(parse("CPU_Cycles").unwrap().name(), "cycles");
        assert_eq!(
            parse("L1-dcache-load-misses").unwrap().name(),
            "l1d_load_misses"
        );
        assert_eq!(parse(" cs ").unwrap().name(), "context_switches");
        assert_eq!(parse("task-clock").unwrap().measure(), Measure::Time);
        assert_eq!(parse("r01c7").unwrap(), Event::Raw(0x01c7));
        assert_eq!(parse("r01c7").unwrap().name(), "r01c7");
        assert_eq!(
            parse("R1A8").unwrap().spec(),
            Spec {
                type_: TYPE_RAW,
                config: 0x1a8
            }
        );
        let hw = parse("LLC-loads").unwrap().spec();
        assert_eq!((hw.type_, hw.config), (TYPE_HW_CACHE, 2));
        assert!(!parse("page-faults").unwrap().spec().needs_pmu());
        assert!(parse("instructions").unwrap().spec().needs_pmu());
    }

    #[test]
    fn errors_list_the_valid_names() {
        for bad in ["cycle", "r", "rxyz", "r12345678901234567", "r-1"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(&format!("unknown perf event '{bad}'")), "{e}");
            assert!(
                e.contains("valid events: cycles (cpu-cycles), instructions"),
                "{e}"
            );
            assert!(e.contains("rNNNN"), "{e}");
        }
        assert!(parse_list("cycles,,instructions")
            .unwrap_err()
            .contains("empty event name"));
        assert!(parse_list("cycles,cpu-cycles")
            .unwrap_err()
            .contains("listed twice"));
        assert!(parse_list("cycles,bogus").unwrap_err().contains("'bogus'"));
        let ok = parse_list("cycles, instructions,r01c7").unwrap();
        assert_eq!(ok.len(), 3);
    }

    #[test]
    fn table_names_are_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in &EVENTS {
            assert!(d
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            // perf's spelling may differ from the name only by dashes: one key per event.
            let own: std::collections::HashSet<String> = std::iter::once(d.name)
                .chain(d.aliases.iter().copied())
                .map(key)
                .collect();
            for k in &own {
                assert!(seen.insert(k.clone()), "{k} names two events");
            }
            for n in std::iter::once(d.name).chain(d.aliases.iter().copied()) {
                // No name could be read as a raw code.
                assert!(parse(n) == Ok(Event::Named(d)), "{n}");
            }
        }
    }
}
