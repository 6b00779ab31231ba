//! File-system events for the watch directory, made into what the loop acts on: the
//! inotify watch ([`Watcher`]), the debounce of the paths it reports ([`Watching`]), and the
//! check that the directory itself was not replaced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a file must see no events before it is read: writes settled, renames done.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// What the watcher reports.
#[derive(Debug)]
pub enum WatchEvent {
    /// These paths changed (created, written, removed or renamed), after writes settled.
    Paths(Vec<PathBuf>),
    /// Events were lost; rescan everything.
    Rescan,
}

/// File-system notifications for the watch directory. Dropping it stops them. The events
/// come from the kernel (inotify) as they happen, with no polling thread; the daemon's loop
/// debounces them ([`Watching`]).
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
}

/// Why watching could not start; the daemon then relies on periodic rescans.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "cannot watch {dir}: the inotify watch limit is reached; raise it with `sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it); until then changes are seen at each rescan"
    )]
    Limit { dir: PathBuf },
    #[error("cannot watch {dir}: {message}; changes are seen at each rescan")]
    Other { dir: PathBuf, message: String },
}

impl Watcher {
    /// Starts watching `dir` recursively; events go to `tx`.
    pub fn start(dir: &Path, tx: mpsc::UnboundedSender<WatchEvent>) -> Result<Watcher, WatchError> {
        use notify::Watcher as _;
        let to_error = |e: notify::Error| match e.kind {
            notify::ErrorKind::MaxFilesWatch => WatchError::Limit { dir: dir.into() },
            notify::ErrorKind::Io(ref io) if io.raw_os_error() == Some(28) => {
                WatchError::Limit { dir: dir.into() }
            }
            _ => WatchError::Other {
                dir: dir.into(),
                message: e.to_string(),
            },
        };
        let mut watcher =
            notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
                let event = match result {
                    Ok(event) if event.need_rescan() => WatchEvent::Rescan,
                    Ok(event) if event.kind.is_access() || event.paths.is_empty() => return,
                    Ok(event) => WatchEvent::Paths(event.paths),
                    Err(e) => {
                        tracing::warn!("file watching: {e}");
                        WatchEvent::Rescan
                    }
                };
                // The daemon may be shutting down; a lost hint is harmless.
                let _ = tx.send(event);
            })
            .map_err(to_error)?;
        watcher
            .watch(dir, RecursiveMode::Recursive)
            .map_err(to_error)?;
        Ok(Watcher { _watcher: watcher })
    }
}

/// What the loop is to do about the watch directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// These paths' writes have settled: read them again.
    Paths(Vec<PathBuf>),
    /// Events were lost: rescan everything.
    Rescan,
}

/// The watcher and its debouncer, one per daemon: events in, [`Due`] out. A path is due once
/// it has seen no event for [`DEBOUNCE`], so an editor's rename-save or a `cp` in progress is
/// read once, whole.
pub struct Watching {
    /// Whether to watch at all (`run`; `once` only scans).
    enabled: bool,
    tx: mpsc::UnboundedSender<WatchEvent>,
    rx: mpsc::UnboundedReceiver<WatchEvent>,
    watcher: Option<Watcher>,
    /// The directory's device and inode when the watch was set: a directory replaced as a
    /// whole (rm -r, then a new one) is a new inode the old watch sees nothing from.
    identity: Option<(u64, u64)>,
    /// Paths with events, and when each will have settled.
    settling: HashMap<PathBuf, Instant>,
}

impl Watching {
    pub fn start(dir: &Path, enabled: bool) -> Watching {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut w = Watching {
            enabled,
            tx,
            rx,
            watcher: None,
            identity: None,
            settling: HashMap::new(),
        };
        w.restart(dir);
        w
    }

    /// Watches `dir` afresh (a new directory after a reload, or the same one replaced).
    pub fn restart(&mut self, dir: &Path) {
        self.watcher = None;
        self.identity = dir_identity(dir);
        if !self.enabled {
            return;
        }
        match Watcher::start(dir, self.tx.clone()) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// At each periodic rescan: watches `dir` again if it was replaced since the watch began.
    pub fn check_replaced(&mut self, dir: &Path) {
        if self.enabled && dir_identity(dir) != self.identity {
            tracing::info!(dir = %dir.display(), "the watch dir was replaced; watching the new one");
            self.restart(dir);
        }
    }

    /// Forgets the paths waiting to settle (a full rescan reads them anyway).
    pub fn clear(&mut self) {
        self.settling.clear();
    }

    /// The next thing to act on. Cancel-safe: events taken in are kept in `self`, so dropping
    /// the future (another arm of the loop's `select!` won) loses nothing.
    pub async fn next(&mut self) -> Due {
        loop {
            let settle_at = self.settling.values().min().copied();
            tokio::select! {
                Some(event) = self.rx.recv() => {
                    let settled = Instant::now() + DEBOUNCE;
                    let mut rescan = false;
                    for ev in std::iter::once(event).chain(std::iter::from_fn(|| self.rx.try_recv().ok())) {
                        match ev {
                            WatchEvent::Paths(paths) => {
                                for p in paths {
                                    self.settling.insert(p, settled);
                                }
                            }
                            WatchEvent::Rescan => rescan = true,
                        }
                    }
                    if rescan {
                        self.settling.clear();
                        return Due::Rescan;
                    }
                }
                _ = tokio::time::sleep_until(settle_at.unwrap_or_else(Instant::now)), if settle_at.is_some() => {
                    let now = Instant::now();
                    let paths: Vec<PathBuf> = self
                        .settling
                        .iter()
                        .filter(|(_, t)| **t <= now)
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in &paths {
                        self.settling.remove(p);
                    }
                    if !paths.is_empty() {
                        return Due::Paths(paths);
                    }
                }
            }
        }
    }

    /// The sender the watcher uses, for tests that stand in for it.
    #[cfg(test)]
    fn sender(&self) -> mpsc::UnboundedSender<WatchEvent> {
        self.tx.clone()
    }
}

/// Device and inode of a directory, to notice when it is replaced.
fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paths_are_due_once_their_events_have_settled_and_a_rescan_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Watching::start(dir.path(), false);
        let tx = w.sender();
        let (a, b) = (PathBuf::from("/x/a.toml"), PathBuf::from("/x/b.toml"));
        tx.send(WatchEvent::Paths(vec![a.clone()])).unwrap();
        let started = Instant::now();
        // b keeps changing: a is due first, alone, DEBOUNCE after its event.
        let feeder = {
            let tx = tx.clone();
            let b = b.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    tx.send(WatchEvent::Paths(vec![b.clone()])).unwrap();
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            })
        };
        assert_eq!(w.next().await, Due::Paths(vec![a]));
        assert_eq!(started.elapsed(), DEBOUNCE);
        assert_eq!(w.next().await, Due::Paths(vec![b.clone()]));
        // The last event for b came at 240 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(240) + DEBOUNCE);
        feeder.await.unwrap();
        tx.send(WatchEvent::Paths(vec![b])).unwrap();
        tx.send(WatchEvent::Rescan).unwrap();
        assert_eq!(w.next().await, Due::Rescan, "a rescan reads everything");
        assert!(w.settling.is_empty());
    }
}
