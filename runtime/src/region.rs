//! Regions: a name plus a bundle, started and stopped by RAII guard, by token, or by name.

use crate::bundle::Bundle;
use crate::registry::UnknownComponent;
use crate::storage::{self, NameId, Token};
use std::marker::PhantomData;

/// A named region measured by one bundle. Create it once (the [`region!`](crate::region)
/// macro keeps one per call site) and start it as often as needed: starting never allocates
/// once the region has been seen at that place in the tree.
#[derive(Clone, Copy)]
pub struct Region {
    name: NameId,
    bundle: &'static Bundle,
}

impl Region {
    /// A region measured by `bundle`.
    pub fn new(name: &str, bundle: &'static Bundle) -> Region {
        Region {
            name: storage::intern(name),
            bundle,
        }
    }

    /// A region measured by the named components.
    pub fn with_components<S: AsRef<str>>(
        name: &str,
        components: &[S],
    ) -> Result<Region, UnknownComponent> {
        Ok(Region::new(name, Bundle::new(components)?))
    }

    /// A region measured by the default bundle (setting `components`).
    pub fn with_default(name: &str) -> Region {
        Region::new(name, crate::bundle::default_bundle())
    }

    /// Starts the region; stop it with [`Region::stop`] and the returned token.
    #[inline]
    pub fn start(&self) -> Token {
        storage::start(self.name, self.bundle)
    }

    /// Stops the region started with `token`.
    #[inline]
    pub fn stop(&self, token: Token) {
        storage::stop(token)
    }

    /// Starts the region and stops it when the guard is dropped.
    #[inline]
    pub fn enter(&self) -> Guard {
        Guard {
            token: self.start(),
            _same_thread: PhantomData,
        }
    }
}

/// Stops its region when dropped. Not `Send`: a region stops on the thread it started on.
#[must_use = "the region stops when the guard is dropped"]
pub struct Guard {
    token: Token,
    _same_thread: PhantomData<*const ()>,
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        storage::stop(self.token)
    }
}

/// Starts a region named `name` with the default bundle (measured by the components in
/// the `components` setting).
pub fn start(name: &str) -> Token {
    storage::start(storage::intern(name), crate::bundle::default_bundle())
}

/// Stops the innermost running region called `name`. A name that is not running is reported
/// (stderr and the outputs' diagnostics) and ignored.
pub fn stop(name: &str) {
    storage::stop_named(storage::intern(name))
}

/// Measures the rest of the enclosing scope as a region.
///
/// `let _r = region!("solve");` uses the default bundle; `region!("solve", ["wall_clock",
/// "peak_rss"])` names the components (an unknown name panics on first use, with the valid
/// names: it is a programming error, like a bad format string). The region is built once per
/// call site.
#[macro_export]
macro_rules! region {
    ($name:expr) => {{
        static REGION: ::std::sync::OnceLock<$crate::region::Region> = ::std::sync::OnceLock::new();
        REGION
            .get_or_init(|| $crate::region::Region::with_default($name))
            .enter()
    }};
    ($name:expr, [$($component:expr),+ $(,)?]) => {{
        static REGION: ::std::sync::OnceLock<$crate::region::Region> = ::std::sync::OnceLock::new();
        REGION
            .get_or_init(|| {
                $crate::region::Region::with_components($name, &[$($component),+])
                    .unwrap_or_else(|e| panic!("region!({:?}): {e}", $name))
            })
            .enter()
    }};
}
