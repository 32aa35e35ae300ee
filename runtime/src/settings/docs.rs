//! The settings reference table, generated from [`TABLE`], and the test that keeps
//! `docs/settings.md` equal to it.

use super::rows;

/// Marker line before the generated table in `docs/settings.md`.
pub const TABLE_BEGIN: &str = "<!-- settings-table:begin -->";
/// Marker line after the generated table in `docs/settings.md`.
pub const TABLE_END: &str = "<!-- settings-table:end -->";

/// The settings reference as a Markdown table (setting, environment variable, type, default,
/// accepted values, description), one row per setting in table order, ending with a newline.
pub fn markdown() -> String {
    let mut out = String::from(
        "| Setting | Environment variable | Type | Default | Accepted | Description |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in rows() {
        let default = if row.default.is_empty() {
            "*(empty)*".to_owned()
        } else {
            code(row.default)
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            code(row.name),
            code(row.env_var),
            cell(row.type_name),
            default,
            cell(row.accepted),
            cell(row.doc),
        ));
    }
    out
}

/// Text for a table cell: `|` would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Text as inline code in a table cell.
fn code(text: &str) -> String {
    format!("`{}`", cell(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn doc_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/settings.md")
    }

    /// The file's text with the region between the markers replaced by `table`, or `None` if the
    /// markers are missing.
    fn with_table(file: &str, table: &str) -> Option<String> {
        let begin = file.find(TABLE_BEGIN)? + TABLE_BEGIN.len();
        let end = begin + file[begin..].find(TABLE_END)?;
        Some(format!("{}\n{}{}", &file[..begin], table, &file[end..]))
    }

    #[test]
    fn markdown_has_a_row_per_setting() {
        let text = markdown();
        assert_eq!(text.lines().count(), rows().len() + 2);
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            // Six cells: seven unescaped bars.
            let bars = line.matches('|').count() - line.matches("\\|").count();
            assert_eq!(bars, 7, "{line}");
        }
        assert!(text.contains(
            "| `json_output` | `RANKSCOPE_JSON_OUTPUT` | bool | `true` | ON/OFF, true/false, 1/0, yes/no |"
        ));
        assert!(
            text.contains("| `output_prefix` | `RANKSCOPE_OUTPUT_PREFIX` | string | *(empty)* |")
        );
    }

    #[test]
    fn docs_file_table_is_generated_from_the_settings_table() {
        let path = doc_path();
        let file = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let expected = with_table(&file, &markdown()).unwrap_or_else(|| {
            panic!(
                "{} must contain the lines {TABLE_BEGIN} and {TABLE_END}",
                path.display()
            )
        });
        if file == expected {
            return;
        }
        if std::env::var_os("RANKSCOPE_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, expected)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("rewrote the settings table in {}", path.display());
            return;
        }
        panic!(
            "the settings table in {} differs from settings::markdown(); regenerate it with\n    \
             RANKSCOPE_BLESS=1 cargo test -p rankscope settings::docs\n\
             and commit the result",
            path.display()
        );
    }
}
