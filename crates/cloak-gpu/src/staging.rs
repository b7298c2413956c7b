//! Page-locked (pinned) host memory for the wire: what a protocol sends and what is opened to
//! it crosses between host and GPU through one staging buffer per GPU.
//!
//! A copy from or to ordinary (pageable) host memory goes through a driver-side bounce
//! buffer and runs at a fraction of the link's speed; a copy from or to page-locked memory
//! runs at full PCIe or NVLink speed. Each GPU therefore keeps one page-locked buffer of
//! `u64` words, allocated at the first transfer with `cuMemHostAlloc` (cudarc's
//! [`CudaContext::alloc_pinned_with_flags`], without write-combining, because the host reads
//! downloads back from it), grown on demand (to a power of two, at most [`MAX_STAGING`]
//! words; larger transfers go through it in chunks) and reused. It sits behind a mutex:
//! two parties may share one GPU through two handles.
//!
//! A download copies into the staging buffer, waits for the stream and moves the words (or
//! their little-endian bytes) out into the vector the caller gets. An upload writes the
//! words (decoding wire bytes directly into it) and queues the copy; an event recorded after
//! the copy is waited for before the buffer is written again or freed, so an upload does not
//! wait for its own copy.
//!
//! Where page-locked memory cannot be had (the driver refuses the allocation, or the
//! bindings fail), a transfer falls back to the plain path through pageable host memory:
//! correct, only slower. A staging buffer that could not grow is still used, in chunks.

use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaEvent, CudaStream, PinnedHostSlice};

use crate::probe::guarded;

/// The smallest staging buffer allocated, in words (512 KiB).
pub(crate) const MIN_STAGING: usize = 1 << 16;
/// The largest staging buffer allocated, in words (256 MiB); larger transfers are chunked.
pub(crate) const MAX_STAGING: usize = 1 << 25;

/// The size (in words) to grow a staging buffer of `current` words to, for a transfer of
/// `needed` words; `None` when the current buffer is used as it is (it holds the whole
/// transfer, or [`MAX_STAGING`] words of it).
pub(crate) fn grown_len(current: usize, needed: usize) -> Option<usize> {
    let target = needed.min(MAX_STAGING);
    if target == 0 || current >= target {
        return None;
    }
    let len = target.checked_next_power_of_two().unwrap_or(MAX_STAGING);
    Some(len.clamp(MIN_STAGING, MAX_STAGING))
}

/// The consecutive pieces, of at most `capacity` words each, a transfer of `len` words
/// makes through a staging buffer of `capacity` words (`capacity > 0`).
pub(crate) fn chunks(len: usize, capacity: usize) -> impl Iterator<Item = Range<usize>> {
    let step = capacity.max(1);
    (0..len).step_by(step).map(move |s| s..len.min(s + step))
}

/// Writes the little-endian bytes of `words` to `out` (8 bytes a word).
pub(crate) fn encode_le(words: &[u64], out: &mut [u8]) {
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
}

/// Reads little-endian words from `bytes` (8 bytes a word) into `out`.
pub(crate) fn decode_le(bytes: &[u8], out: &mut [u64]) {
    for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
}

/// The staging buffer of one GPU and the event that marks the end of the last copy out of
/// it (kept behind the GPU's mutex).
#[derive(Default)]
pub(crate) struct Staging {
    buf: Option<PinnedHostSlice<u64>>,
    /// Recorded on the stream after each upload from the buffer.
    copied: Option<CudaEvent>,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Staging({} words)", self.buf.as_ref().map_or(0, PinnedHostSlice::len))
    }
}

impl Staging {
    /// Waits until no queued copy reads the buffer any more.
    pub(crate) fn wait_idle(&self) -> Result<(), String> {
        match &self.copied {
            Some(ev) => ev.synchronize().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// The event to record after an upload from the buffer (made once).
    pub(crate) fn copied_event(&mut self, ctx: &Arc<CudaContext>) -> Option<&CudaEvent> {
        if self.copied.is_none() {
            self.copied = guarded("creating an event", || ctx.new_event(None)).ok()?.ok();
        }
        self.copied.as_ref()
    }

    /// The page-locked words for a transfer of `needed` words, grown if it is smaller and
    /// growing works; `None` if there is no page-locked buffer at all (the caller then takes
    /// the plain path). The buffer may be shorter than `needed`: the caller chunks.
    pub(crate) fn words(&mut self, ctx: &Arc<CudaContext>, needed: usize) -> Option<&mut [u64]> {
        let current = self.buf.as_ref().map_or(0, PinnedHostSlice::len);
        if let Some(len) = grown_len(current, needed) {
            // The old buffer may still be read by a queued upload: wait before freeing it.
            if self.wait_idle().is_ok() {
                // SAFETY: the memory is unset; every transfer writes the words it then reads
                // (a download copies into them first, an upload fills them first).
                let fresh = guarded("pinning host memory", || unsafe {
                    ctx.alloc_pinned_with_flags::<u64>(len, 0)
                });
                if let Ok(Ok(fresh)) = fresh {
                    self.buf = Some(fresh);
                }
            }
        }
        self.current()
    }

    /// The page-locked words as they are, without growing.
    pub(crate) fn current(&mut self) -> Option<&mut [u64]> {
        self.buf.as_mut()?.as_mut_slice().ok()
    }

    /// Marks the end of an upload just queued on `stream` from the buffer.
    pub(crate) fn record_copy(&self, stream: &CudaStream) -> Result<(), String> {
        match &self.copied {
            Some(ev) => ev.record(stream).map_err(|e| e.to_string()),
            None => stream.synchronize().map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staging_buffer_grows_to_powers_of_two_within_its_bounds() {
        assert_eq!(grown_len(0, 0), None);
        assert_eq!(grown_len(0, 1), Some(MIN_STAGING));
        assert_eq!(grown_len(0, MIN_STAGING + 1), Some(2 * MIN_STAGING));
        assert_eq!(grown_len(MIN_STAGING, MIN_STAGING), None);
        assert_eq!(grown_len(MIN_STAGING, 3), None);
        assert_eq!(grown_len(2 * MIN_STAGING, MIN_STAGING + 1), None);
        assert_eq!(grown_len(MIN_STAGING, 3 * MIN_STAGING), Some(4 * MIN_STAGING));
        assert_eq!(grown_len(0, MAX_STAGING + 1), Some(MAX_STAGING));
        assert_eq!(grown_len(MAX_STAGING, usize::MAX), None);
        assert_eq!(grown_len(MIN_STAGING, usize::MAX), Some(MAX_STAGING));
        // Whatever it grows to holds the transfer or the largest chunk.
        for needed in [1, 5, 1000, MIN_STAGING - 1, 12_345_678, MAX_STAGING, usize::MAX / 3] {
            let len = grown_len(0, needed).unwrap();
            assert!(len >= needed.min(MAX_STAGING) && len <= MAX_STAGING, "{needed}: {len}");
            assert!(len.is_power_of_two());
        }
    }

    #[test]
    fn chunks_cover_a_transfer_in_order() {
        for (len, cap) in [(0, 4), (1, 4), (4, 4), (5, 4), (17, 3), (10, 1), (7, 100)] {
            let pieces: Vec<_> = chunks(len, cap).collect();
            let mut next = 0;
            for p in &pieces {
                assert_eq!(p.start, next, "{len}/{cap}");
                assert!(!p.is_empty() && p.len() <= cap, "{len}/{cap}: {p:?}");
                next = p.end;
            }
            assert_eq!(next, len);
            assert_eq!(pieces.len(), len.div_ceil(cap));
        }
    }

    #[test]
    fn the_wire_encoding_is_the_ring_layers() {
        let mut rng = cloak_ring::testing::TestRng::new(77);
        for n in [0, 1, 3, 1001] {
            let mut words = rng.words(n);
            if n > 0 {
                words[0] = u64::MAX;
            }
            let t = cloak_ring::RingTensor::from_vec(&[n], words.clone()).unwrap();
            let want = t.to_le_bytes();
            let mut got = vec![0u8; n * 8];
            encode_le(&words, &mut got);
            assert_eq!(got, want, "{n} words");
            let mut back = vec![0u64; n];
            decode_le(&want, &mut back);
            assert_eq!(back, words);
        }
    }
}
