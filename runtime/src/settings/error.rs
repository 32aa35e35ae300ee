//! What went wrong when reading settings.

use std::fmt;

/// One problem with one setting.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A value that the setting's type does not accept.
    InvalidValue {
        /// The setting (`max_depth`).
        setting: &'static str,
        /// The environment variable the value came from (`RANKSCOPE_MAX_DEPTH`), if it came from one.
        env_var: Option<&'static str>,
        /// The rejected text (lossily converted if it was not UTF-8).
        value: String,
        /// What would have been accepted (`an integer from 0 to 4294967295`).
        expected: std::borrow::Cow<'static, str>,
    },
    /// A name that is not a setting.
    UnknownSetting {
        /// The name as given.
        name: String,
        /// The closest valid setting, when the name looks like a typo of one.
        suggestion: Option<&'static str>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InvalidValue {
                setting,
                env_var,
                value,
                expected,
            } => {
                let subject = env_var.unwrap_or(setting);
                write!(f, "{subject}={}: expected {expected}", shown(value))
            }
            Problem::UnknownSetting { name, suggestion } => match suggestion {
                Some(close) => write!(f, "unknown setting {name:?}; did you mean {close:?}?"),
                None => write!(
                    f,
                    "unknown setting {name:?}; the settings are listed in docs/settings.md"
                ),
            },
        }
    }
}

/// A value as it appears in a message: bare when that is unambiguous, quoted otherwise.
pub(crate) fn shown(value: &str) -> String {
    let bare = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if bare {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

/// One or more problems found while reading or changing settings.
///
/// When settings come from the environment, every bad variable is reported, not only the first;
/// [`Display`](fmt::Display) lists them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl SettingsError {
    /// An error made of these problems (there must be at least one) and warnings.
    pub(crate) fn new(problems: Vec<Problem>, warnings: Vec<String>) -> Self {
        debug_assert!(!problems.is_empty());
        SettingsError { problems, warnings }
    }

    /// The problems, in table order for environment variables.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Warnings met along the way (unknown `RANKSCOPE_*` variables), as for a successful parse.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// One message per problem.
    pub fn messages(&self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }

    /// True when every problem is an unknown setting name (a caller may map this to a
    /// "no such attribute" error rather than a "bad value" one).
    pub fn is_unknown_setting(&self) -> bool {
        self.problems
            .iter()
            .all(|p| matches!(p, Problem::UnknownSetting { .. }))
    }
}

impl From<Problem> for SettingsError {
    fn from(problem: Problem) -> Self {
        SettingsError::new(vec![problem], Vec::new())
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => one.fmt(f),
            many => {
                write!(f, "{} invalid settings:", many.len())?;
                for problem in many {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(env_var: Option<&'static str>, value: &str) -> Problem {
        Problem::InvalidValue {
            setting: "json_output",
            env_var,
            value: value.to_owned(),
            expected: "a boolean (ON/OFF, true/false, 1/0, yes/no)".into(),
        }
    }

    #[test]
    fn invalid_value_names_the_variable_value_and_accepted_forms() {
        assert_eq!(
            invalid(Some("RANKSCOPE_JSON_OUTPUT"), "maybe").to_string(),
            "RANKSCOPE_JSON_OUTPUT=maybe: expected a boolean (ON/OFF, true/false, 1/0, yes/no)"
        );
        assert_eq!(
            invalid(None, "maybe").to_string(),
            "json_output=maybe: expected a boolean (ON/OFF, true/false, 1/0, yes/no)"
        );
    }

    #[test]
    fn ambiguous_values_are_quoted() {
        assert!(invalid(None, "")
            .to_string()
            .starts_with("json_output=\"\":"));
        assert!(invalid(None, "o n")
            .to_string()
            .starts_with("json_output=\"o n\":"));
        assert!(invalid(None, "a\"b")
            .to_string()
            .starts_with("json_output=\"a\\\"b\":"));
    }

    #[test]
    fn unknown_setting_suggests_or_points_to_docs() {
        let typo = Problem::UnknownSetting {
            name: "json_outpt".into(),
            suggestion: Some("json_output"),
        };
        assert_eq!(
            typo.to_string(),
            "unknown setting \"json_outpt\"; did you mean \"json_output\"?"
        );
        let junk = Problem::UnknownSetting {
            name: "banana".into(),
            suggestion: None,
        };
        assert!(junk.to_string().contains("docs/settings.md"));
        assert!(SettingsError::from(junk).is_unknown_setting());
    }

    #[test]
    fn several_problems_are_all_listed() {
        let error = SettingsError::new(
            vec![
                invalid(Some("RANKSCOPE_JSON_OUTPUT"), "maybe"),
                invalid(Some("RANKSCOPE_TEXT_OUTPUT"), "perhaps"),
            ],
            Vec::new(),
        );
        let text = error.to_string();
        assert!(text.starts_with("2 invalid settings:"), "{text}");
        assert!(
            text.contains("\n  RANKSCOPE_JSON_OUTPUT=maybe: expected"),
            "{text}"
        );
        assert!(
            text.contains("\n  RANKSCOPE_TEXT_OUTPUT=perhaps: expected"),
            "{text}"
        );
        assert_eq!(error.messages().len(), 2);
        assert!(!error.is_unknown_setting());
    }
}
