//! Finding CUDA at run time without letting the bindings panic.
//!
//! `cudarc` loads `libcuda` and `libnvrtc` lazily on the first call into them and panics when
//! a library (or one of its symbols) is missing. A machine without a GPU is a normal place
//! for Cloak to run, so [`CudaDevice::new`](crate::CudaDevice::new) first checks that both
//! libraries load ([`driver_library_present`], [`nvrtc_library_present`]) and then runs every
//! call into the bindings under [`guarded`], which turns a panic that still happens (an old
//! driver without a symbol the bindings expect) into an error.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::error::GpuError;

/// Whether the CUDA driver library (`libcuda.so` and its versioned names) can be loaded.
/// Checked once per process.
pub fn driver_library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: loading the driver library runs its initialisers, which is what every use of
    // the driver does first; the library is unloaded again if nothing else holds it.
    *PRESENT.get_or_init(|| unsafe { cudarc::driver::sys::is_culib_present() })
}

/// Whether the NVRTC library (the runtime compiler of the kernels) can be loaded. Checked
/// once per process.
pub fn nvrtc_library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: as for the driver library: loading NVRTC runs only its own initialisers.
    *PRESENT.get_or_init(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
}

/// Whether cuBLAS (`libcublas.so`, the FP64 GEMM of [`GemmMethod::Fp64Limbs`]) can be
/// loaded. Checked once per process; without it that method is unavailable and the integer
/// kernel does every product.
///
/// [`GemmMethod::Fp64Limbs`]: crate::GemmMethod::Fp64Limbs
pub fn cublas_library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: as for the driver library: loading cuBLAS runs only its own initialisers.
    *PRESENT.get_or_init(|| {
        guarded("looking for cuBLAS", || unsafe { cudarc::cublas::sys::is_culib_present() })
            .unwrap_or(false)
    })
}

/// The file names tried for a library (`"cuda"`, `"nvrtc"`), for error messages.
pub(crate) fn searched(lib: &str) -> Vec<String> {
    let mut names = Vec::new();
    for name in cudarc::get_lib_name_candidates(lib) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Runs `f`, a call into the CUDA bindings, turning a panic into [`GpuError::Bindings`].
pub(crate) fn guarded<T>(during: &'static str, f: impl FnOnce() -> T) -> Result<T, GpuError> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| GpuError::Bindings { during, reason: panic_message(payload.as_ref()) })
}

/// The text of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_bindings_becomes_an_error() {
        let got = guarded("testing", || -> u32 { panic!("Missing symbol cuFoo") });
        let Err(GpuError::Bindings { during, reason }) = got else {
            panic!("expected a bindings error, got {got:?}");
        };
        assert_eq!(during, "testing");
        assert!(reason.contains("cuFoo"), "{reason}");
        assert_eq!(guarded("testing", || 7), Ok(7));
    }

    #[test]
    fn the_searched_names_include_the_plain_library() {
        assert!(searched("cuda").iter().any(|n| n.contains("cuda")));
        assert!(searched("cublas").iter().any(|n| n.contains("cublas")));
    }
}
