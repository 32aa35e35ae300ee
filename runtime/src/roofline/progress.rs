//! The progress bar while the ceilings are measured: on stderr, on world rank 0 only (every
//! rank's stderr ends up in one terminal), and hidden when stderr is not a terminal (indicatif
//! draws nothing then), so logs and pipes get no bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar, or nothing.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar of `steps` steps about `what`, when `show`.
    pub fn new(show: bool, steps: usize, what: &str) -> Bar {
        if !show {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} ({elapsed}, about {eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!(
            "rankscope: measuring the roofline ceilings of {what}"
        ));
        Bar(Some(bar))
    }

    /// One step done.
    pub fn step(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
