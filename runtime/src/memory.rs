//! How a service's heap uses memory, set once at start.
//!
//! The services allocate with mimalloc, which asks the kernel for
//! transparent huge pages on its arenas. The kernel then zeroes 2 MiB at
//! the first touch of each fresh huge page, however little of it the heap
//! goes on to use: in the end-to-end benchmark that zeroing was 15-17 % of
//! the sink's CPU, and with huge pages off the sink used 13-18 % less CPU
//! and the aggregate 5-15 % less while draining the same backlog
//! (the end-to-end benchmark). So services turn them off for their
//! process, unless the operator decides with mimalloc's own
//! `MIMALLOC_ALLOW_THP`.

/// mimalloc's setting for transparent huge pages; when set, it decides.
pub const ALLOW_THP_ENV: &str = "MIMALLOC_ALLOW_THP";

/// What [`avoid_huge_pages`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugePages {
    /// Turned off for this process (and the processes it starts).
    Off,
    /// Left to mimalloc, as [`ALLOW_THP_ENV`] asks.
    AllocatorDecides,
    /// Not a Linux kernel: there is nothing to turn off.
    NotLinux,
}

/// Turns transparent huge pages off for this process unless
/// [`ALLOW_THP_ENV`] is set. Pages already faulted in keep their size.
pub fn avoid_huge_pages() -> std::io::Result<HugePages> {
    if std::env::var_os(ALLOW_THP_ENV).is_some() {
        return Ok(HugePages::AllocatorDecides);
    }
    disable()
}

#[cfg(target_os = "linux")]
fn disable() -> std::io::Result<HugePages> {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers; it
    // only sets a flag on this process's memory map.
    let status = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if status == 0 {
        Ok(HugePages::Off)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn disable() -> std::io::Result<HugePages> {
    Ok(HugePages::NotLinux)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn huge_pages_are_off_after_the_call() {
        // The test process sets no MIMALLOC_ALLOW_THP (nor does CI).
        assert!(std::env::var_os(ALLOW_THP_ENV).is_none());
        assert_eq!(avoid_huge_pages().unwrap(), HugePages::Off);
        // SAFETY: PR_GET_THP_DISABLE reads the flag set above.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
    }
}
