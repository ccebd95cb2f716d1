//! The run lock: an OS file lock (`flock`) on `<root>/avarisk.lock` (one per shard when sharded), so overlapping cron
//! runs never interleave. The kernel releases it when the holder dies, however it dies; the file itself stays and
//! only says who held it last.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs4::FileExt;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another avarisk run holds {path} ({holder}); wait for it, or pass --wait to queue behind it")]
    Held { path: PathBuf, holder: String },
    #[error("cannot take the run lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: std::fs::File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock at `path`; with `wait`, blocks until the holder is gone, otherwise fails at once with
    /// [`LockError::Held`].
    pub fn acquire(path: &Path, wait: bool, run_id: &str) -> Result<RunLock, LockError> {
        let io = |source| LockError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(io)?;
        }
        let file =
            std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path).map_err(io)?;
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => break,
                Err(fs4::TryLockError::WouldBlock) if wait => std::thread::sleep(Duration::from_millis(200)),
                Err(fs4::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
                    return Err(LockError::Held { path: path.to_owned(), holder });
                }
                Err(fs4::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        file.set_len(0).map_err(io)?;
        (&file).write_all(format!("pid {} run {run_id}\n", std::process::id()).as_bytes()).map_err(io)?;
        Ok(RunLock { file, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("avarisk.lock");
        let first = RunLock::acquire(&p, false, "r1").unwrap();
        match RunLock::acquire(&p, false, "r2") {
            Err(LockError::Held { holder, .. }) => assert!(holder.contains("run r1"), "{holder}"),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(&p, false, "r3").unwrap();
    }
}
