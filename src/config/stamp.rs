//! What a configuration file was when it was read (identity on disk, content hash): how a
//! reload tells an unchanged part file from a changed one.

use std::path::Path;
use std::time::SystemTime;

/// A file's identity on disk: inode, size and modification time (symlinks followed).
pub type Identity = (u64, u64, Option<SystemTime>);

/// What a file was when it was read: its identity, and a hash of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Identity when read (None: could not be taken).
    pub identity: Option<Identity>,
    /// Hash of the bytes read.
    pub hash: u64,
}

/// The identity of the file at `path` (None when it cannot be read).
pub fn file_identity(path: &Path) -> Option<Identity> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, m.len(), m.modified().ok()))
}
