//! The SQLite ledger file, created readable by its owner only.
//!
//! SQLite creates a missing database file with mode 0644 (less the umask):
//! every local user could read every session, refresh-token hash and sealed
//! successor in it. So when SQLite would create the file, inkan creates it
//! first, empty and with mode 0600; SQLite then opens it as a new database,
//! and gives its journal and WAL files the same mode. An existing file is
//! never changed (its mode may be the operator's choice), but a warning says
//! when others may read it.

use std::{io::ErrorKind, path::Path, str::FromStr};

use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use tracing::warn;

use super::LedgerError;

/// Creates the file a `sqlite:` URL names, with mode 0600, if SQLite would
/// create it (`mode=rwc`) and it does not exist. In-memory databases, other
/// modes and SQLite URI filenames are left to SQLite; so is a URL sqlx
/// cannot parse, which sqlx then reports.
pub(super) fn create_owner_only(url: &str) -> Result<(), LedgerError> {
    let query = url.split_once('?').map(|(_, query)| query).unwrap_or("");
    // As in sqlx, the last `mode` given wins.
    let mode = query
        .rsplit('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "mode")
        .map(|(_, value)| value);
    if mode != Some("rwc") {
        return Ok(());
    }
    let Ok(options) = SqliteConnectOptions::from_str(url) else {
        return Ok(());
    };
    let path = options.get_filename();
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    create_new(path)
}

#[cfg(unix)]
fn create_new(path: &Path) -> Result<(), LedgerError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    warn!(
                        path = %path.display(),
                        mode = format!("{mode:o}"),
                        "the SQLite ledger may be read by others than its owner, and it holds every \
                         session and refresh-token hash; restrict it (chmod 600)"
                    );
                }
            }
            Ok(())
        }
        Err(source) => Err(LedgerError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(not(unix))]
fn create_new(_path: &Path) -> Result<(), LedgerError> {
    // No Unix modes to set; the directory's access rules apply.
    Ok(())
}
