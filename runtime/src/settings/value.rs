//! How each type a setting can have is read from text and written back as text.
//!
//! The same parser serves environment variables, `set(name, text)` and the defaults written in
//! the table, so all three accept exactly the same spellings.

use std::fmt;

/// The shape of a setting's values, for layers (docs, Python) that convert them to their own types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A boolean.
    Bool,
    /// A non-negative integer that fits in a `u32`.
    Unsigned,
    /// Free text, kept verbatim.
    Text,
    /// A list of names.
    List,
    /// MPI ranks and ranges (`0-3,63`), written as text.
    Ranks,
    /// One of a fixed set of lowercase names (matched ignoring case).
    Choice(&'static [&'static str]),
}

/// A type that a setting can have: how to read it from text and how to write it back.
///
/// `to_text` followed by `parse_text` gives back the same value, and `to_text` is the canonical
/// spelling used for defaults and for `get_text`.
pub trait SettingValue: Sized {
    /// Short type name for the reference table (`bool`, `u32`, ...).
    const TYPE_NAME: &'static str;
    /// The accepted spellings, for the reference table (`ON/OFF, true/false, 1/0, yes/no`).
    const ACCEPTED: &'static str;
    /// What an error message says was expected (`a boolean (ON/OFF, ...)`).
    const EXPECTED: &'static str;
    /// The shape of the values.
    const KIND: Kind;
    /// Reads a value; `None` when the text is not an accepted spelling.
    fn parse_text(text: &str) -> Option<Self>;
    /// The canonical text of the value.
    fn to_text(&self) -> String;
}

impl SettingValue for bool {
    const TYPE_NAME: &'static str = "bool";
    const ACCEPTED: &'static str = "ON/OFF, true/false, 1/0, yes/no";
    const EXPECTED: &'static str = "a boolean (ON/OFF, true/false, 1/0, yes/no)";
    const KIND: Kind = Kind::Bool;

    fn parse_text(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "yes" => Some(true),
            "off" | "false" | "0" | "no" => Some(false),
            _ => None,
        }
    }

    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for u32 {
    const TYPE_NAME: &'static str = "u32";
    const ACCEPTED: &'static str = "an integer from 0 to 4294967295";
    const EXPECTED: &'static str = "an integer from 0 to 4294967295";
    const KIND: Kind = Kind::Unsigned;

    fn parse_text(text: &str) -> Option<Self> {
        let digits = text.trim();
        // Plain decimal digits only: `str::parse` would also take a leading `+`.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for String {
    const TYPE_NAME: &'static str = "string";
    const ACCEPTED: &'static str = "any text (kept verbatim)";
    const EXPECTED: &'static str = "any text";
    const KIND: Kind = Kind::Text;

    fn parse_text(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }

    fn to_text(&self) -> String {
        self.clone()
    }
}

impl SettingValue for Vec<String> {
    const TYPE_NAME: &'static str = "list";
    const ACCEPTED: &'static str = "names separated by commas or whitespace";
    const EXPECTED: &'static str = "names separated by commas or whitespace";
    const KIND: Kind = Kind::List;

    fn parse_text(text: &str) -> Option<Self> {
        Some(
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn to_text(&self) -> String {
        self.join(",")
    }
}

/// A set of MPI ranks written as ranks and inclusive ranges, `0-3,63` (setting `rank_filter`).
/// Empty: no rank.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RankSet {
    /// Disjoint, sorted, non-adjacent inclusive ranges.
    ranges: Vec<(u32, u32)>,
}

impl RankSet {
    /// Whether `rank` is in the set.
    pub fn contains(&self, rank: u32) -> bool {
        // Few ranges in practice; sorted, so a binary search when there are many.
        let i = self.ranges.partition_point(|&(_, hi)| hi < rank);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= rank)
    }

    /// Whether no rank is in the set.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The set of the given inclusive ranges (in any order, overlapping or not).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> RankSet {
        let mut v: Vec<(u32, u32)> = ranges.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        RankSet { ranges: out }
    }
}

impl SettingValue for RankSet {
    const TYPE_NAME: &'static str = "ranks";
    const ACCEPTED: &'static str =
        "MPI ranks and inclusive ranges separated by commas, e.g. 0-3,63; empty: none";
    const EXPECTED: &'static str =
        "MPI ranks and ranges like 0-3,63 (non-negative integers, a range's first rank not above its last)";
    const KIND: Kind = Kind::Ranks;

    fn parse_text(text: &str) -> Option<Self> {
        let number = |t: &str| -> Option<u32> {
            let t = t.trim();
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        };
        let mut ranges = Vec::new();
        for item in text.split(|c: char| c == ',' || c.is_whitespace()) {
            if item.is_empty() {
                continue;
            }
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(item)?, number(item)?),
            };
            if lo > hi {
                return None;
            }
            ranges.push((lo, hi));
        }
        Some(RankSet::from_ranges(ranges))
    }

    fn to_text(&self) -> String {
        self.ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The thread support level rankscope asks for when it initialises MPI itself
/// (`MPI_Init_thread`'s `required` argument).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MpiThread {
    /// `MPI_THREAD_SINGLE`: only one thread in the process.
    Single,
    /// `MPI_THREAD_FUNNELED`: only the main thread calls MPI.
    Funneled,
    /// `MPI_THREAD_SERIALIZED`: any thread calls MPI, one at a time.
    Serialized,
    /// `MPI_THREAD_MULTIPLE`: any thread calls MPI at any time.
    #[default]
    Multiple,
}

impl MpiThread {
    /// Every level, from least to most thread support.
    pub const ALL: [MpiThread; 4] = [
        MpiThread::Single,
        MpiThread::Funneled,
        MpiThread::Serialized,
        MpiThread::Multiple,
    ];

    /// The lowercase name used in settings (`multiple`).
    pub fn as_str(self) -> &'static str {
        MPI_THREAD_NAMES[self as usize]
    }
}

const MPI_THREAD_NAMES: &[&str] = &["single", "funneled", "serialized", "multiple"];

impl fmt::Display for MpiThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SettingValue for MpiThread {
    const TYPE_NAME: &'static str = "choice";
    const ACCEPTED: &'static str = "single, funneled, serialized, multiple";
    const EXPECTED: &'static str = "one of single, funneled, serialized, multiple (any case)";
    const KIND: Kind = Kind::Choice(MPI_THREAD_NAMES);

    /// Also accepts the MPI constant's spelling, `MPI_THREAD_FUNNELED`.
    fn parse_text(text: &str) -> Option<Self> {
        let lower = text.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("mpi_thread_").unwrap_or(&lower);
        MpiThread::ALL
            .into_iter()
            .find(|level| level.as_str() == name)
    }

    fn to_text(&self) -> String {
        self.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_sets_read_ranks_and_ranges() {
        let s = RankSet::parse_text("63, 0-3,2-5 9").unwrap();
        assert_eq!(s.to_text(), "0-5,9,63");
        for r in [0, 3, 5, 9, 63] {
            assert!(s.contains(r), "{r}");
        }
        for r in [6, 8, 10, 62, 64] {
            assert!(!s.contains(r), "{r}");
        }
        assert!(RankSet::parse_text("").unwrap().is_empty());
        for bad in ["3-1", "a", "-1", "1-", "1.5", "0-3;5"] {
            assert_eq!(RankSet::parse_text(bad), None, "{bad}");
        }
        let again = RankSet::parse_text(&s.to_text()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn booleans_accept_the_documented_spellings() {
        for text in [
            "ON", "on", "On", "true", "TRUE", "1", "yes", "YES", "  on\t", "\nTrue ",
        ] {
            assert_eq!(bool::parse_text(text), Some(true), "{text:?}");
        }
        for text in ["OFF", "off", "false", "False", "0", "no", "NO", " off "] {
            assert_eq!(bool::parse_text(text), Some(false), "{text:?}");
        }
    }

    #[test]
    fn booleans_reject_everything_else() {
        for text in [
            "",
            " ",
            "maybe",
            "2",
            "-1",
            "y",
            "n",
            "t",
            "f",
            "o",
            "onn",
            "10",
            "true false",
        ] {
            assert_eq!(bool::parse_text(text), None, "{text:?}");
        }
    }

    #[test]
    fn integers_accept_the_whole_u32_range() {
        assert_eq!(u32::parse_text("0"), Some(0));
        assert_eq!(u32::parse_text(" 42 "), Some(42));
        assert_eq!(u32::parse_text("007"), Some(7));
        assert_eq!(u32::parse_text("4294967295"), Some(u32::MAX));
    }

    #[test]
    fn integers_reject_junk_and_out_of_range() {
        for text in [
            "",
            "abc",
            "12abc",
            "1.5",
            "1e3",
            "-1",
            "4294967296",
            "99999999999999",
            "0x10",
            "1 2",
            "+7",
            "٣",
        ] {
            assert_eq!(u32::parse_text(text), None, "{text:?}");
        }
    }

    #[test]
    fn strings_are_kept_verbatim() {
        for text in ["", " spaced out ", "a,b", "dir/sub"] {
            assert_eq!(String::parse_text(text).as_deref(), Some(text));
        }
    }

    #[test]
    fn lists_split_on_commas_and_whitespace() {
        let parse = |text| Vec::<String>::parse_text(text).unwrap();
        assert_eq!(parse("wall_clock,peak_rss"), ["wall_clock", "peak_rss"]);
        assert_eq!(
            parse(" wall_clock  peak_rss\tcpu_clock "),
            ["wall_clock", "peak_rss", "cpu_clock"]
        );
        assert_eq!(parse("a, b,,c ,"), ["a", "b", "c"]);
        assert!(parse("").is_empty());
        assert!(parse(" , ").is_empty());
        assert_eq!(parse("a b").to_text(), "a,b");
    }

    #[test]
    fn mpi_thread_levels_ignore_case() {
        assert_eq!(MpiThread::parse_text("single"), Some(MpiThread::Single));
        assert_eq!(MpiThread::parse_text("FUNNELED"), Some(MpiThread::Funneled));
        assert_eq!(
            MpiThread::parse_text(" Serialized "),
            Some(MpiThread::Serialized)
        );
        assert_eq!(
            MpiThread::parse_text("MPI_THREAD_MULTIPLE"),
            Some(MpiThread::Multiple)
        );
        for text in [
            "",
            "multi",
            "funneling",
            "3",
            "mpi_thread_",
            "thread_single",
        ] {
            assert_eq!(MpiThread::parse_text(text), None, "{text:?}");
        }
    }

    #[test]
    fn mpi_thread_names_match_the_accepted_text() {
        assert_eq!(MPI_THREAD_NAMES.join(", "), MpiThread::ACCEPTED);
        for level in MpiThread::ALL {
            assert_eq!(MpiThread::parse_text(&level.to_text()), Some(level));
            assert_eq!(level.to_string(), level.as_str());
        }
    }

    #[test]
    fn canonical_text_round_trips() {
        for value in [true, false] {
            assert_eq!(bool::parse_text(&value.to_text()), Some(value));
        }
        for value in [0, 1, 65535, u32::MAX] {
            assert_eq!(u32::parse_text(&value.to_text()), Some(value));
        }
        let list = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(Vec::<String>::parse_text(&list.to_text()), Some(list));
    }
}
