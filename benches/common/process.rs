//! The daemon as a process, for the benchmarks: killed if the benchmark panics, stopped with
//! SIGTERM, read from /proc (CPU, memory, disk writes), and the notify socket read as systemd
//! does.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A daemon process, killed if the benchmark panics.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Stops the daemon with SIGTERM and waits for it.
pub fn stop(mut p: Proc) {
    if let Some(mut child) = p.0.take() {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}

/// Waits for `READY=1`, then keeps reading the socket in a thread, as systemd does.
pub fn wait_ready(sock: UnixDatagram) {
    sock.set_read_timeout(Some(Duration::from_secs(300)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).expect("a notify message");
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "READY=1")
        {
            break;
        }
    }
    std::thread::spawn(move || {
        let _ = sock.set_read_timeout(None);
        while sock.recv(&mut buf).is_ok() {}
    });
}

/// What a process has used so far.
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_s: f64,
    pub peak_kib: u64,
    pub rss_kib: u64,
    /// Bytes the process caused to be written to storage.
    pub write_bytes: u64,
    /// Bytes the process handed to `write` and its kin (files, sockets, pipes), whether or not
    /// they reached the disk yet: a rewrite of pages the kernel has not written back yet does
    /// not show in `write_bytes`.
    #[allow(dead_code)] // Read by the memory benchmark only.
    pub write_chars: u64,
}

pub fn usage(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Usage {
        cpu_s: ticks as f64 / 100.0,
        peak_kib: field(&status, "VmHWM:"),
        rss_kib: field(&status, "VmRSS:"),
        write_bytes: field(&io, "write_bytes:"),
        write_chars: field(&io, "wchar:"),
    }
}

pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
