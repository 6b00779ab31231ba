//! Memory the daemon has freed, given back to the system.
//!
//! A full pass over 100,000 records builds tens of megabytes of temporaries (every due
//! occurrence, every record tracked) and frees them when it ends. glibc's allocator keeps
//! freed memory for reuse, and once a large block has been freed it raises the amount of free
//! memory it keeps without returning any (`M_TRIM_THRESHOLD` follows the dynamic
//! `M_MMAP_THRESHOLD`, up to 64 MiB): an idle daemon would hold its peak for good. So after a
//! full pass the loop asks for it back. With other C libraries this does nothing.

/// Returns the allocator's free memory to the system, where the allocator can.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer, only how much free memory to keep (none); it locks
    // each arena itself, so any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
