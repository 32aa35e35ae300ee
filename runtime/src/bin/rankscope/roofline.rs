//! `rankscope roofline ceilings`: measure this node's peak GFLOP/s and GB/s per memory level.

use super::cli::RooflineCommand;
use super::{print, Failure};

pub fn run(command: RooflineCommand) -> Result<(), Failure> {
    let RooflineCommand::Ceilings(a) = command;
    rankscope::mpi::init(rankscope::mpi::InitCall::Plain);
    let json = a.json;
    let opts = rankscope::roofline::Options {
        node: a.node,
        refresh: a.refresh,
        quick: a.quick,
        output: a.output,
        cache: a.cache,
    };
    let outcome = rankscope::roofline::ceilings(&opts);
    let root = rankscope::mpi::world().rank == 0;
    rankscope::mpi::finalize();
    let outcome = outcome.map_err(Failure)?;
    if !root {
        return Ok(());
    }
    for h in &outcome.ceilings.hosts {
        if !outcome.measured.contains(&h.host) {
            eprintln!(
                "rankscope: {}: ceilings from the cache (measured {}{}); --refresh measures again",
                h.host,
                h.date,
                if h.quick { ", quick sweep" } else { "" }
            );
        }
    }
    if json {
        print(&format!("{}\n", outcome.ceilings.to_json()))
    } else {
        print(&rankscope::roofline::table::render(&outcome.ceilings))
    }
}
