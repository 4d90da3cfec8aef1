//! The memory allocator of every program that links the toolkit: the system's, with glibc told to
//! keep freed memory for reuse instead of handing it back to the kernel.
//!
//! Why: dfdx allocates a fresh buffer for almost every operation, and the convolutional models'
//! buffers (unfolded patches, their gradients) are large. By default glibc serves large requests
//! with `mmap` and returns them with `munmap`, and trims the top of its heap after frees; each
//! return costs page faults to get the memory back, and with the matrix products' second thread
//! a TLB shootdown on the other core. A `perf record` of Chapter 7's VAE step (criterion's
//! `train_step/ch07-vae`) showed about 40 % of the time in the kernel (`native_write_msr`,
//! `smp_call_function_many_cond`, page faults, `clear_page_erms`); with the two settings below
//! the step took 111 ms instead of 233 ms (same binary, glibc 2.36, AMD EPYC, 2 cores, quiet).
//! Either setting alone did not help (the trim threshold alone made it slower, 395 ms: it turns
//! off glibc's adaptive mmap threshold). The numbers the programs compute do not change.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// [`System`], configured on first use (see the module's documentation).
pub struct KeepFreedMemory;

static CONFIGURED: AtomicBool = AtomicBool::new(false);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn configure() {
    // glibc's <malloc.h>; neither call allocates.
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only sets allocator parameters; the values are in glibc's accepted ranges
    // (the mmap threshold's maximum is 32 MiB on 64-bit systems).
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn configure() {}

fn configure_once() {
    if !CONFIGURED.load(Ordering::Relaxed) && !CONFIGURED.swap(true, Ordering::Relaxed) {
        configure();
    }
}

// SAFETY: every method forwards to `System` unchanged.
unsafe impl GlobalAlloc for KeepFreedMemory {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        configure_once();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        configure_once();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: KeepFreedMemory = KeepFreedMemory;

#[cfg(test)]
mod tests {
    #[test]
    fn the_allocator_is_configured_by_the_first_allocation() {
        let v = vec![0u8; 1 << 20];
        assert!(super::CONFIGURED.load(std::sync::atomic::Ordering::Relaxed));
        drop(v);
    }
}
