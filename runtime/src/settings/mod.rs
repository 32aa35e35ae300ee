//! Settings: every knob of rankscope, from one table.
//!
//! Each row of the table (in `table.rs`) gives a setting's name, type, default and one-line doc;
//! collectors declare their own options (`options.rs`), and [`rows`] lists both.
//! From it come the [`Settings`] struct, the environment variable `RANKSCOPE_<NAME>`, text access
//! by name ([`set`], [`get`]), the reference in `docs/settings.md` ([`markdown`]) and the Python
//! layer (via [`TABLE`]).
//!
//! The process-wide settings start as the defaults overlaid with the environment, read on first
//! use. Hot paths keep a snapshot from [`current`] and refresh it when [`generation`] changes.
//!
//! ```
//! use rankscope::settings;
//!
//! settings::set("json_output", "off").unwrap();
//! settings::update(|s| s.max_depth = 16);
//! let now = settings::current();
//! assert!(!now.json_output);
//! assert_eq!(settings::get("max_depth").as_deref(), Some("16"));
//! ```

mod docs;
mod env;
mod error;
mod options;
mod state;
mod table;
mod value;

pub use docs::{markdown, TABLE_BEGIN, TABLE_END};
pub use env::OTHER_ENV_VARS;
pub use error::{Problem, SettingsError};
pub use options::{rows, OptionValues};
pub use state::{
    current, generation, get, init_errors, init_warnings, parse, reload, reset, set, update,
};
pub use table::{info, SettingInfo, Settings, ENV_PREFIX, TABLE};
pub use value::{Kind, MpiThread, RankSet, SettingValue};
