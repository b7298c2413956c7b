//! The crate's only `unsafe` code: a byte view of integer slices and a cache prefetch hint.
//! Both exist for speed (see `examples/prg_speed.rs`): generating keystream straight into the
//! caller's `u64` buffer instead of copying it there, and hiding the memory latency of large
//! outputs behind the AES work.

/// Plain integer types whose memory may be viewed (and written) as bytes.
pub(crate) trait Pod: Copy {}
impl Pod for u32 {}
impl Pod for u64 {}
impl Pod for u128 {}

/// The bytes of `words`, in memory order.
pub(crate) fn as_bytes_mut<T: Pod>(words: &mut [T]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);
    // SAFETY: `T` is a primitive integer (sealed by `Pod`, implemented above only for u32, u64
    // and u128): no padding, and every byte pattern is a valid value, so writing any bytes is
    // sound. `u8` has alignment 1 and the view covers exactly the memory of `words`, which
    // stays mutably borrowed for the view's lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// Asks the CPU to start loading the cache lines of `bytes` (which the caller is about to
/// overwrite), so that memory latency overlaps with AES work instead of adding to it: a 64 MiB
/// fill goes from about 8 to about 11 GB/s on the Ice Lake development machine.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: `prefetcht0` is a hint: it never faults and never changes memory, whatever
        // the address (here one inside `bytes`). It only needs SSE, which every x86_64 CPU
        // has (part of the x86_64 baseline), so the target feature is always present.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
