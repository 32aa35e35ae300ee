//! `rankscope components`: every collector, its metrics, whether it works here, and what it
//! measured over a short reference workload.

use rankscope::collectors::{self, Availability};

/// The reference work measured by every available collector for the listing: about 20 ms of
/// arithmetic, 8 MiB touched, 64 KiB written to /dev/null.
fn reference_work() -> Vec<u8> {
    let start = std::time::Instant::now();
    let mut x = 0.0f64;
    while start.elapsed() < std::time::Duration::from_millis(20) {
        x = std::hint::black_box(x + 1.0).sqrt();
    }
    let v = std::hint::black_box(vec![1u8; 8 << 20]);
    std::hint::black_box(v.iter().map(|&b| b as u64).sum::<u64>());
    if let Ok(mut null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = std::io::Write::write_all(&mut null, &[0u8; 64 << 10]);
    }
    v
}

/// Each available collector's values over [`reference_work`], by collector name.
fn reference_values() -> std::collections::HashMap<&'static str, Vec<f64>> {
    let mut measuring: Vec<_> = collectors::all()
        .iter()
        .filter(|c| c.probe().is_available())
        .filter_map(|c| rankscope::component::Component::new(c.name(), "reference").ok())
        .collect();
    measuring.iter_mut().for_each(|c| c.start());
    let touched = reference_work();
    measuring.iter_mut().rev().for_each(|c| c.stop());
    drop(touched);
    measuring
        .iter()
        .map(|c| {
            let values = c.values().into_iter().zip(c.metrics());
            let shown = values.map(|(v, m)| v as f64 * m.unit.scale()).collect();
            (c.kind(), shown)
        })
        .collect()
}

/// The `components` listing: one block per collector, with what it measured here over a short
/// reference workload.
pub fn listing() -> String {
    // Collectors made from settings (RANKSCOPE_PERF_EVENTS) are listed too.
    rankscope::registry::register_families();
    let measured = reference_values();
    let all = collectors::all();
    let width = all.iter().map(|c| c.name().len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut available = 0;
    for c in all {
        let status = match c.probe() {
            Availability::Available => {
                available += 1;
                "available".to_string()
            }
            Availability::Unavailable(why) => format!("unavailable: {why}"),
        };
        out.push_str(&format!("{:<width$}  {status}\n", c.name()));
        out.push_str(&format!("    {}\n", c.description()));
        if !c.aliases().is_empty() {
            out.push_str(&format!("    aliases: {}\n", c.aliases().join(", ")));
        }
        for (i, m) in c.metrics().iter().enumerate() {
            // Counts have no display unit of their own; their base unit says what they count.
            let unit = match m.unit.display() {
                "" => m.unit.base(),
                u => u,
            };
            let here = measured
                .get(c.name())
                .map(|v| format!(" (here: {:.6})", v[i]))
                .unwrap_or_default();
            out.push_str(&format!(
                "    metric {} [{unit}]: {}{here}\n",
                m.name, m.description
            ));
        }
    }
    out.push_str(&format!(
        "{available} of {} collectors available here (values: one reference workload, see --help)\n",
        all.len()
    ));
    out
}
