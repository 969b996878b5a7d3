//! A private key's file: its owner's alone from before its first byte, on every OS.
//!
//! - Unix (Linux, macOS): created with mode 0600 (`O_CREAT | O_EXCL`, so an existing file or a
//!   planted symlink is never opened).
//! - Windows: created exclusively with share mode 0, so no other handle can read or write it
//!   while it is open. Its DACL is then replaced, before a byte is written, by one entry that
//!   gives the current user full control (`icacls /inheritance:r /grant:r DOMAIN\USER:F`;
//!   share modes do not govern `WRITE_DAC`, so icacls can set it while the handle is held).
//!   Afterwards no other account can open the file, Administrators and SYSTEM included (an
//!   administrator can still take ownership: no file permission stops one). If the ACL cannot
//!   be set, the file is removed and the command fails: a key is never left readable by others.
//!   The standard library cannot set a security descriptor at creation, and this crate has no
//!   `unsafe` to call the Win32 API, hence `icacls`, which every Windows has in System32.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::Context;

/// Creates `path` for writing, readable and writable by the current user only; an existing
/// file is an error (a key is never overwritten).
pub(crate) fn create(path: &Path) -> anyhow::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        options.share_mode(0);
    }
    let file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    #[cfg(windows)]
    if let Err(error) = restrict_to_current_user(path) {
        drop(file);
        let _ignored = std::fs::remove_file(path);
        return Err(error);
    }
    Ok(file)
}

/// Replaces the DACL of `path` with full control for the current user only.
#[cfg(windows)]
fn restrict_to_current_user(path: &Path) -> anyhow::Result<()> {
    let variable = |name: &str| {
        std::env::var_os(name).with_context(|| {
            format!(
                "restricting {} to its owner: {name} is not set",
                path.display()
            )
        })
    };
    let icacls = Path::new(&variable("SystemRoot")?).join(r"System32\icacls.exe");
    let arguments = icacls_arguments(path, &variable("USERDOMAIN")?, &variable("USERNAME")?);
    let output = std::process::Command::new(&icacls)
        .args(&arguments)
        .output()
        .with_context(|| format!("running {}", icacls.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "restricting {} to its owner: {} {}: {}",
        path.display(),
        icacls.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// icacls' arguments: drop the inherited entries and grant `DOMAIN\USER` full control, replacing
/// any explicit entry.
#[cfg(any(windows, test))]
fn icacls_arguments(
    path: &Path,
    domain: &std::ffi::OsStr,
    user: &std::ffi::OsStr,
) -> Vec<std::ffi::OsString> {
    let mut grant = domain.to_owned();
    grant.push(r"\");
    grant.push(user);
    grant.push(":F");
    vec![
        path.as_os_str().to_owned(),
        "/inheritance:r".into(),
        "/grant:r".into(),
        grant,
    ]
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    #[test]
    fn icacls_removes_inherited_entries_and_grants_only_the_user() {
        let arguments = super::icacls_arguments(
            Path::new("owner.pem"),
            OsStr::new("HOST"),
            OsStr::new("ana"),
        );
        assert_eq!(
            arguments,
            ["owner.pem", "/inheritance:r", "/grant:r", r"HOST\ana:F"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_is_owner_only_from_creation_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let directory = std::env::temp_dir().join(format!("chiaro-key-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("a scratch directory");
        let path = directory.join("owner.pem");
        let _ignored = std::fs::remove_file(&path);
        drop(super::create(&path).expect("a new file"));
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let error = super::create(&path).expect_err("an existing key is not overwritten");
        assert!(format!("{error:#}").contains("creating"), "{error:#}");
    }
}
