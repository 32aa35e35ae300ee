//! Settings declared by collectors: the options of collector families and background sources
//! (`perf_events`, `sampler_interval`), declared in the collectors crate next to the code that
//! reads them ([`OptionInfo`]). They join the typed rows of `table.rs` in one list, [`rows`]:
//! the environment (`RANKSCOPE_<NAME>`), `set`/`get`, `rankscope settings`, docs/settings.md and
//! Python's `rankscope.settings` all go through it. Values are text, checked by the option's own
//! `check` when set.

use super::table::{env_var_bytes_dyn, SettingInfo, TABLE};
use super::value::Kind;
use crate::collectors::{self, OptionInfo};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The current text of every collector option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionValues(BTreeMap<&'static str, String>);

impl Default for OptionValues {
    fn default() -> Self {
        OptionValues::with_defaults(&collectors::options())
    }
}

impl OptionValues {
    /// Each option at its default.
    pub(crate) fn with_defaults(options: &[&'static OptionInfo]) -> Self {
        OptionValues(
            options
                .iter()
                .map(|o| (o.name, o.default.to_string()))
                .collect(),
        )
    }

    /// The text of option `name`, if there is such an option.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets option `name` after its check: `None` if there is no such option, otherwise the
    /// check's verdict (the value is unchanged when it is rejected).
    pub(crate) fn set(
        &mut self,
        name: &str,
        value: &str,
        info: &OptionInfo,
    ) -> Option<Result<(), String>> {
        let slot = self.0.get_mut(name)?;
        Some((info.check)(value).map(|()| *slot = value.to_string()))
    }
}

/// The declaration of collector option `name`.
pub(crate) fn option_info(name: &str) -> Option<&'static OptionInfo> {
    collectors::options().into_iter().find(|o| o.name == name)
}

/// Every setting: the rows of the settings table, then the collectors' options, as one list of
/// [`SettingInfo`] (options are text settings).
pub fn rows() -> &'static [SettingInfo] {
    static ROWS: OnceLock<Vec<SettingInfo>> = OnceLock::new();
    ROWS.get_or_init(|| {
        TABLE
            .iter()
            .copied()
            .chain(collectors::options().into_iter().map(|o| SettingInfo {
                name: o.name,
                env_var: env_var_bytes_dyn(o.name),
                type_name: "string",
                default: o.default,
                accepted: o.accepted,
                doc: o.doc,
                kind: Kind::Text,
            }))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positive(text: &str) -> Result<(), String> {
        match text.trim().parse::<f64>() {
            Ok(v) if v > 0.0 => Ok(()),
            _ => Err("a number of seconds above 0".into()),
        }
    }

    static INTERVAL: OptionInfo = OptionInfo {
        name: "test_interval",
        default: "0.1",
        accepted: "seconds above 0",
        doc: "How often.",
        check: positive,
    };

    #[test]
    fn values_start_at_defaults_and_change_only_when_checked() {
        let mut v = OptionValues::with_defaults(&[&INTERVAL]);
        assert_eq!(v.get("test_interval"), Some("0.1"));
        assert_eq!(v.set("test_interval", "0.5", &INTERVAL), Some(Ok(())));
        assert_eq!(v.get("test_interval"), Some("0.5"));
        let rejected = v.set("test_interval", "-1", &INTERVAL).unwrap();
        assert_eq!(rejected.unwrap_err(), "a number of seconds above 0");
        assert_eq!(v.get("test_interval"), Some("0.5"));
        assert_eq!(v.set("nope", "1", &INTERVAL), None);
    }

    #[test]
    fn rows_are_the_table_then_every_option() {
        let rows = rows();
        assert_eq!(rows.len(), TABLE.len() + collectors::options().len());
        assert_eq!(&rows[..TABLE.len()], TABLE);
        for (row, o) in rows[TABLE.len()..].iter().zip(collectors::options()) {
            assert_eq!(row.name, o.name);
            assert_eq!(row.env_var, format!("RANKSCOPE_{}", o.name.to_uppercase()));
            assert!(option_info(o.name).is_some());
        }
    }
}
