//! The process metrics every Prometheus client library exports, under the names they all use
//! ("Process metrics" in <https://prometheus.io/docs/instrumenting/writing_clientlibs/>;
//! client_java's `ProcessMetrics` shows them as `process_cpu_seconds_total`,
//! `process_open_fds`, `process_max_fds`, `process_resident_memory_bytes`,
//! `process_start_time_seconds`, ...). Read from `/proc/self` at each scrape, on Linux only:
//! elsewhere there are none. The files read are the kernel's, a few hundred bytes each.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Whether this system has the metrics.
pub const SUPPORTED: bool = cfg!(target_os = "linux");

/// The names a scrape shows.
pub const NAMES: [&str; 6] = [
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
];

/// The collector: reads the process's numbers when scraped.
#[derive(Debug)]
pub struct Process;

/// One reading. A number the system would not tell is left out.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: Option<f64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    virtual_bytes: Option<u64>,
    resident_bytes: Option<u64>,
    start_time: Option<f64>,
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = Sample::read();
        if let Some(v) = s.cpu_seconds {
            let metric = ConstCounter::new(v);
            let help = "Total user and system CPU time spent in seconds";
            // Counters get their `_total` from the encoder.
            let e = encoder.encode_descriptor(
                "process_cpu_seconds",
                help,
                None,
                metric.metric_type(),
            )?;
            metric.encode(e)?;
        }
        let gauges = [
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                s.max_fds.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                s.start_time,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let metric = ConstGauge::new(v);
                let e = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
                metric.encode(e)?;
            }
        }
        Ok(())
    }
}

impl Sample {
    #[cfg(target_os = "linux")]
    fn read() -> Sample {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        // SAFETY: sysconf only reads a configuration value.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let stat = read("/proc/self/stat").and_then(|s| Stat::parse(&s));
        let boot = read("/proc/stat").and_then(|s| boot_time(&s));
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        let max_fds = read("/proc/self/limits").and_then(|s| max_open_files(&s));
        let (ticks, page) = (
            u64::try_from(ticks).ok().filter(|t| *t > 0),
            u64::try_from(page).ok(),
        );
        Sample {
            cpu_seconds: stat.zip(ticks).map(|(s, t)| s.cpu_ticks as f64 / t as f64),
            open_fds,
            max_fds,
            virtual_bytes: stat.map(|s| s.virtual_bytes),
            resident_bytes: stat.zip(page).map(|(s, p)| s.resident_pages * p),
            start_time: (stat.zip(ticks).zip(boot))
                .map(|((s, t), b)| b as f64 + s.start_ticks as f64 / t as f64),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Sample {
        Sample::default()
    }
}

/// What `/proc/self/stat` tells (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    /// When the process started, in clock ticks after boot.
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

impl Stat {
    /// Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize) and 24 (rss) of the line. The
    /// second field, the command name in parentheses, may hold spaces and parentheses itself:
    /// the fields are counted from after its last `)`, which is field 3.
    fn parse(line: &str) -> Option<Stat> {
        let (_, rest) = line.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            cpu_ticks: field(14)?.checked_add(field(15)?)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
            resident_pages: field(24)?,
        })
    }
}

/// `btime` of `/proc/stat`: when the system booted, unix seconds.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit on open files, from `/proc/self/limits` ("unlimited" is no number).
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis in it.
        let line = "4242 (wemeet (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    150 50 0 0 20 0 9 0 31337 123456789 2048 18446744073709551615 0 0 0 0 0";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                cpu_ticks: 200,
                start_ticks: 31337,
                virtual_bytes: 123_456_789,
                resident_pages: 2048,
            })
        );
        assert_eq!(Stat::parse("4242 (cut short) S 1 2"), None);
        assert_eq!(Stat::parse("no parenthesis"), None);
    }

    #[test]
    fn boot_time_and_the_open_files_limit() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu 1\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            max_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read() {
        let s = Sample::read();
        assert!(s.cpu_seconds.is_some_and(|c| c >= 0.0), "{s:?}");
        assert!(s.open_fds.is_some_and(|n| n >= 3), "{s:?}");
        assert!(s.resident_bytes.is_some_and(|b| b > 1024 * 1024), "{s:?}");
        assert!(s.virtual_bytes.is_some_and(|b| b > 0), "{s:?}");
        assert!(
            s.max_fds.is_some_and(|n| n >= s.open_fds.unwrap_or(0)),
            "{s:?}"
        );
        // Started between 2020 and now.
        let now = super::super::unix_now() as f64;
        assert!(
            s.start_time.is_some_and(|t| t > 1.5e9 && t <= now + 1.0),
            "{s:?}"
        );
    }
}
