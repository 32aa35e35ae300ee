//! CTest DART measurements: lines CDash shows as named values of a test,
//! `<DartMeasurement name="wall_clock/main/solve" type="numeric/double">7</DartMeasurement>`.

use super::derived::{to_display, Deriver};
use crate::profile::Profile;

/// For each metric, the `count` nodes with the largest inclusive sum (ties: earlier node first),
/// named `<metric>/<node names from the top, joined by '/'>`, valued in the display unit.
pub fn dart_lines(profile: &Profile, count: usize) -> Vec<String> {
    let d = Deriver::new(profile);
    let mut lines = Vec::new();
    for m in &profile.metrics {
        let mut ranked: Vec<(i128, usize)> = profile
            .nodes
            .iter()
            .filter_map(|n| Some((n.stats.get(&m.name)?.sum, n.id)))
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (sum, id) in ranked.into_iter().take(count) {
            let name = format!("{}/{}", m.name, d.path(id).join("/"));
            // `{}` of an f64 is its shortest exact decimal, never exponent notation.
            lines.push(format!(
                "<DartMeasurement name=\"{}\" type=\"numeric/double\">{}</DartMeasurement>",
                escape(&name),
                to_display(sum as f64, m.scale)
            ));
        }
    }
    lines
}

/// Escapes what XML forbids inside an attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn largest_nodes_per_metric() {
        let lines = dart_lines(&sample::single(), 2);
        assert_eq!(
            lines,
            [
                r#"<DartMeasurement name="wall_clock/main" type="numeric/double">10</DartMeasurement>"#,
                r#"<DartMeasurement name="wall_clock/main/solve" type="numeric/double">7</DartMeasurement>"#,
                r#"<DartMeasurement name="peak_rss/main/solve" type="numeric/double">140</DartMeasurement>"#,
                r#"<DartMeasurement name="peak_rss/main" type="numeric/double">100</DartMeasurement>"#,
            ]
        );
        assert!(dart_lines(&sample::single(), 0).is_empty());
        assert_eq!(dart_lines(&sample::single(), 99).len(), 4 + 2);
    }

    #[test]
    fn deep_paths_and_escaping() {
        let mut p = sample::multi();
        p.nodes[1].name = "read \"a<b>\" & more".into();
        let lines = dart_lines(&p, 5);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            "<DartMeasurement name=\"wall_clock/main/read &quot;a&lt;b&gt;&quot; &amp; more\" \
             type=\"numeric/double\">4</DartMeasurement>"
        );
    }
}
