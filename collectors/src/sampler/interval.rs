//! The sampling interval, an option declared here because it is the sources' property: how
//! often a level is worth reading.

use crate::OptionInfo;

/// `sampler_interval`: seconds between two samples of the background sources.
pub static INTERVAL: OptionInfo = OptionInfo {
    name: "sampler_interval",
    default: "0.1",
    accepted: "seconds, from 0.001 to 3600 (e.g. 0.1, 2)",
    doc: "Seconds between two samples of the per-rank sampler (setting sampler).",
    check,
};

/// Shortest and longest intervals accepted, in seconds: below a millisecond the sampler would
/// measure itself; above an hour it would say nothing.
const RANGE: (f64, f64) = (0.001, 3600.0);

fn check(text: &str) -> Result<(), String> {
    interval_ns(text).map(|_| ())
}

/// The interval in nanoseconds, or what was expected.
pub fn interval_ns(text: &str) -> Result<i64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if (RANGE.0..=RANGE.1).contains(&s) => Ok((s * 1e9).round() as i64),
        _ => Err(INTERVAL.accepted.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_within_range_only() {
        assert_eq!(interval_ns("0.1"), Ok(100_000_000));
        assert_eq!(interval_ns(" 2 "), Ok(2_000_000_000));
        assert_eq!(interval_ns(INTERVAL.default), Ok(100_000_000));
        for bad in ["0", "-1", "0.0001", "3601", "fast", "", "NaN", "inf"] {
            let e = interval_ns(bad).unwrap_err();
            assert!(e.contains("seconds, from 0.001 to 3600"), "{bad}: {e}");
        }
    }
}
