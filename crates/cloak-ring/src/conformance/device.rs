//! The conformance suite of [`Device`](crate::device::Device): every tensor operation on the
//! device gives the host's result bit for bit, and (on a device that counts transfers) stays
//! on the device.
//!
//! ```ignore
//! cloak_ring::device_conformance_tests!(my_device, MyDevice::new().handle());
//! ```
//!
//! expands to one `#[test]` per check and per ring (`u64`, `u32`), each on a fresh
//! [`DeviceRef`] from the factory. The checks go through `RingTensor`'s methods, so they
//! test the dispatch as well as the device's kernels.

use crate::conformance::cases::values;
use crate::device::{DeviceRef, Transfers};
use crate::element::RingElement;
use crate::error::RingError;
use crate::tensor::{Conv2dSpec, RingTensor};
use crate::testing::TestRng;

/// One check of the device suite.
pub type DeviceCheck<T> = fn(&DeviceRef<T>);

/// Every check of the device suite, by name.
pub fn device_checks<T: RingElement>() -> Vec<(&'static str, DeviceCheck<T>)> {
    vec![
        ("round_trip", round_trip),
        ("elementwise", elementwise),
        ("shape_ops", shape_ops),
        ("products", products),
        ("stays_on_device", stays_on_device),
        ("placement_errors", placement_errors),
        ("keystream", keystream),
    ]
}

fn random<T: RingElement>(rng: &mut TestRng, shape: &[usize]) -> RingTensor<T> {
    let n = shape.iter().product();
    RingTensor::from_vec(shape, values(rng, n)).expect("shape holds the values")
}

fn up<T: RingElement>(dev: &DeviceRef<T>, t: &RingTensor<T>) -> RingTensor<T> {
    t.to_device(dev).unwrap_or_else(|e| panic!("device {}: upload failed: {e}", dev.label()))
}

/// Panics unless `got` lives on `dev` and equals the host result `want`.
fn same<T: RingElement>(dev: &DeviceRef<T>, what: &str, got: &RingTensor<T>, want: &RingTensor<T>) {
    let label = dev.label();
    let bits = T::BITS;
    assert_eq!(got.placement(), label, "device {label} (u{bits}): {what}: result left the device");
    assert_eq!(got.shape(), want.shape(), "device {label} (u{bits}): {what}: shape");
    let got = got.to_host().unwrap_or_else(|e| panic!("device {label}: {what}: download: {e}"));
    let (g, w) = (got.as_slice(), want.as_slice());
    if let Some(i) = g.iter().zip(w.iter()).position(|(a, b)| a != b) {
        panic!(
            "device {label} (u{bits}): {what}: element {i} is {:#x}, the host says {:#x}",
            g[i].as_u64(),
            w[i].as_u64()
        );
    }
}

/// Upload, download and the wire bytes give back what went in.
pub fn round_trip<T: RingElement>(dev: &DeviceRef<T>) {
    let mut rng = TestRng::new(1);
    for shape in [vec![], vec![0], vec![1], vec![7, 13], vec![2, 3, 5]] {
        let x = random::<T>(&mut rng, &shape);
        let d = up(dev, &x);
        assert_eq!(d.to_host().expect("download").as_slice(), x.as_slice(), "{shape:?}");
        assert_eq!(d.try_to_le_bytes().expect("bytes"), x.to_le_bytes(), "wire bytes {shape:?}");
        let back = RingTensor::from_le_bytes_on(dev, &shape, &x.to_le_bytes()).expect("decode");
        same(dev, "from_le_bytes_on", &back, &x);
        // A clone shares the buffer and stays put.
        same(dev, "clone", &d.clone(), &x);
    }
}

/// Every elementwise operation, same-shape and broadcast, against the host.
pub fn elementwise<T: RingElement>(dev: &DeviceRef<T>) {
    let mut rng = TestRng::new(2);
    let pairs: [(&[usize], &[usize]); 6] = [
        (&[3, 4], &[3, 4]),
        (&[2, 3, 4], &[4]),
        (&[2, 1, 4], &[3, 1]),
        (&[5], &[1]),
        (&[], &[2, 2]),
        (&[4, 1, 3], &[1, 5, 1]),
    ];
    for (sa, sb) in pairs {
        let (a, b) = (random::<T>(&mut rng, sa), random::<T>(&mut rng, sb));
        let (da, db) = (up(dev, &a), up(dev, &b));
        let what = |op: &str| format!("{op} {sa:?} {sb:?}");
        same(dev, &what("add"), &da.add(&db).unwrap(), &a.add(&b).unwrap());
        same(dev, &what("sub"), &da.sub(&db).unwrap(), &a.sub(&b).unwrap());
        same(dev, &what("mul"), &da.mul(&db).unwrap(), &a.mul(&b).unwrap());
        same(dev, &what("xor"), &da.xor(&db).unwrap(), &a.xor(&b).unwrap());
        same(dev, &what("and"), &da.and(&db).unwrap(), &a.and(&b).unwrap());
        same(dev, &what("or"), &da.or(&db).unwrap(), &a.or(&b).unwrap());
        if crate::tensor::broadcast_shapes(sa, sb).as_deref() == Some(sa) {
            let (mut x, mut y) = (da.clone(), a.clone());
            x.add_assign(&db).unwrap();
            y.add_assign(&b).unwrap();
            same(dev, &what("add_assign"), &x, &y);
            x.sub_assign(&db).unwrap();
            y.sub_assign(&b).unwrap();
            same(dev, &what("sub_assign"), &x, &y);
        }
    }
    let a = random::<T>(&mut rng, &[6, 7]);
    let da = up(dev, &a);
    let s = T::from_u64_wrapping(rng.next_u64());
    same(dev, "neg", &da.neg(), &a.neg());
    same(dev, "not", &da.not(), &a.not());
    same(dev, "add_scalar", &da.add_scalar(s), &a.add_scalar(s));
    same(dev, "sub_scalar", &da.sub_scalar(s), &a.sub_scalar(s));
    same(dev, "mul_scalar", &da.mul_scalar(s), &a.mul_scalar(s));
    same(dev, "and_scalar", &da.and_scalar(s), &a.and_scalar(s));
    same(dev, "xor_scalar", &da.xor_scalar(s), &a.xor_scalar(s));
    for bits in [0, 1, 13, T::BITS - 1] {
        same(
            dev,
            "shr_arithmetic",
            &da.shr_arithmetic(bits).unwrap(),
            &a.shr_arithmetic(bits).unwrap(),
        );
        same(dev, "shr_logical", &da.shr_logical(bits).unwrap(), &a.shr_logical(bits).unwrap());
        same(dev, "shl", &da.shl(bits).unwrap(), &a.shl(bits).unwrap());
    }
    assert!(da.shl(T::BITS).is_err(), "a shift by the ring width is an error on the device too");
    let mismatch = da.add(&up(dev, &random::<T>(&mut rng, &[5, 7])));
    assert!(matches!(mismatch, Err(RingError::ShapeMismatch { .. })), "{mismatch:?}");
}

/// Reshapes, permutations, broadcasts, slices, selections, joins, padding and sums.
pub fn shape_ops<T: RingElement>(dev: &DeviceRef<T>) {
    let mut rng = TestRng::new(3);
    let a = random::<T>(&mut rng, &[3, 4, 5]);
    let d = up(dev, &a);
    same(dev, "reshape", &d.reshape(&[12, 5]).unwrap(), &a.reshape(&[12, 5]).unwrap());
    same(dev, "flatten", &d.flatten(), &a.flatten());
    same(dev, "permute", &d.permute(&[2, 0, 1]).unwrap(), &a.permute(&[2, 0, 1]).unwrap());
    same(dev, "transpose", &d.transpose(0, 2).unwrap(), &a.transpose(0, 2).unwrap());
    same(dev, "t", &d.t().unwrap(), &a.t().unwrap());
    same(dev, "unsqueeze", &d.unsqueeze(1).unwrap(), &a.unsqueeze(1).unwrap());
    let b = random::<T>(&mut rng, &[4, 1]);
    let db = up(dev, &b);
    same(
        dev,
        "broadcast_to",
        &db.broadcast_to(&[2, 4, 3]).unwrap(),
        &b.broadcast_to(&[2, 4, 3]).unwrap(),
    );
    same(dev, "squeeze", &db.squeeze(1).unwrap(), &b.squeeze(1).unwrap());
    for (axis, start, end, step) in
        [(0, 0, 3, 1), (1, 1, 4, 2), (2, 4, 5, 1), (2, 0, 5, 3), (1, 2, 2, 1)]
    {
        same(
            dev,
            &format!("slice axis {axis} {start}..{end} step {step}"),
            &d.slice(axis, start, end, step).unwrap(),
            &a.slice(axis, start, end, step).unwrap(),
        );
    }
    same(
        dev,
        "index_select",
        &d.index_select(1, &[3, 0, 3]).unwrap(),
        &a.index_select(1, &[3, 0, 3]).unwrap(),
    );
    let index = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[3, 2, 5]), |i| {
        (i[0] + 3 * i[1] + i[2]) % 4
    });
    same(dev, "gather", &d.gather(1, &index).unwrap(), &a.gather(1, &index).unwrap());
    let c = random::<T>(&mut rng, &[3, 2, 5]);
    let dc = up(dev, &c);
    same(
        dev,
        "concat",
        &RingTensor::concat(&[&d, &dc, &d], 1).unwrap(),
        &RingTensor::concat(&[&a, &c, &a], 1).unwrap(),
    );
    // A host operand joins the device's result (uploaded).
    same(
        dev,
        "concat host",
        &RingTensor::concat(&[&d, &c], 1).unwrap(),
        &RingTensor::concat(&[&a, &c], 1).unwrap(),
    );
    same(
        dev,
        "stack",
        &RingTensor::stack(&[&d, &d], 0).unwrap(),
        &RingTensor::stack(&[&a, &a], 0).unwrap(),
    );
    let fill = T::from_u64_wrapping(7);
    let pads = [(1, 0), (0, 2), (3, 1)];
    same(dev, "pad", &d.pad(&pads, fill).unwrap(), &a.pad(&pads, fill).unwrap());
    for axis in 0..3 {
        for keep in [false, true] {
            same(
                dev,
                "sum_axis",
                &d.sum_axis(axis, keep).unwrap(),
                &a.sum_axis(axis, keep).unwrap(),
            );
        }
    }
    same(dev, "sum_to_shape", &d.sum_to_shape(&[4, 1]).unwrap(), &a.sum_to_shape(&[4, 1]).unwrap());
    assert_eq!(d.sum_all(), a.sum_all(), "device {}: sum_all", dev.label());
    assert!(d.index_select(1, &[4]).is_err());
    assert!(d.slice(0, 2, 4, 1).is_err());
}

/// Matrix products and convolutions of device tensors stay on the device.
pub fn products<T: RingElement>(dev: &DeviceRef<T>) {
    let mut rng = TestRng::new(4);
    let (a, b) = (random::<T>(&mut rng, &[2, 5, 7]), random::<T>(&mut rng, &[7, 3]));
    same(dev, "matmul", &up(dev, &a).matmul(&up(dev, &b)).unwrap(), &a.matmul(&b).unwrap());
    let spec = Conv2dSpec { stride: (2, 1), padding: (1, 1), dilation: (1, 1), groups: 1 };
    let (x, w) = (random::<T>(&mut rng, &[2, 3, 7, 6]), random::<T>(&mut rng, &[4, 3, 3, 3]));
    let (dx, dw) = (up(dev, &x), up(dev, &w));
    let y = x.conv2d(&w, &spec).unwrap();
    same(dev, "conv2d", &dx.conv2d(&dw, &spec).unwrap(), &y);
    let dy = random::<T>(&mut rng, y.shape());
    let ddy = up(dev, &dy);
    same(
        dev,
        "conv2d_input_grad",
        &ddy.conv2d_input_grad(&dw, x.shape(), &spec).unwrap(),
        &dy.conv2d_input_grad(&w, x.shape(), &spec).unwrap(),
    );
    same(
        dev,
        "conv2d_weight_grad",
        &dx.conv2d_weight_grad(&ddy, w.shape(), &spec).unwrap(),
        &x.conv2d_weight_grad(&dy, w.shape(), &spec).unwrap(),
    );
    let wt = random::<T>(&mut rng, &[3, 2, 3, 3]);
    same(
        dev,
        "conv_transpose2d",
        &dx.conv_transpose2d(&up(dev, &wt), &spec, (0, 0)).unwrap(),
        &x.conv_transpose2d(&wt, &spec, (0, 0)).unwrap(),
    );
    let spec1 = Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (1, 1), groups: 1 };
    let (s, k) = (random::<T>(&mut rng, &[2, 3, 9]), random::<T>(&mut rng, &[4, 3, 3]));
    same(
        dev,
        "conv1d",
        &up(dev, &s).conv1d(&up(dev, &k), &spec1).unwrap(),
        &s.conv1d(&k, &spec1).unwrap(),
    );
}

/// A chain of operations on device tensors moves nothing between host and device; the wire
/// bytes of the result are one download of exactly its bytes. Skipped (with a message) on
/// a device that does not count its transfers.
pub fn stays_on_device<T: RingElement>(dev: &DeviceRef<T>) {
    let Some(_) = dev.transfers() else {
        eprintln!("device {}: does not count transfers; residency not checked", dev.label());
        return;
    };
    let mut rng = TestRng::new(5);
    let (x, w) = (random::<T>(&mut rng, &[1, 2, 6, 6]), random::<T>(&mut rng, &[3, 2, 3, 3]));
    let (dx, dw) = (up(dev, &x), up(dev, &w));
    let before = dev.transfers().expect("counted");
    let spec = Conv2dSpec { stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1 };
    let y = dx.neg().conv2d(&dw, &spec).unwrap();
    let z = y.shr_arithmetic(3).unwrap().add(&y.mul_scalar(T::from_u64_wrapping(5))).unwrap();
    let z = z.permute(&[0, 2, 3, 1]).unwrap().reshape(&[36, 3]).unwrap();
    let z = z.matmul(&z.t().unwrap()).unwrap().sum_axis(0, true).unwrap();
    let z =
        RingTensor::concat(&[&z, &z.neg()], 0).unwrap().pad(&[(1, 1), (0, 0)], T::zero()).unwrap();
    let z = z.slice(1, 0, 30, 3).unwrap().xor(&z.slice(1, 1, 31, 3).unwrap()).unwrap();
    assert_eq!(
        dev.transfers().expect("counted"),
        before,
        "device {}: operations on device tensors crossed to the host",
        dev.label()
    );
    let bytes = z.try_to_le_bytes().unwrap();
    let after = dev.transfers().expect("counted");
    let want = Transfers {
        downloads: before.downloads + 1,
        download_bytes: before.download_bytes + bytes.len() as u64,
        ..before
    };
    assert_eq!(after, want, "device {}: the wire bytes are one download", dev.label());
}

/// Host operands join a device operation (uploaded); the device reports who it is.
pub fn placement_errors<T: RingElement>(dev: &DeviceRef<T>) {
    let label = dev.label();
    assert!(!label.is_empty() && label != "cpu", "device label {label:?}");
    let mut rng = TestRng::new(6);
    let (a, b) = (random::<T>(&mut rng, &[4, 4]), random::<T>(&mut rng, &[4, 4]));
    let mixed = up(dev, &a).add(&b).unwrap();
    same(dev, "device + host", &mixed, &a.add(&b).unwrap());
    let mixed = a.matmul(&up(dev, &b)).unwrap();
    same(dev, "host matmul device", &mixed, &a.matmul(&b).unwrap());
    assert!(up(dev, &a).to_host().unwrap().is_host());
}

/// A device that makes pseudo-random streams makes the reference stream, from any word on,
/// in its own memory (nothing crosses); one that cannot says so with `None`.
pub fn keystream<T: RingElement>(dev: &DeviceRef<T>) {
    let key: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
    let cases = [(0u64, vec![3, 5]), (1, vec![64]), (63, vec![2, 65]), (1000, vec![0])];
    let before = dev.transfers();
    let mut made = Vec::new();
    for (first, shape) in &cases {
        match RingTensor::<T>::keystream_on(dev, &key, *first, shape).unwrap() {
            Some(t) => made.push(t),
            None => {
                eprintln!("device {}: makes no keystream; the host draws instead", dev.label());
                return;
            }
        }
    }
    assert_eq!(dev.transfers(), before, "device {}: the keystream crossed", dev.label());
    for ((first, shape), got) in cases.iter().zip(&made) {
        let words = crate::device::keystream::keystream::<T>(&key, *first, got.len());
        let want = RingTensor::from_vec(shape, words).unwrap();
        same(dev, &format!("keystream from word {first}"), got, &want);
    }
}

/// Expands to one `#[test]` per device check, in a module `$name`, for `u64` and `u32`;
/// `$factory` makes a fresh `DeviceRef<T>` for each test (it is evaluated per ring, so it
/// may be generic in the ring, like `SimulatedDevice::new().handle()`).
#[macro_export]
macro_rules! device_conformance_tests {
    (@tests $t:ty; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::device::$check::<$t>(&device());
            }
        )+
    };
    ($name:ident, $factory:expr $(,)?) => {
        mod $name {
            mod z64 {
                #[allow(unused_imports)]
                use super::super::*;
                fn device() -> $crate::device::DeviceRef<u64> {
                    $factory
                }
                $crate::device_conformance_tests!(@tests u64;
                    round_trip, elementwise, shape_ops, products, stays_on_device,
                    placement_errors, keystream);
            }
            mod z32 {
                #[allow(unused_imports)]
                use super::super::*;
                fn device() -> $crate::device::DeviceRef<u32> {
                    $factory
                }
                $crate::device_conformance_tests!(@tests u32;
                    round_trip, elementwise, shape_ops, products, stays_on_device,
                    placement_errors, keystream);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::Backend;
    use crate::device::{BinaryOp, Device, DeviceBuffer, SimulatedDevice, StridedView, UnaryOp};

    /// A simulated device with one fault: a wrong difference, or negation done on the host.
    #[derive(Debug)]
    struct Faulty {
        inner: SimulatedDevice,
        wrong_sub: bool,
    }

    impl Backend<u64> for Faulty {
        fn name(&self) -> &'static str {
            "faulty"
        }
        fn matmul(
            &self,
            a: &RingTensor<u64>,
            b: &RingTensor<u64>,
        ) -> crate::Result<RingTensor<u64>> {
            self.inner.matmul(a, b)
        }
        fn conv2d(
            &self,
            x: &RingTensor<u64>,
            w: &RingTensor<u64>,
            p: &Conv2dSpec,
        ) -> crate::Result<RingTensor<u64>> {
            self.inner.conv2d(x, w, p)
        }
        fn conv2d_input_grad(
            &self,
            dy: &RingTensor<u64>,
            w: &RingTensor<u64>,
            s: &[usize],
            p: &Conv2dSpec,
        ) -> crate::Result<RingTensor<u64>> {
            self.inner.conv2d_input_grad(dy, w, s, p)
        }
        fn conv2d_weight_grad(
            &self,
            x: &RingTensor<u64>,
            dy: &RingTensor<u64>,
            s: &[usize],
            p: &Conv2dSpec,
        ) -> crate::Result<RingTensor<u64>> {
            self.inner.conv2d_weight_grad(x, dy, s, p)
        }
        fn conv_transpose2d(
            &self,
            x: &RingTensor<u64>,
            w: &RingTensor<u64>,
            p: &Conv2dSpec,
            o: (usize, usize),
        ) -> crate::Result<RingTensor<u64>> {
            self.inner.conv_transpose2d(x, w, p, o)
        }
    }

    impl Device<u64> for Faulty {
        fn label(&self) -> String {
            Device::<u64>::label(&self.inner)
        }
        fn transfers(&self) -> Option<Transfers> {
            Some(self.inner.transfers())
        }
        fn upload(&self, host: &[u64]) -> crate::Result<DeviceBuffer> {
            Device::<u64>::upload(&self.inner, host)
        }
        fn download(&self, b: &DeviceBuffer) -> crate::Result<Vec<u64>> {
            Device::<u64>::download(&self.inner, b)
        }
        fn fill(&self, len: usize, value: u64) -> crate::Result<DeviceBuffer> {
            Device::<u64>::fill(&self.inner, len, value)
        }
        fn binary(
            &self,
            op: BinaryOp,
            a: (&DeviceBuffer, &[usize]),
            b: (&DeviceBuffer, &[usize]),
            out: &[usize],
        ) -> crate::Result<DeviceBuffer> {
            let op = if self.wrong_sub && op == BinaryOp::Sub { BinaryOp::Xor } else { op };
            Device::<u64>::binary(&self.inner, op, a, b, out)
        }
        fn unary(&self, op: UnaryOp<u64>, a: &DeviceBuffer) -> crate::Result<DeviceBuffer> {
            if !self.wrong_sub && op == UnaryOp::Neg {
                let host: Vec<u64> = self.download(a)?.iter().map(|x| x.wrapping_neg()).collect();
                return self.upload(&host);
            }
            Device::<u64>::unary(&self.inner, op, a)
        }
        fn strided_copy(&self, s: &DeviceBuffer, v: &StridedView) -> crate::Result<DeviceBuffer> {
            Device::<u64>::strided_copy(&self.inner, s, v)
        }
        fn assemble(
            &self,
            len: usize,
            fill: u64,
            parts: &[(&DeviceBuffer, StridedView)],
        ) -> crate::Result<DeviceBuffer> {
            Device::<u64>::assemble(&self.inner, len, fill, parts)
        }
        fn take(&self, s: &DeviceBuffer, i: &[usize]) -> crate::Result<DeviceBuffer> {
            Device::<u64>::take(&self.inner, s, i)
        }
        fn sum_axis(
            &self,
            s: &DeviceBuffer,
            shape: &[usize],
            axis: usize,
        ) -> crate::Result<DeviceBuffer> {
            Device::<u64>::sum_axis(&self.inner, s, shape, axis)
        }
        fn keystream(
            &self,
            key: &[u8; 16],
            first: u64,
            len: usize,
        ) -> crate::Result<Option<DeviceBuffer>> {
            if self.wrong_sub {
                // Another key's stream: right length, wrong words.
                let mut other = *key;
                other[15] ^= 1;
                return Device::<u64>::keystream(&self.inner, &other, first, len);
            }
            // Drawn on the host and uploaded: right words, a hidden transfer.
            let host = crate::device::keystream::keystream::<u64>(key, first, len);
            Device::<u64>::upload(&self.inner, &host).map(Some)
        }
    }

    fn fails(check: DeviceCheck<u64>, wrong_sub: bool) -> bool {
        let dev: DeviceRef<u64> = Arc::new(Faulty { inner: SimulatedDevice::new(), wrong_sub });
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&dev))).is_err()
    }

    #[test]
    fn the_suite_catches_wrong_values_and_hidden_transfers() {
        assert!(fails(elementwise, true), "a wrong difference");
        assert!(!fails(shape_ops, true));
        assert!(fails(stays_on_device, false), "negation through the host");
        assert!(!fails(elementwise, false), "a round trip still computes the right values");
        assert!(fails(keystream, true), "another key's stream");
        assert!(fails(keystream, false), "a keystream drawn on the host");
    }
}
