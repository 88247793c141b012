//! Process-wide allocator and thread-pool settings for CPU training.
//!
//! candle allocates a fresh buffer for every op output and gradient. With glibc's defaults,
//! buffers above the dynamic mmap threshold are mapped and unmapped each time, so every training
//! step pays page faults, kernel page zeroing and TLB shootdowns for memory it just gave back.
//! Keeping freed memory in the heap lets the next step reuse it.
//!
//! candle runs element-wise ops (the gradient accumulations of backprop, residual adds, dropout
//! products) on its own spinning worker pool, next to the rayon pool that gemm and our fused
//! kernels use. On a small machine the two pools fight for cores and the caller spins waiting for
//! a descheduled worker; these ops are memory-bound, so one thread loses little.

/// Settings applied by [`tune_for_training`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Whether glibc's `mallopt` was applied (false on other allocators and platforms).
    pub malloc_retains_memory: bool,
    /// Whether `CANDLE_NUM_THREADS=1` was set here (false when the caller had set it already).
    pub single_threaded_elementwise: bool,
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

/// Makes glibc keep freed memory for reuse instead of returning it to the kernel after every op,
/// and runs candle's element-wise ops on the calling thread unless `CANDLE_NUM_THREADS` is set
/// (see the module docs; gemm and the fused kernels keep all rayon threads). Call once at the
/// start of the process, before any candle op and before spawning threads (it sets an
/// environment variable that candle reads when its pool starts). Memory then stays at its peak.
pub fn tune_for_training() -> Tuning {
    let single_threaded_elementwise = std::env::var_os("CANDLE_NUM_THREADS").is_none();
    if single_threaded_elementwise {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let malloc_retains_memory = glibc::retain_freed_memory();
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let malloc_retains_memory = false;
    Tuning {
        malloc_retains_memory,
        single_threaded_elementwise,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        // Not `tune_for_training`: setting an environment variable while other tests run threads
        // that read the environment would race.
        assert!(super::glibc::retain_freed_memory());
    }
}
