//! One error type for the crate: every message names the file, and for bad input the line and
//! column, so a user can open the CSV at the right place.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A field that does not parse as its column's type.
    #[error("{}: line {line}, column `{column}`: {message}", file.display())]
    Field {
        file: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    /// A row or header that is wrong as a whole (wrong field count, not CSV at all, ...).
    #[error("{}: line {line}: {message}", file.display())]
    Malformed {
        file: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}: header (line 1) lacks column `{column}`; found: {found}", file.display())]
    MissingColumn {
        file: PathBuf,
        column: String,
        found: String,
    },
    #[error("drawing {}: {message}", path.display())]
    Chart { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
