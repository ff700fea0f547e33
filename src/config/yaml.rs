//! Reading one YAML file: a size limit, then serde-saphyr, every failure a located one-line
//! error.

use super::error::ConfigError;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Largest configuration file read (a guard against pointing the server at the wrong file).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads and deserializes one YAML file, recording a located error on failure.
pub fn parse_file<T: DeserializeOwned>(path: &Path, found: &mut Vec<ConfigError>) -> Option<T> {
    let text = match read_text(path) {
        Ok(t) => t,
        Err(message) => {
            found.push(ConfigError::file(path, message));
            return None;
        }
    };
    match serde_saphyr::from_str::<T>(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            found.push(yaml_error(path, &e));
            None
        }
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("file is larger than {MAX_FILE_BYTES} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))
}

/// Turns a YAML error into a located one-line error.
fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> ConfigError {
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
    ConfigError::at(path, line.max(1), column, message.to_string())
}
