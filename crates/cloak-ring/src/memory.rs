//! Process-wide allocator tuning for large-tensor workloads.
//!
//! MPC protocols allocate and free many tensors of megabytes each. glibc's allocator serves
//! such blocks with fresh `mmap`s and returns them to the kernel on free, so every protocol
//! step pays a page fault and a page clear for each 4 KiB it touches; on virtual machines,
//! where a first touch also faults in the hypervisor, that dominates elementwise protocols
//! (a Beaver product of 1M elements ran 2-3x slower). [`retain_freed_memory`] tells glibc to
//! serve large blocks from its heap and keep freed memory for reuse instead.

/// Makes the process keep freed memory for reuse instead of returning it to the kernel
/// (glibc only; a no-op returning `false` elsewhere). Call it once, early in `main`: it
/// trades resident memory (the peak stays resident) for speed. Returns whether the
/// allocator accepted the settings.
#[must_use]
pub fn retain_freed_memory() -> bool {
    imp::retain()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::ffi::c_int;

    // Parameter numbers from glibc's <malloc.h>.
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_TOP_PAD: c_int = -2;
    const M_MMAP_MAX: c_int = -4;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub(super) fn retain() -> bool {
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc and
        // takes plain integers.
        unsafe {
            mallopt(M_MMAP_MAX, 0) == 1
                && mallopt(M_TRIM_THRESHOLD, c_int::MAX) == 1
                && mallopt(M_TOP_PAD, 256 << 20) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn retain() -> bool {
        false
    }
}
