//! Moving a checked map set into place: the staging folder, the swap of `<date>/`, the `latest` symlink; each
//! move can be undone, so a failure after it puts the previous state back.
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{PublishError, ITEM_JSON};

/// The hidden staging folder `<site>/.staging-<date>-<pid>`; removed when dropped (whatever it holds by then: the
/// unpublished new map, or the replaced old one after a swap).
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
}

impl Staging {
    /// Creates the staging folder, first removing leftovers of killed runs for the same date.
    pub fn new(site_dir: &Path, date: NaiveDate) -> Result<Staging, PublishError> {
        fs_err::create_dir_all(site_dir).map_err(PublishError::io("create", site_dir))?;
        for prefix in [format!(".staging-{date}-"), format!(".old-{date}-")] {
            for e in fs_err::read_dir(site_dir).map_err(PublishError::io("list", site_dir))?.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let path = site_dir.join(format!(".staging-{date}-{}", std::process::id()));
        fs_err::create_dir(&path).map_err(PublishError::io("create", &path))?;
        Ok(Staging { path })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Atomically exchanges two paths (Linux `renameat2(RENAME_EXCHANGE)`, same filesystem). `Err` where the kernel or
/// filesystem cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths; the call only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no atomic exchange on this system"))
}

/// `<date>/` swapped in; [`Swap::undo`] puts the previous folder back, [`Swap::finish`] deletes it.
#[derive(Debug)]
pub struct Swap {
    staging: Staging,
    dest: PathBuf,
    /// Where the previous `<date>/` is now: the staging path (exchanged) or an `.old-*` folder; `None` if none was.
    old: Option<PathBuf>,
}

/// Moves the staging folder to `dest`, replacing a previous one.
pub fn swap_in(staging: Staging, dest: &Path) -> Result<Swap, PublishError> {
    if std::fs::symlink_metadata(dest).is_err() {
        fs_err::rename(staging.path(), dest).map_err(PublishError::io("move the new map into", dest))?;
        return Ok(Swap { staging, dest: dest.to_owned(), old: None });
    }
    if exchange(staging.path(), dest).is_ok() {
        let old = staging.path().to_owned();
        return Ok(Swap { staging, dest: dest.to_owned(), old: Some(old) });
    }
    // No atomic exchange: rename the old folder aside, the new one in; on failure the old one back.
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let aside = dest.with_file_name(format!(".old-{name}-{}", std::process::id()));
    fs_err::rename(dest, &aside).map_err(PublishError::io("move the previous map aside from", dest))?;
    if let Err(e) = fs_err::rename(staging.path(), dest) {
        let _ = std::fs::rename(&aside, dest);
        return Err(PublishError::io("move the new map into", dest)(e));
    }
    Ok(Swap { staging, dest: dest.to_owned(), old: Some(aside) })
}

impl Swap {
    /// Puts the previous `<date>/` back (or removes the new one when there was none); the new map goes with the
    /// staging folder.
    pub fn undo(self) {
        let staged = self.staging.path().to_owned();
        match &self.old {
            Some(old) if *old == staged => {
                if exchange(old, &self.dest).is_err() {
                    let _ = std::fs::remove_dir_all(&self.dest);
                    let _ = std::fs::rename(old, &self.dest);
                }
            }
            Some(aside) => {
                let _ = std::fs::rename(&self.dest, &staged);
                let _ = std::fs::rename(aside, &self.dest);
            }
            None => {
                let _ = std::fs::rename(&self.dest, &staged);
            }
        }
        tracing::warn!(path = %self.dest.display(), "publish undone: the previous map is back in place");
    }
    /// Deletes the previous `<date>/`.
    pub fn finish(self) {
        if let Some(old) = &self.old {
            let _ = std::fs::remove_dir_all(old);
        }
    }
}

/// The newest date folder holding an item.json in `site_dir`.
pub fn newest_date(site_dir: &Path) -> Result<Option<NaiveDate>, PublishError> {
    Ok(dated_dirs(site_dir)?.into_iter().map(|(d, _)| d).max())
}

/// Every `<date>/` folder holding an item.json, sorted by date.
pub fn dated_dirs(site_dir: &Path) -> Result<Vec<(NaiveDate, PathBuf)>, PublishError> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(site_dir).map_err(PublishError::io("list", site_dir))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(date) = name.parse::<NaiveDate>() else { continue };
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) && e.path().join(ITEM_JSON).is_file() {
            out.push((date, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// `latest` switched; [`Latest::undo`] points it back.
#[derive(Debug)]
pub struct Latest {
    link: PathBuf,
    previous: Option<PathBuf>,
}

/// Points the `latest` symlink at `<date>` (relative), replacing it atomically by renaming a new link over it.
pub fn switch_latest(link: &Path, date: NaiveDate) -> Result<Latest, PublishError> {
    let previous = match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => Some(fs_err::read_link(link).map_err(PublishError::io("read", link))?),
        Ok(_) => {
            return Err(PublishError::Input {
                path: link.display().to_string(),
                message: "is not a symlink: move it away, avarisk keeps `latest` as a symlink to the newest date"
                    .into(),
            })
        }
        Err(_) => None,
    };
    point(link, Path::new(&date.to_string()))?;
    Ok(Latest { link: link.to_owned(), previous })
}

fn point(link: &Path, target: &Path) -> Result<(), PublishError> {
    let tmp = link.with_file_name(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    symlink(target, &tmp).map_err(PublishError::io("create the symlink", &tmp))?;
    fs_err::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        PublishError::io("switch", link)(e)
    })
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "`latest` needs symlinks (Unix)"))
}

impl Latest {
    pub fn undo(self) {
        match &self.previous {
            Some(t) => {
                let _ = point(&self.link, t);
            }
            None => {
                let _ = std::fs::remove_file(&self.link);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_replaces_and_undo_restores() {
        let dir = tempfile::tempdir().unwrap();
        let date = NaiveDate::from_ymd_opt(2021, 2, 15).unwrap();
        let dest = dir.path().join("2021-02-15");
        fs_err::create_dir(&dest).unwrap();
        fs_err::write(dest.join("f"), "old").unwrap();

        let s = Staging::new(dir.path(), date).unwrap();
        fs_err::write(s.path().join("f"), "new").unwrap();
        let swap = swap_in(s, &dest).unwrap();
        assert_eq!(fs_err::read_to_string(dest.join("f")).unwrap(), "new");
        swap.undo();
        assert_eq!(fs_err::read_to_string(dest.join("f")).unwrap(), "old");

        let s = Staging::new(dir.path(), date).unwrap();
        fs_err::write(s.path().join("f"), "newer").unwrap();
        swap_in(s, &dest).unwrap().finish();
        assert_eq!(fs_err::read_to_string(dest.join("f")).unwrap(), "newer");
        let names: Vec<_> = fs_err::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("2021-02-15")], "no staging or old folder left");
    }

    #[test]
    fn latest_switches_and_undoes() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("latest");
        let d1 = NaiveDate::from_ymd_opt(2021, 2, 14).unwrap();
        switch_latest(&link, d1).unwrap();
        let l = switch_latest(&link, d1.succ_opt().unwrap()).unwrap();
        assert_eq!(fs_err::read_link(&link).unwrap(), Path::new("2021-02-15"));
        l.undo();
        assert_eq!(fs_err::read_link(&link).unwrap(), Path::new("2021-02-14"));
    }
}
