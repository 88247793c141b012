//! Process-wide allocator and thread-pool settings for CPU training.
//!
//! candle allocates a fresh buffer for every op output and gradient. With glibc's defaults,
//! buffers above the dynamic mmap threshold are mapped and unmapped each time, so every training
//! step pays page faults, kernel page zeroing and TLB shootdowns for memory it just gave back.
//! Keeping freed memory in the heap lets the next step reuse it.

/// Settings applied by [`tune_for_training`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Whether glibc's `mallopt` was applied (false on other allocators and platforms).
    pub malloc_retains_memory: bool,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::os::raw::c_int;

    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    // From <malloc.h>.
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_TOP_PAD: c_int = -2;
    const M_MMAP_THRESHOLD: c_int = -3;

    /// Serve allocations up to 32 MiB (glibc's maximum mmap threshold) from the heap, never trim
    /// it, and grow it in 64 MiB steps. Returns whether glibc accepted all three settings.
    pub fn retain_freed_memory() -> bool {
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                && mallopt(M_TRIM_THRESHOLD, c_int::MAX) == 1
                && mallopt(M_TOP_PAD, 64 << 20) == 1
        }
    }
}

/// Makes glibc keep freed memory for reuse instead of returning it to the kernel after every op
/// (see the module docs). Call once at the start of training; memory then stays at its peak.
pub fn tune_for_training() -> Tuning {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let malloc_retains_memory = glibc::retain_freed_memory();
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let malloc_retains_memory = false;
    Tuning {
        malloc_retains_memory,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::tune_for_training().malloc_retains_memory);
    }
}
