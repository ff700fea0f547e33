//! Reading one YAML file: a size limit, then serde-saphyr, every failure a located one-line
//! error.

use super::error::ConfigError;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Largest configuration file read (a guard against pointing the server at the wrong file; a
/// large zone spreads its registries over `zones/<zone>.d/*.yaml`).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The most YAML values (scalars, sequences, maps) one file may hold: more than a file within
/// [`MAX_FILE_BYTES`] can (each takes two bytes at least), so the parser's own budget never
/// speaks first.
const MAX_NODES: usize = 9 * 1024 * 1024;

/// Reads and deserializes one YAML file, recording a located error on failure.
pub fn parse_file<T: DeserializeOwned>(path: &Path, found: &mut Vec<ConfigError>) -> Option<T> {
    let text = match read_text(path) {
        Ok(t) => t,
        Err(e) => {
            found.push(e.at(path));
            return None;
        }
    };
    parse_text(path, &text, found)
}

/// Why a file could not be read.
pub struct ReadError {
    /// True when the file is over the size limit (reported at 1:1), else a failed read.
    whole: bool,
    message: String,
}

impl ReadError {
    /// The error, located at `path`.
    pub fn at(self, path: &Path) -> ConfigError {
        if self.whole {
            ConfigError::at(path, 1, 1, self.message)
        } else {
            ConfigError::file(path, self.message)
        }
    }
}

/// Deserializes the text of one YAML file read from `path`, recording a located error on
/// failure.
pub fn parse_text<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    found: &mut Vec<ConfigError>,
) -> Option<T> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_NODES;
    budget.max_events = 2 * MAX_NODES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<T>(text, options) {
        Ok(v) => Some(v),
        Err(e) => {
            found.push(yaml_error(path, text, &e));
            None
        }
    }
}

/// The file's text, within the size limit.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let failed = |e: std::io::Error| ReadError {
        whole: false,
        message: format!("cannot read: {e}"),
    };
    let meta = std::fs::metadata(path).map_err(failed)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError {
            whole: true,
            message: format!(
                "the file is {} bytes; one configuration file holds at most {MAX_FILE_BYTES} \
                 (16 MiB): spread a zone's registries over zones/<zone>.d/*.yaml",
                meta.len()
            ),
        });
    }
    std::fs::read_to_string(path).map_err(failed)
}

/// Turns a YAML error into a located one-line error in plain words.
fn yaml_error(path: &Path, text: &str, e: &serde_saphyr::Error) -> ConfigError {
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let rendered = e.render_with_options(options);
    let message = rendered.lines().next().unwrap_or("invalid YAML").trim();
    // The plain rendering ends with " at line L column C"; the location is given separately.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let (line, column, message) = plain(text, line.max(1) as usize, column as usize, message);
    ConfigError::at(path, line as u64, column as u64, message)
}

/// The parser's message in the configuration's words: a tab at its own place, a value of the
/// wrong kind with its key and what the key takes.
fn plain(text: &str, line: usize, column: usize, message: &str) -> (usize, usize, String) {
    // The parser's resource budget (its own words are "budget breached: Nodes { .. }").
    if let Some(kind) = message.split("budget breached: ").nth(1) {
        let what = match kind.split([' ', '{', '(']).next().unwrap_or("") {
            "Nodes" | "Events" => format!("more than {MAX_NODES} YAML values"),
            "Depth" => "values nested more than 64 deep".to_string(),
            "Anchors" | "Aliases" => "more than 50000 anchors or aliases".to_string(),
            _ => "more YAML than one file may hold".to_string(),
        };
        return (
            line,
            column,
            format!(
                "the file holds {what}, beyond what one file may: spread a zone's registries over zones/<zone>.d/*.yaml"
            ),
        );
    }

    // A tab in indentation is never valid YAML, and the scanner's message for it varies with
    // what the tab broke ("found a tab", "comment intercepting the multiline text", ...) and is
    // placed where the scalar it was reading began: name the tab itself, at or near that line.
    if !message.starts_with("invalid ") {
        let lines: Vec<&str> = text.lines().collect();
        let from = line.saturating_sub(2);
        for (i, l) in lines.iter().enumerate().skip(from).take(4) {
            let indent = &l[..l.len() - l.trim_start().len()];
            let at = if message.contains("tab") {
                l.find('\t')
            } else {
                indent.find('\t')
            };
            if let Some(at) = at {
                return (
                    i + 1,
                    l[..at].chars().count() + 1,
                    "a tab character: YAML indents with spaces only".to_string(),
                );
            }
        }
    }
    let Some(kind) = message.strip_prefix("invalid ").filter(|k| {
        matches!(
            *k,
            "u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "f32" | "f64" | "bool"
        )
    }) else {
        return (line, column, message.to_string());
    };
    let row = text.lines().nth(line - 1).unwrap_or("");
    let before: String = row.chars().take(column.saturating_sub(1)).collect();
    let after: String = row.chars().skip(column.saturating_sub(1)).collect();
    let value = after
        .split([',', '}', ']', '#'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    // The key is the last `name:` before the value (block or flow style).
    let key = before
        .trim_end()
        .strip_suffix(':')
        .and_then(|k| {
            k.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
        })
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let expected = expected(key.as_deref(), kind);
    let message = match key {
        Some(key) => format!("{key}: {expected}, not {value:?}"),
        None => format!("{expected}, not {value:?}"),
    };
    (line, column, message)
}

/// What a key takes, in words (keys with a narrower range than their type say so).
fn expected(key: Option<&str>, kind: &str) -> &'static str {
    match (key, kind) {
        (Some("weight"), _) => "a whole number from 1 to 10000",
        (Some("ttl" | "global" | "suspect" | "regional" | "data" | "minimum"), _) => {
            "a whole number of seconds from 1 to 86400"
        }
        (Some("fall" | "rise" | "failover_spread"), _) => "a whole number, at least 1",
        (Some("port"), _) => "a port number from 0 to 65535",
        (Some("ipv4"), _) => "a prefix length from 0 to 32",
        (Some("ipv6"), _) => "a prefix length from 0 to 128",
        (Some("ipv4_prefix"), _) => "a prefix length from 1 to 32",
        (Some("ipv6_prefix"), _) => "a prefix length from 1 to 128",
        (Some("slip"), _) => "a whole number from 0 to 10",
        (Some("responses_per_second" | "source_responses_per_second"), _) => {
            "a whole number from 0 to 1000000"
        }
        (Some("latitude"), _) => "degrees from -90 to 90",
        (Some("longitude"), _) => "degrees from -180 to 180",
        (_, "bool") => "true or false",
        (_, "f32" | "f64") => "a number",
        (_, "u8") => "a whole number from 0 to 255",
        (_, "u16") => "a whole number from 0 to 65535",
        (_, "i32" | "i64") => "a whole number",
        _ => "a whole number, 0 or more",
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn parser_messages_in_plain_words() {
        let zone = "zone: a.test\nregistries:\n  - name: r\n    replicas:\n      - region: eastus\n        weight: heavy\n      - {region: westus, weight: lots, addresses: []}\n";
        let cases = [
            // (line, column, parser message) -> (line, column, what the user reads)
            (
                (6, 17, "invalid u32"),
                (
                    6,
                    17,
                    "weight: a whole number from 1 to 10000, not \"heavy\"",
                ),
            ),
            (
                (7, 34, "invalid u32"),
                (
                    7,
                    34,
                    "weight: a whole number from 1 to 10000, not \"lots\"",
                ),
            ),
            (
                (1, 7, "invalid bool"),
                (1, 7, "zone: true or false, not \"a.test\""),
            ),
            (
                (2, 1, "did not find expected key"),
                (2, 1, "did not find expected key"),
            ),
        ];
        for ((l, c, m), (wl, wc, want)) in cases {
            assert_eq!(
                plain(zone, l, c, m),
                (wl, wc, want.to_string()),
                "{m} at {l}:{c}"
            );
        }
        // A tab in the indentation of line 3, reported by the scanner at line 2.
        let tabbed = "zone: a.test\nttl: 3600\n\tsoa: {}\n";
        assert_eq!(
            plain(tabbed, 2, 7, "while scanning a plain scalar, found a tab"),
            (
                3,
                1,
                "a tab character: YAML indents with spaces only".to_string()
            )
        );
    }
}
