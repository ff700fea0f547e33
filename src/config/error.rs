//! Configuration errors: every one names its file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given to the loader (relative to the config folder's parent when possible).
    pub file: PathBuf,
    /// 1-based line, 0 when the problem is the file as a whole.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What is wrong, in one line.
    pub message: String,
}

impl ConfigError {
    /// An error at a position in `file`.
    pub fn at(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about a whole file (missing, unreadable).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self::at(file, 0, 0, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column.max(1),
                self.message
            )
        }
    }
}

/// Every problem found while loading a configuration; the load changes nothing when any exists.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigErrors {
    /// The problems, in file and line order.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Wraps a list of problems, ordering them by file, line and column.
    pub fn new(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        errors.dedup();
        Self { errors }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects errors for one file while checking it.
pub struct Problems<'a> {
    file: &'a Path,
    /// Everything found so far, across files.
    pub found: &'a mut Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    /// Starts reporting problems of `file` into `found`.
    pub fn new(file: &'a Path, found: &'a mut Vec<ConfigError>) -> Self {
        Self { file, found }
    }

    /// Records a problem at the place where `value` was written.
    pub fn at<T>(&mut self, value: &serde_saphyr::Spanned<T>, message: impl Into<String>) {
        let loc = value.referenced;
        self.found.push(ConfigError::at(
            self.file,
            loc.line(),
            loc.column(),
            message,
        ));
    }

    /// Records a problem about the file as a whole.
    pub fn whole(&mut self, message: impl Into<String>) {
        self.found.push(ConfigError::file(self.file, message));
    }

    /// The file being checked.
    pub fn path(&self) -> &Path {
        self.file
    }
}
