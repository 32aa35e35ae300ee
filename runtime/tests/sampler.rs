//! The per-rank sampler in one process: off by default, on with setting `sampler`; its series
//! grow with the interval, follow memory the process touches, end with one last point at stop,
//! and come with the rank's profile (`rankscope::get`). Interval problems are rejected when set.
//! One test: the sampler is process-wide.

use rankscope::sampler;
use std::time::Duration;

#[test]
fn sampler_series_follow_the_process_and_come_with_its_profile() {
    sampler::start();
    assert!(sampler::snapshot().is_none(), "off by default");

    let e = rankscope::settings::set("sampler_interval", "0").unwrap_err();
    assert!(
        e.to_string()
            .contains("sampler_interval=0: expected seconds, from 0.001 to 3600"),
        "{e}"
    );
    rankscope::settings::set("sampler_interval", "0.01").unwrap();
    rankscope::settings::set("sampler", "on").unwrap();
    sampler::start();
    std::thread::sleep(Duration::from_millis(60));
    let block = std::hint::black_box(vec![1u8; 96 << 20]);
    std::thread::sleep(Duration::from_millis(60));
    let running = sampler::snapshot().expect("running");
    assert!(running.len() >= 3, "{} points", running.len());
    sampler::stop();
    drop(block);
    let s = sampler::snapshot().expect("kept after stop");
    assert!(s.len() > running.len(), "one last point at stop");
    let names: Vec<&str> = s.series.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "process.rss",
            "process.peak_rss",
            "process.virtual",
            "process.cpu"
        ]
    );
    assert_eq!(s.interval_ns, 10_000_000);
    assert!(s.t_ns.windows(2).all(|w| w[1] > w[0]));
    assert!(
        s.t_ns[0] >= 10_000_000,
        "first point one interval after the start"
    );
    let rss = &s.columns[0];
    let (first, most) = (rss[0], *rss.iter().max().unwrap());
    assert!(most >= first + (64 << 20), "rss {first} -> {most}");
    let peak = &s.columns[1];
    assert!(peak.windows(2).all(|w| w[1] >= w[0]), "peak never falls");
    assert!(s.columns[3].iter().all(|cpu| *cpu >= 0));

    let p = rankscope::get();
    assert_eq!(p.ranks[0].samples.as_ref(), Some(&s));
}
