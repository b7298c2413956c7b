//! Thread-local, cache-line aligned scratch space for packed GEMM operands.
//!
//! Packed blocks are hundreds of KiB to a few MiB. Allocating (and page-faulting) them on every
//! call would cost more than a small GEMM itself, so each thread keeps its buffers and reuses
//! them. Alignment to 64 bytes means a micro-kernel's full-width (512-bit) loads of packed data
//! never straddle two cache lines.

use std::cell::RefCell;

/// One cache line; the unit the scratch vectors are allocated in (for its alignment).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u64; 8]);

thread_local! {
    static A_SLOT: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    static B_SLOT: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// Which of a thread's two buffers to use: packed `a` blocks are private to the thread that
/// packs them, while a packed `b` block may be shared with the rayon workers that compute
/// against it (and that meanwhile use their own `A` buffers, possibly on this same thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// For packed blocks of the left operand.
    A,
    /// For packed blocks of the right operand.
    B,
}

/// Machine words that packed operands are made of.
///
/// # Safety
///
/// Implementors must be plain integers: every bit pattern is a valid value and their alignment
/// divides 64, so that a buffer of [`Line`]s can be viewed as a slice of them.
pub(crate) unsafe trait PackWord: Copy + Default + Send + Sync + 'static {}

// SAFETY: plain integers, alignment 8 and 4.
unsafe impl PackWord for u64 {}
// SAFETY: as above.
unsafe impl PackWord for u32 {}

/// Runs `f` with a scratch slice of `len` words from the calling thread's `slot`.
///
/// The contents are whatever an earlier call left: callers overwrite every word they read.
/// The buffer is taken out of the thread-local slot for the duration of `f`, so a re-entrant
/// call (or one while the thread is being torn down) simply allocates its own and nothing
/// panics.
pub(crate) fn with_buffer<W: PackWord, R>(
    slot: Slot,
    len: usize,
    f: impl FnOnce(&mut [W]) -> R,
) -> R {
    let key = match slot {
        Slot::A => &A_SLOT,
        Slot::B => &B_SLOT,
    };
    let take =
        |cell: &RefCell<Vec<Line>>| cell.try_borrow_mut().map(|mut v| std::mem::take(&mut *v));
    let mut v = key.try_with(take).ok().and_then(Result::ok).unwrap_or_default();
    let r = f(words(&mut v, len));
    let _ = key.try_with(|cell| {
        if let Ok(mut held) = cell.try_borrow_mut()
            && held.len() < v.len()
        {
            *held = v;
        }
    });
    r
}

/// Views the first `len` words of `v` (grown as needed) as a slice of `W`.
fn words<W: PackWord>(v: &mut Vec<Line>, len: usize) -> &mut [W] {
    let lines = (len * size_of::<W>()).div_ceil(size_of::<Line>());
    if v.len() < lines {
        v.resize(lines, Line::default());
    }
    // SAFETY: `v` holds at least `len * size_of::<W>()` initialised bytes, aligned to 64 which
    // `W`'s alignment divides, and every bit pattern is a valid `W` (`PackWord` contract). The
    // slice borrows `v` mutably, so nothing else aliases it.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<W>(), len) }
}
