//! `spequlos sim --print-config`: the scenario as TOML, each field preceded by its unit, range
//! and meaning, read from docs/scenario.md so that the page and the printout cannot disagree.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use spequlos_sim::scenario::Scenario;

const REFERENCE: &str = include_str!("../docs/scenario.md");

/// Dotted field name → "unit; range: meaning", from the page's tables
/// (`| field | unit | default | range | meaning |`).
fn field_notes() -> BTreeMap<&'static str, String> {
    let mut notes = BTreeMap::new();
    for line in REFERENCE.lines() {
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = row
            .trim_end_matches('|')
            .split(" | ")
            .map(str::trim)
            .collect();
        let [name, unit, _default, range, meaning] = cells[..] else {
            continue;
        };
        let name = name.trim_end_matches('`');
        let unit = if unit == "–" {
            String::new()
        } else {
            format!("{unit}; ")
        };
        notes.insert(name, format!("{unit}{range}: {meaning}"));
    }
    notes
}

/// The scenario as commented TOML.
pub fn commented(sc: &Scenario) -> Result<String> {
    let text = toml::to_string_pretty(sc).context("writing the scenario as TOML")?;
    let notes = field_notes();
    let mut out = String::from(
        "# spequlos scenario: every field with its value, each preceded by its unit, range and\n\
         # meaning (docs/scenario.md). An unset optional field (cloud.credits, ...) is left\n\
         # out: its default applies.\n\n",
    );
    let mut table = String::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = format!("{t}.");
        } else if let Some((key, _)) = line.split_once(" = ") {
            if let Some(note) = notes.get(format!("{table}{}", key.trim()).as_str()) {
                out.push_str("# ");
                out.push_str(note);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printed_field_says_what_it_is_and_the_text_reads_back() {
        for sc in [
            Scenario::default(),
            Scenario {
                middleware: spequlos_sim::scenario::Middleware::by_name("xwhep").unwrap(),
                ..Scenario::default()
            },
        ] {
            let text = commented(&sc).unwrap();
            let fields = text
                .lines()
                .filter(|l| l.contains(" = ") && !l.starts_with('#'))
                .count();
            let notes = text.lines().skip(4).filter(|l| l.starts_with("# ")).count();
            assert_eq!(notes, fields, "every field has its note:\n{text}");
            let back: Scenario = toml::from_str(&text).unwrap();
            assert_eq!(back, sc);
        }
        let text = commented(&Scenario::default()).unwrap();
        assert!(
            text.contains("# s; [60, 10^9]: BOINC: an unreturned"),
            "{text}"
        );
    }
}
