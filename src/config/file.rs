//! Opening a file the config names (the secret key, a notify target's URL, the holiday list)
//! so that no such file can hang the program: the open does not wait for a FIFO's writer,
//! anything but a regular file is refused before a byte is read, and reads are bounded by
//! the caller.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

/// Why a named file could not be opened.
#[derive(Debug)]
pub(super) enum OpenError {
    Io(io::Error),
    /// A directory, FIFO, socket or device.
    NotAFile,
}

/// Opens `path` for reading and returns it with its metadata, if it is a regular file.
///
/// The open is non-blocking. fifo(7): "Normally, opening the FIFO blocks until the other end
/// is opened also. A process can open a FIFO in nonblocking mode. In this case, opening for
/// read-only succeeds even if no one has opened on the write side yet". The type is then
/// checked on the opened descriptor, not on the path, so it cannot change in between.
/// O_NONBLOCK "has no effect for regular files" (open(2)): the reads that follow are
/// ordinary ones.
pub(super) fn open_regular(path: &Path) -> Result<(File, Metadata), OpenError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(OpenError::Io)?;
    let meta = file.metadata().map_err(OpenError::Io)?;
    if meta.is_file() {
        Ok((file, meta))
    } else {
        Err(OpenError::NotAFile)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_directory_and_a_device_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for path in [fifo.as_path(), dir.path(), Path::new("/dev/zero")] {
            assert!(
                matches!(open_regular(path), Err(OpenError::NotAFile)),
                "{}",
                path.display()
            );
        }
        let regular = dir.path().join("key");
        std::fs::write(&regular, "k").unwrap();
        let (_, meta) = open_regular(&regular).unwrap();
        assert_eq!(meta.len(), 1);
        assert!(matches!(
            open_regular(&dir.path().join("missing")),
            Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
    }
}
