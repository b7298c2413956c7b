//! A team for a batch of independent tasks: the calling thread plus rayon workers that join
//! when they can.
//!
//! Why not a plain `par_iter`: called from outside the pool, a `par_iter` puts the caller to
//! sleep until a worker wakes up to start the work. Waking a sleeping thread costs anywhere
//! from 0.05 to over 1 ms on the virtual machines this runs on, as long as a whole small GEMM.
//! Here the caller starts on the tasks at once, helpers are asked for (with `rayon::spawn`) and
//! take tasks as soon as they run, and nobody waits for a helper that has not started: the
//! caller finishes the work alone if need be, and helpers arriving after the end do nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The state shared with helpers: plain atomics, so it can outlive the call in a helper that
/// starts late.
#[derive(Debug, Default)]
struct Control {
    /// The next unclaimed task.
    next: AtomicUsize,
    /// Helpers at work (twice the count) and whether the door is shut (bit 0).
    door: AtomicUsize,
}

impl Control {
    /// A helper asks to take part; false once the caller has run out of tasks.
    fn enter(&self) -> bool {
        let mut s = self.door.load(Ordering::Acquire);
        loop {
            if s & 1 == 1 {
                return false;
            }
            match self.door.compare_exchange_weak(s, s + 2, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    fn leave(&self) {
        self.door.fetch_sub(2, Ordering::Release);
    }

    /// Shuts the door and waits for the helpers at work to finish their tasks and leave.
    fn shut(&self) {
        self.door.fetch_or(1, Ordering::AcqRel);
        while self.door.load(Ordering::Acquire) > 1 {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }

    /// Runs tasks until none is left unclaimed.
    fn work(&self, count: usize, task: &(dyn Fn(usize) + Sync)) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                return;
            }
            task(i);
        }
    }
}

/// The borrowed part of the work, reached by helpers only between `enter` and `leave`.
struct Work<'a> {
    count: usize,
    task: &'a (dyn Fn(usize) + Sync),
}

/// A pointer to the borrowed work with its lifetime erased, for `rayon::spawn`.
#[derive(Clone, Copy)]
struct WorkPtr(*const Work<'static>);
// SAFETY: `Work` is `Sync` data (a count and a `Sync` closure), and helpers dereference the
// pointer only while the caller, which owns the work, waits for them in `Control::shut`.
unsafe impl Send for WorkPtr {}

/// Shuts the door when the caller leaves `run_tasks`, even by unwinding, so that no helper can
/// still be using the borrowed work afterwards.
struct ShutOnDrop(Arc<Control>);

impl Drop for ShutOnDrop {
    fn drop(&mut self) {
        // Unclaimed tasks (after a panic) are abandoned.
        self.0.next.store(usize::MAX / 2, Ordering::Relaxed);
        self.0.shut();
    }
}

/// Runs `task(i)` for every `i < count`, in any order, on the calling thread and on up to
/// `helpers` rayon workers; returns when all have finished (their writes then visible).
pub(crate) fn run_tasks(helpers: usize, count: usize, task: &(dyn Fn(usize) + Sync)) {
    let ctl = Arc::new(Control::default());
    let work = Work { count, task };
    let erased: *const Work<'_> = &work;
    // SAFETY: only the lifetime is erased; see `WorkPtr`.
    let ptr =
        WorkPtr(unsafe { std::mem::transmute::<*const Work<'_>, *const Work<'static>>(erased) });
    let guard = ShutOnDrop(Arc::clone(&ctl));
    for _ in 0..helpers.min(count.saturating_sub(1)) {
        let ctl = Arc::clone(&ctl);
        rayon::spawn(move || {
            let ptr = ptr;
            if ctl.enter() {
                // SAFETY: the door is open, so the caller is still inside `run_tasks` and
                // `work` alive; it waits for us to leave before returning.
                let work = unsafe { &*ptr.0 };
                ctl.work(work.count, work.task);
                ctl.leave();
            }
        });
    }
    ctl.work(count, task);
    drop(guard);
}

/// A raw pointer to a slice being split among a team: each task touches a disjoint chunk.
struct ChunksPtr<E>(*mut E);
// SAFETY: `for_each_chunk` hands each task a disjoint chunk, and holds the `&mut` borrow of
// the slice until all tasks end.
unsafe impl<E: Send> Send for ChunksPtr<E> {}
// SAFETY: as above.
unsafe impl<E: Send> Sync for ChunksPtr<E> {}

impl<E> ChunksPtr<E> {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut E {
        self.0
    }
}

/// Runs `f(i, chunk)` for each `chunk_len`-sized chunk `i` of `out` (the last may be shorter),
/// as tasks of [`run_tasks`].
pub(crate) fn for_each_chunk<E: Send>(
    helpers: usize,
    out: &mut [E],
    chunk_len: usize,
    f: &(dyn Fn(usize, &mut [E]) + Sync),
) {
    if chunk_len == 0 || out.is_empty() {
        return;
    }
    let len = out.len();
    let base = ChunksPtr(out.as_mut_ptr());
    run_tasks(helpers, len.div_ceil(chunk_len), &|i| {
        let start = i * chunk_len;
        // SAFETY: chunk `i` lies inside `out` and is touched by task `i` alone.
        let chunk = unsafe {
            std::slice::from_raw_parts_mut(base.get().add(start), chunk_len.min(len - start))
        };
        f(i, chunk);
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{for_each_chunk, run_tasks};

    /// Every task runs exactly once, whether helpers join or not.
    #[test]
    fn each_task_once() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for helpers in [0, 1, 2, 5] {
            let hits: Vec<AtomicUsize> = (0..500).map(|_| AtomicUsize::new(0)).collect();
            let run = || {
                run_tasks(helpers, hits.len(), &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
            };
            run();
            pool.install(run);
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 2), "helpers {helpers}");
        }
    }

    /// Chunks are handed out whole, with their indices, the last one short.
    #[test]
    fn chunks() {
        let mut out = vec![0usize; 103];
        for_each_chunk(2, &mut out, 10, &|i, c| {
            let len = c.len();
            c.iter_mut().for_each(|x| *x = i + len);
        });
        let want: Vec<usize> = (0..103).map(|j| j / 10 + if j >= 100 { 3 } else { 10 }).collect();
        assert_eq!(out, want);
    }
}
