//! Tidewatch's own directories and files are private to the user: directories it creates are
//! 0700, files 0600 (docs/reliability.md#files), so another account on the machine reads no
//! engine addresses, registry names or check history.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, the ones created here 0700. An existing directory
/// keeps the permissions its owner gave it.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Options that create a new file as 0600.
pub(crate) fn new_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes an existing file 0600 (SQLite creates its files with the umask's permissions).
pub(crate) fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if path.exists() {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
    }
    let _ = path;
    Ok(())
}
