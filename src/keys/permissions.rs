//! Whether a file inkan trusts may be trusted, judged as ssh judges a
//! private key: the key-set file, and the TLS certificate, private key and
//! client CA. Whoever can write such a file, or replace it in its
//! directory, can make inkan sign with a key of their own (the key set),
//! serve a certificate of their own (the TLS pair) or accept client
//! certificates of their own making as any caller, admin included (the
//! client CA), so a file or directory writable by group or others is
//! refused. A file holding private keys that others can read is only warned
//! about: it leaks the keys but lets nobody plant one, and refusing it would
//! stop servers that run today. Certificates are public: who may read them
//! does not matter.
//!
//! Symlinks are followed: a Kubernetes Secret mount is
//! `keys.json -> ..data/keys.json`, so the real file is judged, and both the
//! link's directory and the real file's directory. A directory with the
//! sticky bit set (Kubernetes' secret volume root, `/tmp`) lets nobody
//! replace a file they do not own, so it is accepted, as ssh accepts `/tmp`.
//!
//! The file is judged by the handle it is then read through, so it cannot
//! be swapped between the check and the read.

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use super::KeySetError;

/// What a trusted file holds, which decides what its permissions put at
/// risk and what the messages about it say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedFile {
    /// The key-set file: the signing keys.
    KeySet,
    /// The server's TLS certificate chain.
    TlsCertificate,
    /// The server's TLS private key.
    TlsPrivateKey,
    /// The CA certificates client certificates must chain to.
    TlsClientCa,
}

impl TrustedFile {
    /// What whoever can write the file can do.
    fn if_written(self) -> &'static str {
        match self {
            TrustedFile::KeySet => "make inkan sign with their own key",
            TrustedFile::TlsCertificate => "make inkan serve a certificate of their own",
            TrustedFile::TlsPrivateKey => "make inkan serve with a key of their own",
            TrustedFile::TlsClientCa => {
                "make inkan accept client certificates of their own making, as any caller \
                 (admin included)"
            }
        }
    }

    /// What whoever can replace the file can put in its place.
    fn replacement(self) -> &'static str {
        match self {
            TrustedFile::KeySet => "their own key set",
            TrustedFile::TlsCertificate => "their own certificate",
            TrustedFile::TlsPrivateKey => "their own private key",
            TrustedFile::TlsClientCa => "their own CA",
        }
    }

    /// The command that takes the write bits away and keeps what the file
    /// needs: files holding private keys to their owner alone.
    fn fix(self) -> &'static str {
        if self.holds_private_keys() {
            "chmod 600"
        } else {
            "chmod go-w"
        }
    }

    /// What the file is called in a warning, and what it holds, when it
    /// holds private keys.
    fn private(self) -> Option<(&'static str, &'static str)> {
        match self {
            TrustedFile::KeySet => Some(("key set", "private keys")),
            TrustedFile::TlsPrivateKey => Some(("TLS private key", "the server's private key")),
            TrustedFile::TlsCertificate | TrustedFile::TlsClientCa => None,
        }
    }

    fn holds_private_keys(self) -> bool {
        self.private().is_some()
    }
}

/// A trusted file's bytes, read from a file that passed the checks, and
/// what the operator should hear about it.
#[derive(Debug)]
pub struct KeyFileBytes {
    /// The file's content.
    pub bytes: Vec<u8>,
    /// Problems that do not stop the file being used (readable by others).
    pub warnings: Vec<String>,
}

/// A trusted file that could not be read, or may not be trusted.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedFile {
    /// The file (or a directory on its way) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or its directory may be written by others than its owner
    /// (the message says which, and the command that fixes it, and names
    /// the file only in that command).
    #[error("{0}")]
    Unprotected(String),
}

/// Reads the key-set file at `path`, refusing it when it or its directory
/// is writable by anyone but its owner.
pub fn read_key_file(path: &Path) -> Result<KeyFileBytes, KeySetError> {
    read_trusted_file(path, TrustedFile::KeySet).map_err(|err| match err {
        UntrustedFile::Read { path, source } => KeySetError::Read { path, source },
        UntrustedFile::Unprotected(problem) => KeySetError::Unprotected(problem),
    })
}

/// Reads the file at `path`, which holds `what`, refusing it when it or its
/// directory is writable by anyone but its owner, and warning when it holds
/// private keys others may read.
pub fn read_trusted_file(path: &Path, what: TrustedFile) -> Result<KeyFileBytes, UntrustedFile> {
    let unreadable = |source| UntrustedFile::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    let mut warnings = Vec::new();
    check(path, what, &metadata, &mut warnings)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(KeyFileBytes { bytes, warnings })
}

#[cfg(not(unix))]
fn check(
    _: &Path,
    _: TrustedFile,
    _: &std::fs::Metadata,
    _: &mut Vec<String>,
) -> Result<(), UntrustedFile> {
    Ok(())
}

#[cfg(unix)]
fn check(
    path: &Path,
    what: TrustedFile,
    metadata: &std::fs::Metadata,
    warnings: &mut Vec<String>,
) -> Result<(), UntrustedFile> {
    use std::os::unix::fs::PermissionsExt;

    let shown = path.display();
    let real = std::fs::canonicalize(path).map_err(|source| UntrustedFile::Read {
        path: path.to_owned(),
        source,
    })?;
    let through = if real == path {
        String::new()
    } else {
        format!(", through the link to {}", real.display())
    };
    let mode = metadata.permissions().mode() & 0o7777;
    if let Some(who) = writers(mode) {
        return Err(UntrustedFile::Unprotected(format!(
            "it is writable by {who} (mode {mode:04o}{through}): anyone who can write it can {}; \
             run {} {shown}",
            what.if_written(),
            what.fix(),
        )));
    }

    // The directory holding the link, and the one holding the real file:
    // whoever may write either can put another file in its place.
    let link_dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.to_owned(),
        None => Path::new(".").to_owned(),
    };
    let mut dirs = vec![link_dir];
    if let Some(dir) = real.parent() {
        dirs.push(dir.to_owned());
    }
    for dir in dirs {
        let dir_mode = std::fs::metadata(&dir)
            .map_err(|source| UntrustedFile::Read {
                path: dir.clone(),
                source,
            })?
            .permissions()
            .mode()
            & 0o7777;
        let sticky = dir_mode & 0o1000 != 0;
        if let (Some(who), false) = (writers(dir_mode), sticky) {
            return Err(UntrustedFile::Unprotected(format!(
                "its directory {dir} is writable by {who} (mode {dir_mode:04o}) without the sticky \
                 bit: anyone who can write it can put {} in its place; run chmod go-w {dir}",
                what.replacement(),
                dir = dir.display()
            )));
        }
    }

    if let (Some((name, holds)), true) = (what.private(), mode & 0o004 != 0) {
        warnings.push(format!(
            "{name} {shown} is readable by others (mode {mode:04o}{through}) and holds {holds}; \
             run chmod 600 {shown}"
        ));
    }
    Ok(())
}

/// Who besides the owner may write, by the mode's bits.
#[cfg(unix)]
fn writers(mode: u32) -> Option<&'static str> {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => Some("group and others"),
        (true, false) => Some("its group"),
        (false, true) => Some("others"),
        (false, false) => None,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A directory of `dir_mode` holding `keys.json` of `file_mode`.
    fn key_file(dir_mode: u32, file_mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, "{}").unwrap();
        chmod(&path, file_mode);
        chmod(dir.path(), dir_mode);
        (dir, path)
    }

    #[test]
    fn an_owner_only_file_is_read_without_a_word() {
        let (_dir, path) = key_file(0o700, 0o600);
        let read = read_key_file(&path).unwrap();
        assert_eq!(read.bytes, b"{}");
        assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    }

    #[test]
    fn a_file_writable_by_group_or_others_is_refused_by_name() {
        for mode in [0o666, 0o620, 0o602] {
            let (_dir, path) = key_file(0o700, mode);
            let err = read_key_file(&path).unwrap_err().to_string();
            assert!(
                err.contains(&path.display().to_string()) && err.contains("chmod 600"),
                "{mode:o}: {err}"
            );
        }
    }

    #[test]
    fn a_file_readable_by_others_is_used_with_a_warning() {
        let (_dir, path) = key_file(0o755, 0o644);
        let read = read_key_file(&path).unwrap();
        assert_eq!(read.warnings.len(), 1);
        assert!(
            read.warnings[0].contains(&path.display().to_string())
                && read.warnings[0].contains("chmod 600"),
            "{:?}",
            read.warnings
        );
    }

    #[test]
    fn tls_files_are_judged_by_the_same_rules_and_told_apart() {
        for what in [
            TrustedFile::TlsCertificate,
            TrustedFile::TlsPrivateKey,
            TrustedFile::TlsClientCa,
        ] {
            let (_dir, path) = key_file(0o700, 0o646);
            let err = read_trusted_file(&path, what).unwrap_err().to_string();
            assert!(
                err.contains("writable by others") && err.contains(&path.display().to_string()),
                "{what:?}: {err}"
            );
            let (dir, path) = key_file(0o777, 0o600);
            let err = read_trusted_file(&path, what).unwrap_err().to_string();
            assert!(
                err.contains(&dir.path().display().to_string()) && err.contains("sticky"),
                "{what:?}: {err}"
            );
            chmod(dir.path(), 0o700);
        }
        let (_dir, path) = key_file(0o700, 0o666);
        let err = read_trusted_file(&path, TrustedFile::TlsClientCa)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client certificates of their own making")
                && err.contains("admin")
                && err.contains("chmod go-w"),
            "{err}"
        );

        // Certificates are public; a private key others may read is warned
        // about, as the key set is.
        let (_dir, path) = key_file(0o755, 0o644);
        for what in [TrustedFile::TlsCertificate, TrustedFile::TlsClientCa] {
            let read = read_trusted_file(&path, what).unwrap();
            assert!(read.warnings.is_empty(), "{what:?}: {:?}", read.warnings);
        }
        let read = read_trusted_file(&path, TrustedFile::TlsPrivateKey).unwrap();
        assert_eq!(read.bytes, b"{}");
        assert_eq!(read.warnings.len(), 1);
        assert!(
            read.warnings[0].starts_with(&format!(
                "TLS private key {} is readable by others",
                path.display()
            )) && read.warnings[0].contains("chmod 600"),
            "{:?}",
            read.warnings
        );
    }

    #[test]
    fn the_key_set_messages_are_unchanged() {
        let (_dir, path) = key_file(0o700, 0o666);
        assert_eq!(
            read_key_file(&path).unwrap_err().to_string(),
            format!(
                "it is writable by group and others (mode 0666): anyone who can write it can make \
                 inkan sign with their own key; run chmod 600 {}",
                path.display()
            )
        );
        let (dir, path) = key_file(0o777, 0o600);
        assert_eq!(
            read_key_file(&path).unwrap_err().to_string(),
            format!(
                "its directory {dir} is writable by group and others (mode 0777) without the \
                 sticky bit: anyone who can write it can put their own key set in its place; run \
                 chmod go-w {dir}",
                dir = dir.path().display()
            )
        );
        chmod(dir.path(), 0o700);
        let (_dir, path) = key_file(0o755, 0o644);
        assert_eq!(
            read_key_file(&path).unwrap().warnings,
            [format!(
                "key set {path} is readable by others (mode 0644) and holds private keys; run \
                 chmod 600 {path}",
                path = path.display()
            )]
        );
    }

    #[test]
    fn a_writable_directory_is_refused_unless_sticky() {
        let (dir, path) = key_file(0o777, 0o600);
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(
            err.contains(&dir.path().display().to_string()) && err.contains("sticky"),
            "{err}"
        );
        chmod(dir.path(), 0o1777);
        assert!(read_key_file(&path).is_ok(), "a sticky directory is /tmp");
        chmod(dir.path(), 0o700);
    }

    #[test]
    fn a_kubernetes_secret_mount_is_judged_through_its_links() {
        // The volume root is sticky and world-writable; the real file sits
        // in a timestamped directory behind `..data`.
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("..2027_01_20_08_00_00.1");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("keys.json"), "{}").unwrap();
        chmod(&data.join("keys.json"), 0o400);
        chmod(&data, 0o755);
        symlink(&data, root.path().join("..data")).unwrap();
        symlink("..data/keys.json", root.path().join("keys.json")).unwrap();
        chmod(root.path(), 0o1777);
        let path = root.path().join("keys.json");
        assert!(read_key_file(&path).is_ok());

        // The real file made writable is refused, though the link is not.
        chmod(&data.join("keys.json"), 0o666);
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("through the link"), "{err}");
        chmod(&data.join("keys.json"), 0o400);
        // So is its real directory, made writable.
        chmod(&data, 0o777);
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("..2027_01_20_08_00_00.1"), "{err}");
        chmod(&data, 0o755);
        chmod(root.path(), 0o700);
    }
}
