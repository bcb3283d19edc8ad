//! Relative paths in a config file name files next to it. A config file is
//! usually mounted with its neighbours (`/etc/inkan/inkan.toml` beside
//! `keys.json` and the TLS files) and run from anywhere: resolving its
//! paths against the working directory made the same file work or fail
//! by where the command was started. Flags and `INKAN_*` variables are
//! typed relative to where the command runs, and stay so.
//!
//! Resolved: `keys_file`, `database_url_file` and the `[tls]` files.
//! `database_url` is a URL handed to the driver as written: a relative
//! SQLite path in it is the working directory's, as the driver reads it.

use std::path::{Path, PathBuf};

use super::Settings;

/// Makes the relative paths that `settings` took from the config file in
/// `dir` relative to `dir`. `from_env` says whether an `INKAN_*` variable
/// (which wins over the file) gave the setting named.
pub(super) fn resolve_from_file(
    settings: &mut Settings,
    dir: &Path,
    from_env: impl Fn(&str) -> bool,
) {
    let anchor = |path: &mut PathBuf| {
        if path.is_relative() {
            *path = dir.join(&*path);
        }
    };
    if let Some(path) = settings
        .keys_file
        .as_mut()
        .filter(|_| !from_env("keys_file"))
    {
        anchor(path);
    }
    if let Some(path) = settings
        .database_url_file
        .as_mut()
        .filter(|_| !from_env("database_url_file"))
    {
        anchor(path);
    }
    // `[tls]` comes from the file only: no variable can spell a table.
    if let Some(tls) = settings.tls.as_mut() {
        anchor(&mut tls.cert_file);
        anchor(&mut tls.key_file);
        if let Some(path) = tls.client_ca_file.as_mut() {
            anchor(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_paths_resolve_beside_it_unless_the_environment_gave_them() {
        let mut settings = Settings {
            keys_file: Some("keys.json".into()),
            database_url_file: Some("secrets/db-url".into()),
            ..Settings::default()
        };
        resolve_from_file(&mut settings, Path::new("/etc/inkan"), |name| {
            name == "database_url_file"
        });
        assert_eq!(settings.keys_file, Some("/etc/inkan/keys.json".into()));
        assert_eq!(settings.database_url_file, Some("secrets/db-url".into()));

        let mut absolute = Settings {
            keys_file: Some("/srv/keys.json".into()),
            ..Settings::default()
        };
        resolve_from_file(&mut absolute, Path::new("/etc/inkan"), |_| false);
        assert_eq!(absolute.keys_file, Some("/srv/keys.json".into()));
    }
}
