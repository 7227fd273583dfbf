//! Advisory locks on result directories, so two `sweep` processes never train the same run or
//! interleave writes. The OS releases a lock when its holder dies (even on SIGKILL), so a stale
//! lock file never blocks a later run.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Try to take the lock at `path`. `Ok(None)` means another process holds it; `holder` then
/// says who, from what that process wrote into the file.
pub(crate) fn try_lock(path: &Path, what: &str) -> Result<std::result::Result<Lock, String>> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(err)?;
            file.rewind().map_err(err)?;
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            writeln!(
                file,
                "{what} by pid {} on {}",
                std::process::id(),
                host.trim()
            )
            .map_err(err)?;
            file.sync_all().map_err(err)?;
            Ok(Ok(Lock { file }))
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Err(holder.trim().to_string()))
        }
        Err(TryLockError::Error(source)) => Err(err(source)),
    }
}

/// Whether some process holds the lock at `path` now: asked of the lock itself (a shared
/// try-lock on a read-only handle, released at once), never of the pid written in the file, so a
/// dead or reused pid never reads as running. A missing file is not held.
pub(crate) fn is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

/// [`try_lock`], asked again for a moment when refused: a reader's [`is_held`] probe holds
/// the lock for microseconds, and must never make a worker think its run is taken.
pub(crate) fn try_lock_patiently(
    path: &Path,
    what: &str,
) -> Result<std::result::Result<Lock, String>> {
    let mut last = String::new();
    for attempt in 0..5 {
        match try_lock(path, what)? {
            Ok(lock) => return Ok(Ok(lock)),
            Err(holder) => last = holder,
        }
        std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
    }
    Ok(Err(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_names_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".lock");
        let held = try_lock(&p, "sweep run").unwrap().unwrap();
        let refused = try_lock(&p, "sweep run").unwrap().unwrap_err();
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        assert!(is_held(&p));
        drop(held);
        assert!(!is_held(&p), "released");
        assert!(!is_held(&d.path().join("absent")));
        assert!(try_lock(&p, "sweep run").unwrap().is_ok());
    }
}
