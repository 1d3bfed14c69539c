//! Files the portal writes (H4): the data directory is 0700 and every file in it 0600 —
//! database, WAL, keys, outbox mails — whatever umask the portal was started with. One place
//! decides the modes; nothing else creates files.

use std::path::Path;

use anyhow::Context;

/// The folder channels' files live in: outside any web root, private to the portal (H4).
pub fn channel_files(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("files")
}

/// Where the bytes of one channel file are kept, under its server-made id (F3).
pub fn channel_file(data_dir: &Path, file_id: &str) -> std::path::PathBuf {
    channel_files(data_dir).join(file_id)
}

/// Makes every file this process creates from now on private to its owner. SQLite (database,
/// WAL, shared memory) and the mail outbox create their own files; the process mask is the one
/// setting they all obey.
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Creates a directory (and its parents) and makes it 0700; an existing one is tightened too.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// Tightens files an earlier version left readable to others (a database created under umask
/// 022, say) to 0600; directories inside to 0700.
pub fn tighten_existing(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() {
            set_mode(&entry.path(), 0o600)?;
        } else if kind.is_dir() {
            set_mode(&entry.path(), 0o700)?;
            tighten_existing(&entry.path())?;
        }
    }
    Ok(())
}

/// Writes a new file readable by its owner only; refuses to overwrite.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}
