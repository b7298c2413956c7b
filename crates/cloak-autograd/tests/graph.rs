//! The graph's contract: accumulation, detach, no-grad scopes, and the typed errors for
//! backward twice, missing gradients, bad shapes and non-scalar outputs.

use cloak_autograd::{AutogradError, Backend, NoGradGuard, Plain, Var, is_grad_enabled, no_grad};
use ndarray::{ArrayD, array};

fn leaf(v: ArrayD<f64>) -> Var<Plain> {
    Var::leaf(&Plain, v, true)
}

#[test]
fn gradients_accumulate_across_uses_and_backward_calls() {
    let x = leaf(array![1.0, 2.0, 3.0].into_dyn());
    // x used twice: d/dx sum(x * x + x) = 2x + 1.
    let y = x.mul(&x).unwrap().add(&x).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![3.0, 5.0, 7.0].into_dyn());
    // A second graph adds to the same leaf until cleared.
    x.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![4.0, 6.0, 8.0].into_dyn());
    x.zero_grad();
    assert!(matches!(x.grad(), Err(AutogradError::MissingGrad { .. })));
}

#[test]
fn backward_twice_is_a_typed_error() {
    let x = leaf(array![1.0, -2.0].into_dyn());
    let y = x.relu().unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let err = y.backward().unwrap_err();
    assert!(matches!(err, AutogradError::GraphFreed { .. }), "{err}");
    // The gradient from the first pass is intact.
    assert_eq!(x.grad().unwrap(), array![1.0, 0.0].into_dyn());
}

#[test]
fn missing_gradients_are_typed_errors() {
    let c = Var::constant(&Plain, array![1.0].into_dyn());
    assert!(matches!(c.grad(), Err(AutogradError::MissingGrad { .. })));
    assert!(matches!(c.backward(), Err(AutogradError::NoGradFn)));
    let x = leaf(array![1.0, 2.0].into_dyn());
    // Not reached by any backward yet.
    assert!(matches!(x.grad(), Err(AutogradError::MissingGrad { .. })));
    // Intermediate tensors keep no gradient.
    let h = x.mul_scalar(2.0).unwrap();
    h.sum_all().unwrap().backward().unwrap();
    assert!(matches!(h.grad(), Err(AutogradError::MissingGrad { .. })));
}

#[test]
fn shape_and_argument_errors_are_typed() {
    let a = leaf(ArrayD::zeros(vec![2, 3]));
    let b = leaf(ArrayD::zeros(vec![4, 5]));
    assert!(matches!(a.matmul(&b), Err(AutogradError::ShapeMismatch { .. })));
    assert!(a.add(&b).is_err());
    assert!(matches!(
        a.sum_all().unwrap().mul_scalar(f64::NAN),
        Err(AutogradError::NotFinite { .. })
    ));
    assert!(matches!(a.backward(), Err(AutogradError::NotScalar { .. })));
    assert!(matches!(
        a.backward_with(ArrayD::zeros(vec![3, 2])),
        Err(AutogradError::ShapeMismatch { .. })
    ));
    assert!(a.sum(5, false).is_err());
    assert!(a.reshape(&[7]).is_err());
    assert!(a.set_value(ArrayD::zeros(vec![3])).is_err());
    let made = a.mul_scalar(2.0).unwrap();
    assert!(made.set_value(ArrayD::zeros(vec![2, 3])).is_err(), "only leaves can be set");
    assert!(Plain.input(0, Some(&array![f64::NAN].into_dyn()), &[1]).is_err());
}

#[test]
fn detach_and_no_grad_stop_recording() {
    let x = leaf(array![1.0, 2.0].into_dyn());
    let d = x.detach();
    assert!(!d.requires_grad());
    let y = no_grad(|| x.mul_scalar(3.0).unwrap());
    assert!(!y.requires_grad());
    assert!(is_grad_enabled());
    {
        let _guard = NoGradGuard::new();
        assert!(!is_grad_enabled());
        assert!(!x.exp().unwrap().requires_grad());
    }
    assert!(is_grad_enabled());
    // Only the recorded path contributes.
    let z = x.mul(&d).unwrap().sum_all().unwrap();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap(), array![1.0, 2.0].into_dyn());
}

#[test]
fn a_long_unused_graph_is_freed_without_deep_recursion() {
    let x = leaf(array![1.0].into_dyn());
    let mut y = x.clone();
    for _ in 0..200_000 {
        y = y.add_scalar(1.0).unwrap();
    }
    assert_eq!(y.value()[[0]], 200_001.0);
    drop(y); // would overflow the stack if freed recursively
    assert!(x.requires_grad());
}
