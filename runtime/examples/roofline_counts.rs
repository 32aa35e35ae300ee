//! Roofline counts supplied by the application: a daxpy (`y += a * x`: 2 FLOPs and 24 bytes
//! per element, 16 B read and 8 B written) and a dot product (2 FLOPs and 16 B per element),
//! each in a region carrying `roofline_modelled`, the counts supplied with
//! `rankscope::add_flops` / `add_bytes`.
//!
//!     cargo run --release -p rankscope --example roofline_counts [OUTPUT]
//!
//! prints each region's FLOPs, bytes and arithmetic intensity from the profile and writes the
//! outputs (`python -m rankscope.roofline plot OUTPUT` draws them under the ceilings).

fn daxpy(a: f64, x: &[f64], y: &mut [f64]) {
    let _r = rankscope::region!("daxpy", ["wall_clock", "roofline_modelled"]);
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
    rankscope::add_flops(2 * x.len() as u64);
    rankscope::add_bytes(24 * x.len() as u64);
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    let _r = rankscope::region!("dot", ["wall_clock", "roofline_modelled"]);
    let s = x.iter().zip(y).map(|(a, b)| a * b).sum();
    rankscope::add_flops(2 * x.len() as u64);
    rankscope::add_bytes(16 * x.len() as u64);
    s
}

fn main() {
    if let Some(out) = std::env::args().nth(1) {
        rankscope::settings::set("output_path", &out).expect("a folder name is a valid setting");
    }
    rankscope::init();
    let n = 1 << 20;
    let (x, mut y) = (vec![1.0f64; n], vec![2.0f64; n]);
    let mut s = 0.0;
    {
        let _main = rankscope::region!("main", ["wall_clock", "roofline_modelled"]);
        for _ in 0..10 {
            daxpy(0.5, &x, &mut y);
            s += dot(&x, &y);
        }
    }
    eprintln!("checksum {s}");
    let profile = rankscope::get();
    for node in &profile.nodes {
        if let (Some(f), Some(b)) = (
            node.stats.get("flops.modelled"),
            node.stats.get("bytes.modelled"),
        ) {
            println!(
                "{}: {} FLOPs, {} bytes, {:.3} FLOP/byte",
                node.name,
                f.sum,
                b.sum,
                f.sum as f64 / b.sum as f64
            );
        }
    }
    rankscope::finalize();
}
