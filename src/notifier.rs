//! What the daemon tells systemd (`READY=1`, `RELOADING=1`, `STOPPING=1`, `WATCHDOG=1`,
//! `STATUS=`), over the notify socket, never blocking the loop. `STATUS=` lines are sent when
//! they change, at most once a second: [`Notifier::status`] keeps a newer line waiting, and the
//! loop sends it when [`Notifier::due`] says.

use std::time::Duration;

use tokio::time::Instant;

/// How often `STATUS=` is sent at most.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// The daemon's side of the notify protocol.
#[derive(Default)]
pub struct Notifier {
    /// Whether to send at all (`run` under systemd; not the tests' in-process daemons).
    enabled: bool,
    /// The last `STATUS=` line sent.
    text: String,
    sent_at: Option<Instant>,
    /// A newer line than `text`, waiting for its turn.
    waiting: Option<String>,
}

impl Notifier {
    pub fn new(enabled: bool) -> Notifier {
        Notifier {
            enabled,
            ..Notifier::default()
        }
    }

    /// Sends `states` now (a failure to tell systemd is logged, not fatal).
    pub fn send(&self, states: &[sd_notify::NotifyState<'_>]) {
        if self.enabled
            && let Err(e) = notify_nonblocking(states)
        {
            tracing::debug!("sd_notify: {e}");
        }
    }

    /// Sends `STATUS=line` if it changed and a second has passed since the last one; else
    /// keeps it for [`Notifier::send_waiting`].
    pub fn status(&mut self, line: String) {
        if !self.enabled || line == self.text {
            self.waiting = None;
            return;
        }
        if self.sent_at.is_some_and(|t| t.elapsed() < STATUS_EVERY) {
            self.waiting = Some(line);
            return;
        }
        self.send(&[sd_notify::NotifyState::Status(&line)]);
        self.text = line;
        self.sent_at = Some(Instant::now());
        self.waiting = None;
    }

    /// When a waiting line may go: `None` when none waits.
    pub fn due(&self) -> Option<Instant> {
        self.waiting
            .as_ref()
            .map(|_| self.sent_at.unwrap_or_else(Instant::now) + STATUS_EVERY)
    }

    /// Sends the line that waited for its turn.
    pub fn send_waiting(&mut self) {
        if let Some(line) = self.waiting.take() {
            self.status(line);
        }
    }
}

/// The systemd notify protocol without ever blocking: `sd_notify::notify` sends on a
/// blocking socket, and a notify socket whose queue is full (a lagging reader; the queue is
/// ten datagrams by default) would stall the whole loop. A message that does not fit is
/// dropped; the next one carries the news.
pub fn notify_nonblocking(states: &[sd_notify::NotifyState<'_>]) -> std::io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => notify_to(&path, states),
        None => Ok(()),
    }
}

fn notify_to(path: &std::ffi::OsStr, states: &[sd_notify::NotifyState<'_>]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::fmt::Write as _;
        use std::os::unix::net::UnixDatagram;
        let mut msg = String::new();
        for s in states {
            let _ = writeln!(msg, "{s}");
        }
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path);
        #[cfg(target_os = "linux")]
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg.as_bytes(), &addr)?;
            return Ok(());
        }
        let _ = bytes;
        sock.send_to(msg.as_bytes(), path)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = (path, states);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn notify_never_blocks_on_a_full_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let reader = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        // Nobody reads: the queue fills after a few datagrams; every call still returns.
        let results: Vec<bool> = (0..100)
            .map(|i| {
                let status = format!("booked {i}");
                notify_to(path.as_os_str(), &[sd_notify::NotifyState::Status(&status)]).is_ok()
            })
            .collect();
        assert!(results[0]);
        assert!(results.iter().any(|ok| !ok), "the queue never filled?");
        let mut buf = [0u8; 256];
        let n = reader.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=booked 0\n");
    }
}
