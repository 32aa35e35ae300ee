//! Base units of collector values and how they are shown to people.

/// The base unit of a metric's integer value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Nanoseconds; shown in seconds.
    Nanoseconds,
    /// Bytes; shown in MiB.
    Bytes,
    /// A plain count (events, faults, switches).
    Count,
    /// Parts per million of a whole; shown in percent.
    PartsPerMillion,
}

impl Unit {
    /// Name of the base unit as stored in outputs (`ns`, `B`, `count`, `ppm`).
    pub fn base(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "ns",
            Unit::Bytes => "B",
            Unit::Count => "count",
            Unit::PartsPerMillion => "ppm",
        }
    }

    /// Unit people read (`s`, `MiB`, empty for counts, `%`).
    pub fn display(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "s",
            Unit::Bytes => "MiB",
            Unit::Count => "",
            Unit::PartsPerMillion => "%",
        }
    }

    /// Factor from the base unit to the display unit.
    pub fn scale(self) -> f64 {
        match self {
            Unit::Nanoseconds => 1e-9,
            Unit::Bytes => 1.0 / (1024.0 * 1024.0),
            Unit::Count => 1.0,
            Unit::PartsPerMillion => 1e-4,
        }
    }

    /// Parses the base unit name written by [`Unit::base`].
    pub fn from_base(name: &str) -> Option<Unit> {
        [
            Unit::Nanoseconds,
            Unit::Bytes,
            Unit::Count,
            Unit::PartsPerMillion,
        ]
        .into_iter()
        .find(|u| u.base() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_round_trip() {
        for u in [
            Unit::Nanoseconds,
            Unit::Bytes,
            Unit::Count,
            Unit::PartsPerMillion,
        ] {
            assert_eq!(Unit::from_base(u.base()), Some(u));
        }
        assert_eq!(Unit::from_base("furlongs"), None);
    }

    #[test]
    fn display_scales() {
        assert_eq!(Unit::Nanoseconds.scale() * 2e9, 2.0);
        assert_eq!(Unit::Bytes.scale() * 1048576.0, 1.0);
        assert_eq!(Unit::PartsPerMillion.scale() * 1e6, 100.0);
    }
}
