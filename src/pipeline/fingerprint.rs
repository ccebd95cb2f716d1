//! Fingerprints of what a unit of work reads and writes: SHA-256 over the stage parameters, the site configuration
//! and the content of files (directories: every file under them, in path order). The ledger compares them to decide
//! whether a unit must run again.
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::ingest::weather;

/// Something a unit reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A file or a directory, by content. A missing one hashes as "missing" (the stage reports the error).
    Path(PathBuf),
    /// The rows of a weather store whose date lies in `from..=to` (other days do not change the unit's result).
    WeatherRows { path: PathBuf, from: NaiveDate, to: NaiveDate },
}

/// An error reading an input or output to fingerprint it.
#[derive(Debug, thiserror::Error)]
#[error("cannot fingerprint {path}: {reason}")]
pub struct FingerprintError {
    pub path: PathBuf,
    pub reason: String,
}

/// Hash of `key` (stage parameters, site configuration, anything else that shapes the result) and `inputs`.
pub fn inputs(key: &str, inputs: &[Input]) -> Result<String, FingerprintError> {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    for input in inputs {
        match input {
            Input::Path(p) => {
                h.update(b"\0path\0");
                h.update(p.to_string_lossy().as_bytes());
                path_into(&mut h, p)?;
            }
            Input::WeatherRows { path, from, to } => {
                h.update(format!("\0weather\0{}\0{from}\0{to}\0", path.display()).as_bytes());
                if path.exists() {
                    let rows = weather::store::load(path)
                        .map_err(|e| FingerprintError { path: path.clone(), reason: e.to_string() })?;
                    for r in rows.iter().filter(|r| r.date >= *from && r.date <= *to) {
                        h.update(format!("{r:?}\n").as_bytes());
                    }
                } else {
                    h.update(b"missing");
                }
            }
        }
    }
    Ok(hex(h))
}

/// Hash of the content of `outputs`, or `None` when one of them is missing.
pub fn outputs(outputs: &[PathBuf]) -> Result<Option<String>, FingerprintError> {
    let mut h = Sha256::new();
    for p in outputs {
        if !p.exists() {
            return Ok(None);
        }
        h.update(p.to_string_lossy().as_bytes());
        path_into(&mut h, p)?;
    }
    Ok(Some(hex(h)))
}

fn path_into(h: &mut Sha256, p: &Path) -> Result<(), FingerprintError> {
    let err = |e: std::io::Error| FingerprintError { path: p.to_owned(), reason: e.to_string() };
    if !p.exists() {
        h.update(b"\0missing\0");
        return Ok(());
    }
    if p.is_dir() {
        let mut entries: Vec<PathBuf> =
            fs_err::read_dir(p).map_err(err)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            // Staged files of a run in progress (`.<name>.<pid>.tmp`) are not part of the content.
            if e.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".tmp")) {
                continue;
            }
            h.update(e.file_name().unwrap_or_default().to_string_lossy().as_bytes());
            path_into(h, &e)?;
        }
        return Ok(());
    }
    let mut f = fs_err::File::open(p).map_err(err)?;
    let mut buf = vec![0u8; 1 << 20];
    h.update(b"\0file\0");
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(())
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_not_mtime_decides_and_a_missing_output_is_none() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.bin");
        std::fs::write(&a, b"one").unwrap();
        let first = inputs("k", &[Input::Path(a.clone())]).unwrap();
        std::fs::write(&a, b"one").unwrap();
        assert_eq!(first, inputs("k", &[Input::Path(a.clone())]).unwrap(), "rewriting the same bytes keeps the hash");
        assert_ne!(first, inputs("other params", &[Input::Path(a.clone())]).unwrap());
        std::fs::write(&a, b"two").unwrap();
        assert_ne!(first, inputs("k", &[Input::Path(a.clone())]).unwrap());
        assert!(outputs(std::slice::from_ref(&a)).unwrap().is_some());
        assert_eq!(outputs(&[a, d.path().join("gone.tif")]).unwrap(), None);
    }
}
