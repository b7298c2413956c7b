//! The simulated device passes both suites: the device suite (every tensor operation against
//! the host, residency) and, as a `Backend`, the products' suite.

use cloak_ring::SimulatedDevice;

cloak_ring::device_conformance_tests!(simulated, SimulatedDevice::new().handle());
cloak_ring::backend_conformance_tests!(simulated_backend, SimulatedDevice::new());

use cloak_ring::{RingError, RingTensor};

#[test]
fn two_devices_do_not_mix_and_a_host_operand_is_one_counted_upload() {
    let (one, two) = (SimulatedDevice::new(), SimulatedDevice::new());
    let a = RingTensor::<u64>::from_vec(&[2, 2], vec![1, 2, 3, 4]).unwrap();
    let on_one = a.to_device(&one.handle()).unwrap();
    let on_two = a.to_device(&two.handle()).unwrap();
    assert!(matches!(on_one.add(&on_two), Err(RingError::DeviceMismatch { .. })));
    assert!(matches!(on_one.matmul(&on_two), Err(RingError::DeviceMismatch { .. })));
    assert!(matches!(on_one.to_device(&two.handle()), Err(RingError::DeviceMismatch { .. })));

    let before = one.transfers();
    let sum = on_one.add(&a).unwrap();
    let after = one.transfers();
    assert_eq!(after.uploads, before.uploads + 1);
    assert_eq!(after.upload_bytes, before.upload_bytes + 32);
    assert_eq!(sum.placement(), on_one.placement());
    assert_eq!(sum.to_vec(), vec![2, 4, 6, 8]);
}

#[test]
fn a_device_tensor_prints_where_it_is_not_what_it_holds() {
    let dev = SimulatedDevice::new();
    let secret = RingTensor::<u64>::from_vec(&[3], vec![123_456_789, 2, 3]).unwrap();
    let shown = format!("{:?}", secret.to_device(&dev.handle()).unwrap());
    assert!(shown.contains("sim:") && !shown.contains("123456789"), "{shown}");
    assert_eq!(dev.transfers().downloads, 0, "printing downloads nothing");
}

#[test]
fn the_reference_binary_op_refuses_shapes_that_do_not_broadcast() {
    use cloak_ring::RingError;
    use cloak_ring::device::{BinaryOp, binary};
    let (a, b) = (vec![1u64, 2, 3], vec![4u64, 5]);
    let got = binary(BinaryOp::Add, (&a, &[3]), (&b, &[2]), &[3]);
    assert!(matches!(got, Err(RingError::ShapeMismatch { .. })), "{got:?}");
    assert_eq!(
        binary(BinaryOp::Add, (&a, &[3]), (&[10u64][..], &[1]), &[3]).unwrap(),
        [11, 12, 13]
    );
}
