//! Writing outputs so that a reader (or the user, after a crash) never finds half a file, and
//! so that nothing the tool did not write is lost.
//!
//! A file goes to a temporary sibling `NAME.tmp-PID` that is renamed over `NAME` once
//! complete. Temporaries left by a killed process (its PID no longer running) are removed the
//! next time the same output is written.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary sibling, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_sibling(path)?;
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()
    })();
    if let Err(e) = written.and_then(|_| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// `NAME.tmp-PID` beside `path`, after removing stale temporaries of `path` left by
/// processes that no longer run.
pub fn temp_sibling(path: &Path) -> std::io::Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{}: not a file name", path.display()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    clean_stale(&parent, &name);
    Ok(parent.join(format!("{name}.tmp-{}", std::process::id())))
}

/// Removes `NAME.tmp-PID` and `NAME.tmp-PID.old` entries in `dir` whose process is gone.
fn clean_stale(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{name}.tmp-");
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.strip_suffix(".old").unwrap_or(rest);
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || process_runs(pid) {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
    }
}

fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        // Without /proc we cannot tell: keep it.
        true
    }
}

/// True when `dir` does not exist or is an empty directory.
pub fn is_absent_or_empty(dir: &Path) -> std::io::Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_cleans_what_dead_processes_left() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.csv");
        // A temporary of a process that cannot be running (PIDs are below 2^22 on Linux).
        let stale = d.path().join("out.csv.tmp-4194999");
        fs::write(&stale, "half").unwrap();
        let other = d.path().join("other.csv.tmp-4194999");
        fs::write(&other, "not ours to clean").unwrap();
        write_atomic(&p, b"a,b\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"a,b\n");
        assert!(!stale.exists());
        assert!(
            other.exists(),
            "only temporaries of the same output are removed"
        );
        write_atomic(&p, b"c\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"c\n");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }
}
