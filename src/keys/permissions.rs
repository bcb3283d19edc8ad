//! Whether a key-set file may be trusted, judged as ssh judges a private
//! key. Whoever can write the file, or replace it in its directory, can make
//! inkan sign with a key of their own, so a file or directory writable by
//! group or others is refused. A file others can read is only warned about:
//! it leaks the keys but lets nobody plant one, and refusing it would stop
//! servers that run today.
//!
//! Symlinks are followed: a Kubernetes Secret mount is
//! `keys.json -> ..data/keys.json`, so the real file is judged, and both the
//! link's directory and the real file's directory. A directory with the
//! sticky bit set (Kubernetes' secret volume root, `/tmp`) lets nobody
//! replace a file they do not own, so it is accepted, as ssh accepts `/tmp`.
//!
//! The file is judged by the handle it is then read through, so it cannot
//! be swapped between the check and the read.

use std::{io::Read, path::Path};

use super::KeySetError;

/// A key-set file's bytes, read from a file that passed the checks, and
/// what the operator should hear about it.
#[derive(Debug)]
pub struct KeyFileBytes {
    /// The file's content.
    pub bytes: Vec<u8>,
    /// Problems that do not stop the file being used (readable by others).
    pub warnings: Vec<String>,
}

/// Reads the key-set file at `path`, refusing it when it or its directory
/// is writable by anyone but its owner.
pub fn read_key_file(path: &Path) -> Result<KeyFileBytes, KeySetError> {
    let unreadable = |source| KeySetError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    let mut warnings = Vec::new();
    check(path, &metadata, &mut warnings)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(KeyFileBytes { bytes, warnings })
}

#[cfg(not(unix))]
fn check(_: &Path, _: &std::fs::Metadata, _: &mut Vec<String>) -> Result<(), KeySetError> {
    Ok(())
}

#[cfg(unix)]
fn check(
    path: &Path,
    metadata: &std::fs::Metadata,
    warnings: &mut Vec<String>,
) -> Result<(), KeySetError> {
    use std::os::unix::fs::PermissionsExt;

    let shown = path.display();
    let real = std::fs::canonicalize(path).map_err(|source| KeySetError::Read {
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
        return Err(KeySetError::Unprotected(format!(
            "it is writable by {who} (mode {mode:04o}{through}): anyone who can write it can make \
             inkan sign with their own key; run chmod 600 {shown}"
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
            .map_err(|source| KeySetError::Read {
                path: dir.clone(),
                source,
            })?
            .permissions()
            .mode()
            & 0o7777;
        let sticky = dir_mode & 0o1000 != 0;
        if let (Some(who), false) = (writers(dir_mode), sticky) {
            return Err(KeySetError::Unprotected(format!(
                "its directory {dir} is writable by {who} (mode {dir_mode:04o}) without the sticky \
                 bit: anyone who can write it can put their own key set in its place; run chmod go-w {dir}",
                dir = dir.display()
            )));
        }
    }

    if mode & 0o004 != 0 {
        warnings.push(format!(
            "key set {shown} is readable by others (mode {mode:04o}{through}) and holds private keys; \
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
