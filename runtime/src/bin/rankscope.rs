//! The `rankscope` command line.
fn main() {}
