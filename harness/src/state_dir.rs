//! A world's state directory: the one the user named (locked for the world's life) or a fresh
//! temporary one (removed with the world).
//!
//! The lock (issue 11, defect 4: two `memsim up` on one directory both started, and the second
//! deleted the first's files when it stopped): an advisory `flock` on `memsim.lock` in the
//! directory, taken before anything is written there and held until the world is dropped. The
//! holder writes its pid into the file, so a second world names it. The kernel releases a
//! `flock` when its holder dies, so the lock of a killed world is simply taken over (and its
//! pid overwritten). The lock file itself stays: deleting it would let a third process lock
//! a new file while a second still holds the old one.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

/// The lock file in a state directory.
pub const LOCK_FILE: &str = "memsim.lock";

/// A state directory in use by another world.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("--state-dir {dir} is in use by another memsim world ({holder}); stop it, or give another directory")]
    Busy { dir: String, holder: String },
    #[error("--state-dir {dir}: {error}")]
    Io { dir: String, error: std::io::Error },
}

/// The lock held on a state directory; dropping it clears the pid and releases the lock.
#[derive(Debug)]
pub struct DirLock {
    file: File,
}

impl DirLock {
    /// Lock `dir` (which exists) for this process, or say who holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let shown = dir.display().to_string();
        let io = |error| LockError::Io { dir: shown.clone(), error };
        // Neither created afresh nor truncated: the holder's pid must survive a failed attempt.
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join(LOCK_FILE)).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "pid not yet written".to_string(),
                };
                return Err(LockError::Busy { dir: shown, holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DirLock { file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Still held: nobody else can be writing the file now. Closing it releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Where a world keeps its files.
#[derive(Debug)]
pub enum StateDir {
    Given { path: PathBuf, _lock: DirLock },
    Temp(tempfile::TempDir),
}

impl StateDir {
    pub fn path(&self) -> &Path {
        match self {
            StateDir::Given { path, .. } => path,
            StateDir::Temp(t) => t.path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 11 (defect 4): a second world on a locked directory is refused and names the holder.
    #[test]
    fn a_held_lock_names_its_holder_and_a_released_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap().trim(), std::process::id().to_string(), "the refused attempt wrote nothing");
        drop(first);
        let _again = DirLock::acquire(dir.path()).unwrap();
    }
}
