//! Opening a device where there is no CUDA is an error that says why, never a panic.

use cloak_gpu::{CudaDevice, GemmMethod, GpuError};
use cloak_ring::RingError;

#[test]
fn without_a_driver_opening_a_device_is_a_readable_error() {
    // Called directly: a panic inside the bindings would fail this test.
    let got = CudaDevice::new(0);
    if cloak_gpu::driver_library_present() {
        let state = match &got {
            Ok(dev) => format!("opened {}", dev.name()),
            Err(e) => format!("not opened: {e}"),
        };
        eprintln!("skipped: the CUDA driver library is present here ({state})");
        return;
    }
    let err = got.expect_err("no driver library, no device");
    assert!(matches!(err, GpuError::DriverLibraryMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("CUDA driver library could not be loaded") && message.contains("libcuda"),
        "{message}"
    );
    // Asking again gives the same answer (nothing was left half-initialised).
    assert_eq!(CudaDevice::new(3).expect_err("still no driver"), err);
    let ring = RingError::from(err);
    assert!(matches!(ring, RingError::Device { .. }), "{ring:?}");
}

#[test]
fn a_missing_gpu_ordinal_is_an_error() {
    match CudaDevice::new(4096) {
        Ok(dev) => panic!("opened a GPU of ordinal 4096: {}", dev.name()),
        Err(GpuError::NoDevice { ordinal, .. }) => assert_eq!(ordinal, 4096),
        Err(other) => eprintln!("skipped: no CUDA device here: {other}"),
    }
}

#[test]
fn gemm_method_settings_parse_and_unknown_ones_are_errors() {
    assert_eq!(GemmMethod::parse("int64"), Ok(GemmMethod::Int64));
    assert_eq!(GemmMethod::parse(" FP64\n"), Ok(GemmMethod::Fp64Limbs));
    for m in [GemmMethod::Int64, GemmMethod::Fp64Limbs] {
        assert_eq!(GemmMethod::parse(m.name()), Ok(m));
    }
    assert_eq!(GemmMethod::default(), GemmMethod::Int64);
    let err = GemmMethod::parse("fp32").expect_err("not a method");
    assert!(matches!(err, GpuError::BadSetting { name: "CLOAK_GPU_GEMM", .. }), "{err:?}");
    assert!(err.to_string().contains("int64 or fp64"), "{err}");
}
