//! The thread that trains is one of the threads that compute.
//!
//! dfdx's matrix products and the project's elementwise kernels (in `vendor/dfdx`) run on rayon's
//! global pool. Called from a thread outside the pool, as a program's main thread is, every
//! parallel operation hands its work to the pool's threads and puts the caller to sleep until
//! they are done: with a few dozen such operations per training step, the threads spend their
//! time waking each other. In `perf record`s of Chapter 1's `shallow` step on this book's machine
//! (a virtual machine, AMD EPYC, 2 cores) the kernel's `try_to_wake_up` took 4–26 % of the time,
//! from run to run; with the main thread in the pool roughly a third as much, and the median
//! step of `shallow` and of Chapter 3's model about a tenth less time. Which thread computes an
//! element changes nothing in what is computed: the losses are bitwise the same.

use std::sync::Once;

/// Makes the calling thread the first of the `RAYON_NUM_THREADS` threads (default: one per
/// logical CPU) of rayon's global pool, so that parallel operations started on it run partly on
/// it instead of waiting for the pool. Call it first thing on a program's main thread: the
/// chapters' examples do (through [`crate::cli::reproduce`]), as do the `perf` programs. Not for
/// test threads, which come and go; a thread that is a worker must outlive the pool's use.
///
/// Later calls do nothing, and so does a call after the global pool already exists (anything
/// parallel has run): the thread then stays outside the pool, as every thread was before.
///
/// ```
/// // A doctest is a program of its own, and this is its main thread.
/// assert_eq!(rayon::current_thread_index(), None);
/// ae_toolkit::threads::make_this_thread_a_rayon_worker();
/// assert_eq!(rayon::current_thread_index(), Some(0));
/// ```
pub fn make_this_thread_a_rayon_worker() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means the global pool already exists; it still works, from outside.
        let _ = rayon::ThreadPoolBuilder::new()
            .use_current_thread()
            .build_global();
    });
}
