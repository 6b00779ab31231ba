//! What the daemon's catalog of definitions holds, counted by the allocator: a loaded series
//! costs at most 2 KiB, and reading every file again (SIGHUP) never holds two catalogs at
//! once. `cargo bench --bench memory` measures the same on the daemon's RSS.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use wemeet_scheduler::config::Defaults;
use wemeet_scheduler::watch::Catalog;

/// Counts the bytes allocated and not yet freed, and their most since [`reset_peak`].
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to the system allocator as it came; the counters only add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = layout.size() as isize;
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counters are the whole process's: one measuring test at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn reset_peak() -> isize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn defaults() -> Defaults {
    let mut d = wemeet_scheduler::config::Config::default().defaults;
    d.userid = Some("ops-bot".into());
    d
}

/// `n` series as a team would write them, in 100 folders.
fn write_series(dir: &std::path::Path, n: usize) {
    for i in 0..n {
        let sub = dir.join(format!("team-{:02}", i % 100));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join(format!("standup-{i:06}.toml")),
            format!(
                "subject = \"Team {i} standup\"\nduration = \"15m\"\n[schedule]\ncron = \"{} {} * * MON-FRI\"\nbook_ahead = \"7d\"\n",
                i % 60,
                8 + i % 10
            ),
        )
        .unwrap();
    }
}

#[test]
fn a_loaded_series_costs_at_most_2_kib_and_a_reparse_holds_one_catalog() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000;
    write_series(dir.path(), n);
    let empty = live();
    let mut catalog = Catalog::new(dir.path());
    catalog.rescan(&defaults(), now()).unwrap();
    assert_eq!(catalog.definitions().count(), n);
    let loaded = live() - empty;
    // The bytes asked of the allocator; it adds a little to each block (the benchmark's RSS
    // figure counts that too), so this leaves room for it.
    let per_series = loaded / n as isize;
    assert!(
        per_series <= 1_536,
        "a loaded series holds {per_series} bytes"
    );

    // SIGHUP: every file read and parsed again. At no moment more than the catalog and a
    // small part of a second one.
    let before = reset_peak();
    catalog.reparse_all(&defaults(), now()).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(catalog.definitions().count(), n);
    assert!(
        peak <= loaded / 4,
        "the reparse held {peak} bytes more at its peak; the catalog is {loaded}"
    );
    let after = live() - empty;
    eprintln!(
        "{per_series} bytes a series; the reparse's peak {peak} bytes over {loaded}; after it {after}"
    );
    assert!(
        after <= loaded + loaded / 10,
        "after the reparse the catalog holds {after} bytes, {loaded} before"
    );
}
