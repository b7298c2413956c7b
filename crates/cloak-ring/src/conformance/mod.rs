//! The conformance suite of [`Backend`]: test support for every backend crate.
//!
//! A backend (the CPU one here, a device one in `cloak-gpu`) is only useful if it computes
//! exactly what the protocols above expect: wrapping ring arithmetic, the same shapes and the
//! same errors. This suite states that contract once, as checks against naive references
//! written from the definitions ([`reference`](mod@reference)), so a new backend proves itself in one line,
//! as burn's `testgen_all!` does for its backends:
//!
//! ```ignore
//! cloak_ring::backend_conformance_tests!(my_backend, MyBackend::new());
//! ```
//!
//! which expands to one `#[test]` per check and per ring (`u64` and `u32`; name others with
//! `backend_conformance_tests!(name, factory, [z64: u64])`). The checks can also be called
//! directly ([`checks`], [`run_all`]) on a `&dyn Backend<T>`.
//!
//! Every check covers one method of [`Backend`] on seeded random inputs (shapes that are
//! rarely multiples of a kernel's tiles, values at the limb boundaries of split multiplies),
//! and panics with the backend's name, the operation, the shapes and the first differing
//! element. They are tests: they panic rather than return errors.

pub mod cases;
mod conv;
pub mod device;
mod matmul;
pub mod reference;

use crate::backend::Backend;
use crate::element::RingElement;
use crate::error::Result;
use crate::tensor::RingTensor;

pub use conv::{
    conv_errors, conv_large, conv_transpose2d, conv2d, conv2d_input_grad, conv2d_weight_grad,
};
pub use matmul::{
    matmul_2d, matmul_batched, matmul_degenerate, matmul_errors, matmul_large, matmul_shared_right,
};

/// One check of the suite.
pub type Check<T> = fn(&dyn Backend<T>);

/// Every check, by name, in the order the macro lists them.
pub fn checks<T: RingElement>() -> Vec<(&'static str, Check<T>)> {
    vec![
        ("name", name),
        ("matmul_2d", matmul_2d),
        ("matmul_batched", matmul_batched),
        ("matmul_shared_right", matmul_shared_right),
        ("matmul_large", matmul_large),
        ("matmul_degenerate", matmul_degenerate),
        ("matmul_errors", matmul_errors),
        ("conv2d", conv2d),
        ("conv2d_input_grad", conv2d_input_grad),
        ("conv2d_weight_grad", conv2d_weight_grad),
        ("conv_transpose2d", conv_transpose2d),
        ("conv_large", conv_large),
        ("conv_errors", conv_errors),
    ]
}

/// Runs every check on `backend`.
pub fn run_all<T: RingElement>(backend: &dyn Backend<T>) {
    for (_, check) in checks::<T>() {
        check(backend);
    }
}

/// The backend names itself (for logs and benchmark tables): non-empty, printable ASCII.
pub fn name<T: RingElement>(backend: &dyn Backend<T>) {
    let name = backend.name();
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic()),
        "backend name {name:?} must be non-empty printable ASCII without spaces"
    );
}

/// Panics unless `got` is `Ok` with `want_shape` and `want` elements.
fn expect_tensor<T: RingElement>(
    backend: &dyn Backend<T>,
    what: &dyn std::fmt::Display,
    got: Result<RingTensor<T>>,
    want_shape: &[usize],
    want: &[T],
) {
    let name = backend.name();
    let bits = T::BITS;
    let got = got.unwrap_or_else(|e| panic!("backend {name} (u{bits}): {what}: failed: {e}"));
    assert_eq!(got.shape(), want_shape, "backend {name} (u{bits}): {what}: output shape");
    let got = got.as_slice();
    let wrong = got.iter().zip(want).filter(|(g, w)| g != w).count();
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!(
            "backend {name} (u{bits}): {what}: element {i} is {:#x}, the reference says {:#x} \
             ({wrong} of {} elements differ)",
            got[i].as_u64(),
            want[i].as_u64(),
            want.len()
        );
    }
}

/// Panics unless `got` is an error (equal to `want` when given: every backend must report
/// the shared validators' errors).
fn expect_error<T: RingElement>(
    backend: &dyn Backend<T>,
    what: &dyn std::fmt::Display,
    got: Result<RingTensor<T>>,
    want: Option<crate::error::RingError>,
) {
    let name = backend.name();
    match (got, want) {
        (Ok(t), _) => panic!(
            "backend {name} (u{}): {what}: accepted invalid operands (output {:?})",
            T::BITS,
            t.shape()
        ),
        (Err(e), Some(want)) => assert_eq!(
            e,
            want,
            "backend {name} (u{}): {what}: must report the shared validator's error",
            T::BITS
        ),
        (Err(_), None) => {}
    }
}

/// Expands to one `#[test]` per conformance check, in a module `$name`, running each on a
/// fresh backend from `$factory` (an expression evaluated once per test). With no list, the
/// tests run for `u64` and `u32` (submodules `z64` and `z32`); a backend for one ring names
/// it: `backend_conformance_tests!(name, factory, [z64: u64])`.
#[macro_export]
macro_rules! backend_conformance_tests {
    (@tests $t:ty; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::$check::<$t>(&*backend());
            }
        )+
    };
    ($name:ident, $factory:expr, [$($ring:ident : $t:ty),+ $(,)?]) => {
        mod $name {
            $(
                mod $ring {
                    #[allow(unused_imports)]
                    use super::super::*;

                    fn backend() -> ::std::boxed::Box<dyn $crate::Backend<$t>> {
                        ::std::boxed::Box::new($factory)
                    }

                    $crate::backend_conformance_tests!(@tests $t;
                        name, matmul_2d, matmul_batched, matmul_shared_right, matmul_large,
                        matmul_degenerate, matmul_errors, conv2d, conv2d_input_grad,
                        conv2d_weight_grad, conv_transpose2d, conv_large, conv_errors);
                }
            )+
        }
    };
    ($name:ident, $factory:expr $(,)?) => {
        $crate::backend_conformance_tests!($name, $factory, [z64: u64, z32: u32]);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    /// A backend that gets one element of every product wrong: the suite must notice.
    #[derive(Debug)]
    struct OffByOne;

    impl<T: RingElement> Backend<T> for OffByOne {
        fn name(&self) -> &'static str {
            "off-by-one"
        }
        fn matmul(&self, a: &RingTensor<T>, b: &RingTensor<T>) -> Result<RingTensor<T>> {
            let mut y = CpuBackend::default().matmul(a, b)?;
            if let Some(v) = y.as_array_mut().iter_mut().last() {
                *v = v.wrapping_add(&T::one());
            }
            Ok(y)
        }
        fn conv2d(
            &self,
            x: &RingTensor<T>,
            w: &RingTensor<T>,
            p: &crate::Conv2dSpec,
        ) -> Result<RingTensor<T>> {
            CpuBackend::default().conv2d(x, w, p)
        }
        fn conv2d_input_grad(
            &self,
            dy: &RingTensor<T>,
            w: &RingTensor<T>,
            x_shape: &[usize],
            p: &crate::Conv2dSpec,
        ) -> Result<RingTensor<T>> {
            // Wrong on purpose: the shape (and any error) is right, the values are not.
            CpuBackend::default().conv2d_input_grad(dy, w, x_shape, p)?;
            Ok(RingTensor::zeros(x_shape))
        }
        fn conv2d_weight_grad(
            &self,
            x: &RingTensor<T>,
            dy: &RingTensor<T>,
            w_shape: &[usize],
            p: &crate::Conv2dSpec,
        ) -> Result<RingTensor<T>> {
            CpuBackend::default().conv2d_weight_grad(x, dy, w_shape, p)
        }
        fn conv_transpose2d(
            &self,
            x: &RingTensor<T>,
            w: &RingTensor<T>,
            p: &crate::Conv2dSpec,
            output_padding: (usize, usize),
        ) -> Result<RingTensor<T>> {
            CpuBackend::default().conv_transpose2d(x, w, p, output_padding)
        }
    }

    fn fails(check: Check<u64>) -> bool {
        std::panic::catch_unwind(|| check(&OffByOne)).is_err()
    }

    #[test]
    fn the_suite_catches_wrong_values() {
        assert!(fails(matmul_2d));
        assert!(fails(matmul_batched));
        assert!(fails(conv2d_input_grad));
        assert!(!fails(conv2d));
        assert!(!fails(name));
    }

    #[test]
    fn the_check_list_covers_every_check_once() {
        let names: Vec<_> = checks::<u64>().into_iter().map(|(n, _)| n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names.len(), 13);
    }
}
