//! Settings: the table, and get/set/parse by name with Python exceptions.

use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use rankscope::settings::{self, Kind};

/// One row of the settings table: `(name, env_var, type_name, default, accepted, doc, kind,
/// choices)`, kind being `bool`, `unsigned`, `text`, `list` or `choice`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Vec<&'static str>,
);

/// Every setting, in table order, then the options collectors declare.
#[pyfunction]
fn settings_table() -> Vec<Row> {
    settings::rows()
        .iter()
        .map(|r| {
            let (kind, choices) = match r.kind {
                Kind::Bool => ("bool", vec![]),
                Kind::Unsigned => ("unsigned", vec![]),
                // A rank list is text in Python too; the runtime parses and checks it.
                Kind::Text | Kind::Ranks => ("text", vec![]),
                Kind::List => ("list", vec![]),
                Kind::Choice(names) => ("choice", names.to_vec()),
            };
            (
                r.name,
                r.env_var,
                r.type_name,
                r.default,
                r.accepted,
                r.doc,
                kind,
                choices,
            )
        })
        .collect()
}

/// The canonical text of setting `name`; AttributeError (with the closest name) if unknown.
#[pyfunction]
fn setting_get(name: &str) -> PyResult<String> {
    settings::get(name).ok_or_else(|| unknown(name))
}

/// Sets setting `name` from text; AttributeError for an unknown name, ValueError for a value
/// that is not one of the accepted spellings.
#[pyfunction]
fn setting_set(name: &str, value: &str) -> PyResult<()> {
    settings::set(name, value).map_err(|e| {
        if e.is_unknown_setting() {
            PyAttributeError::new_err(e.to_string())
        } else {
            PyValueError::new_err(e.to_string())
        }
    })
}

/// Re-reads the `RANKSCOPE_*` environment variables; returns the warnings (unknown variables).
#[pyfunction]
fn settings_parse() -> PyResult<Vec<String>> {
    settings::parse().map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Puts every setting back to its default.
#[pyfunction]
fn settings_reset() {
    settings::reset()
}

fn unknown(name: &str) -> PyErr {
    let names = settings::rows().iter().map(|r| r.name);
    let mut msg = format!("rankscope has no setting '{name}'");
    if let Some(s) = rankscope::suggest::closest(name, names) {
        msg.push_str(&format!(" (did you mean '{s}'?)"));
    }
    PyAttributeError::new_err(msg)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(settings_table, m)?)?;
    m.add_function(wrap_pyfunction!(setting_get, m)?)?;
    m.add_function(wrap_pyfunction!(setting_set, m)?)?;
    m.add_function(wrap_pyfunction!(settings_parse, m)?)?;
    m.add_function(wrap_pyfunction!(settings_reset, m)?)?;
    Ok(())
}
