//! What the conformance suites do not reach: sizes past the kernels' tiles and grids, the
//! rank limit, two handles on one GPU, foreign buffers, keystreams of many blocks. Skipped,
//! with a message, where there is no CUDA device.

mod common;

use cloak_gpu::{CudaDevice, GemmMethod, MAX_RANK};
use cloak_ring::testing::TestRng;
use cloak_ring::{Backend, CpuBackend, Device, RingError, RingTensor, SimulatedDevice};

fn random(rng: &mut TestRng, shape: &[usize]) -> RingTensor<u64> {
    RingTensor::from_vec(shape, rng.words(shape.iter().product())).expect("shape holds the words")
}

fn assert_same(what: &str, got: &RingTensor<u64>, want: &RingTensor<u64>) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let got = got.to_host().expect("download");
    let (g, w) = (got.as_slice(), want.as_slice());
    if let Some(i) = g.iter().zip(w.iter()).position(|(a, b)| a != b) {
        panic!("{what}: element {i} is {:#x}, the host says {:#x}", g[i], w[i]);
    }
}

#[test]
fn matmuls_of_awkward_sizes_match_the_cpu() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    let dev = gpu.handle();
    let cpu = CpuBackend::default();
    let mut rng = TestRng::new(21);
    for (a_shape, b_shape) in [
        (vec![257, 131], vec![131, 515]),
        (vec![1, 1], vec![1, 1]),
        (vec![64, 64], vec![64, 64]),
        (vec![65, 0], vec![0, 3]),
        (vec![3, 65, 70], vec![3, 70, 33]),
        (vec![5, 7, 129], vec![129, 2]),
    ] {
        let (a, b) = (random(&mut rng, &a_shape), random(&mut rng, &b_shape));
        let want = cpu.matmul(&a, &b).expect("cpu");
        let got = a.to_device(&dev).unwrap().matmul(&b.to_device(&dev).unwrap()).expect("gpu");
        assert_same(&format!("matmul {a_shape:?} x {b_shape:?}"), &got, &want);
    }
}

#[test]
fn elementwise_kernels_cover_grids_larger_than_one_launch() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    let dev = gpu.handle();
    let mut rng = TestRng::new(22);
    // More elements than 2^16 blocks of 256 threads: the grid-stride loops go round.
    let n = (1 << 24) + 3;
    let (a, b) = (random(&mut rng, &[n]), random(&mut rng, &[n]));
    let (da, db) = (a.to_device(&dev).unwrap(), b.to_device(&dev).unwrap());
    assert_same("mul", &da.mul(&db).unwrap(), &a.mul(&b).unwrap());
    assert_same("shr_arithmetic", &da.shr_arithmetic(17).unwrap(), &a.shr_arithmetic(17).unwrap());
    let (r, c) = (random(&mut rng, &[4099, 1]), random(&mut rng, &[1, 4097]));
    let (dr, dc) = (r.to_device(&dev).unwrap(), c.to_device(&dev).unwrap());
    assert_same("broadcast xor", &dr.xor(&dc).unwrap(), &r.xor(&c).unwrap());
    let big = random(&mut rng, &[3, 5000, 7]);
    let dbig = big.to_device(&dev).unwrap();
    for axis in 0..3 {
        assert_same(
            "sum_axis",
            &dbig.sum_axis(axis, false).unwrap(),
            &big.sum_axis(axis, false).unwrap(),
        );
    }
}

#[test]
fn ranks_up_to_the_limit_run_and_beyond_it_are_refused() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    let dev = gpu.handle();
    let mut rng = TestRng::new(23);
    let mut shape = vec![2; MAX_RANK];
    shape[0] = 3;
    let mut other = vec![1; MAX_RANK];
    other[MAX_RANK - 1] = 2;
    let (a, b) = (random(&mut rng, &shape), random(&mut rng, &other));
    let got = a.to_device(&dev).unwrap().add(&b.to_device(&dev).unwrap()).unwrap();
    assert_same("rank-8 broadcast", &got, &a.add(&b).unwrap());
    let permuted: Vec<usize> = (0..MAX_RANK).rev().collect();
    let got = a.to_device(&dev).unwrap().permute(&permuted).unwrap();
    assert_same("rank-8 permute", &got, &a.permute(&permuted).unwrap());
    let deep = random(&mut rng, &[1; MAX_RANK + 1]);
    let wide = random(&mut rng, &[2; MAX_RANK + 1]);
    let err = wide.to_device(&dev).unwrap().add(&deep.to_device(&dev).unwrap());
    assert!(matches!(err, Err(RingError::InvalidShape { .. })), "{err:?}");
}

#[test]
fn two_handles_share_one_gpu() {
    let Some(one) = common::gpu_or_skip() else { return };
    let two = CudaDevice::new(one.ordinal()).expect("a second handle");
    assert_eq!(one.label(), two.label());
    let a = RingTensor::<u64>::from_vec(&[2, 2], vec![1, 2, 3, u64::MAX]).unwrap();
    let on_one = a.to_device(&one.handle()).unwrap();
    let on_two = a.to_device(&two.handle()).unwrap();
    let sum = on_one.add(&on_two).unwrap();
    assert_eq!(sum.to_vec(), vec![2, 4, 6, u64::MAX - 1]);
    let prod = on_two.matmul(&on_one).unwrap();
    assert_eq!(prod.to_vec(), a.matmul(&a).unwrap().to_vec());
    // Counters are per handle: the second handle's upload is not the first's.
    assert_eq!(one.transfers().uploads, 1);
    assert_eq!(two.transfers().uploads, 1);
}

#[test]
fn foreign_buffers_and_bad_shifts_are_errors() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    let sim = SimulatedDevice::new();
    let foreign = Device::<u64>::upload(&sim, &[1, 2, 3]).unwrap();
    let err = Device::<u64>::download(&gpu, &foreign);
    assert!(matches!(err, Err(RingError::Device { .. })), "{err:?}");
    let own = Device::<u64>::upload(&gpu, &[1, 2, 3]).unwrap();
    let err = Device::<u64>::unary(&gpu, cloak_ring::device::UnaryOp::Shl(64), &own);
    assert!(err.is_err(), "a shift by 64 reaches the kernel");
    let err = Device::<u64>::take(&gpu, &own, &[0, 3]);
    assert!(matches!(err, Err(RingError::IndexOutOfRange { .. })), "{err:?}");
    gpu.synchronize().expect("nothing failed on the GPU");
}

#[test]
fn keystreams_past_one_grid_match_the_reference() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    let key: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(91) ^ 0xc3);
    // 2^25 + 5 words from an odd offset: more counter blocks than one grid of 2^16 blocks of
    // 256 threads, so the grid-stride loop goes round.
    for (first, len) in
        [(1u64, (1usize << 25) + 5), (0, 1 << 20), ((1 << 40) + 1, 4097), (u64::MAX - 2, 3)]
    {
        let before = gpu.transfers();
        let made = Device::<u64>::keystream(&gpu, &key, first, len)
            .expect("keystream")
            .expect("the CUDA device makes keystreams");
        assert_eq!(made.len(), len);
        assert_eq!(gpu.transfers(), before, "from {first}: the keystream crossed");
        let got = Device::<u64>::download(&gpu, &made).expect("download");
        let want = cloak_ring::device::keystream::keystream::<u64>(&key, first, len);
        if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("from {first}: word {i} is {:#x}, the reference says {:#x}", got[i], want[i]);
        }
    }
    let empty = Device::<u64>::keystream(&gpu, &key, 7, 0).expect("keystream").expect("made");
    assert_eq!(empty.len(), 0);
    gpu.synchronize().expect("nothing failed on the GPU");
}

#[test]
fn wire_bytes_through_pinned_staging_match_the_host_and_are_counted_once() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    // A fresh handle: its counters see only this test's transfers.
    let dev = gpu.handle();
    let mut rng = TestRng::new(23);
    // Odd sizes, a size past the first staging buffer (it grows), and one past the largest
    // staging buffer (2^25 words: the transfer goes in chunks).
    for n in [0, 1, 3, 1001, (1 << 16) + 7, (1 << 20) + 1, (1 << 25) + 3] {
        let host = random(&mut rng, &[n]);
        let want = host.to_le_bytes();
        let before = gpu.transfers();
        let on_gpu = RingTensor::from_le_bytes_on(&dev, &[n], &want).expect("upload_le_bytes");
        let bytes = on_gpu.try_to_le_bytes().expect("to_le_bytes");
        let after = gpu.transfers();
        assert!(bytes == want, "{n} words: the wire bytes differ from the host's");
        assert_eq!(after.uploads - before.uploads, 1, "{n} words: uploads");
        assert_eq!(after.downloads - before.downloads, 1, "{n} words: downloads");
        assert_eq!(after.upload_bytes - before.upload_bytes, 8 * n as u64, "{n}: up bytes");
        assert_eq!(after.download_bytes - before.download_bytes, 8 * n as u64, "{n}: bytes");
        // The plain download (element by element) agrees with the wire bytes.
        let words = dev.download(on_gpu.device_buffer().expect("on the GPU").1).expect("dl");
        assert!(words.as_slice() == host.as_slice().as_ref(), "{n} words: download differs");
        // A value computed on the GPU (not just uploaded) encodes the same way.
        let doubled = on_gpu.add(&on_gpu).unwrap();
        assert!(doubled.try_to_le_bytes().unwrap() == host.add(&host).unwrap().to_le_bytes());
    }
}

#[test]
fn the_fp64_limb_gemm_matches_the_cpu_bit_for_bit() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    let limbs = match gpu.with_gemm(GemmMethod::Fp64Limbs) {
        Ok(limbs) => limbs,
        Err(e) if std::env::var("CLOAK_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("CLOAK_REQUIRE_GPU=1 but the fp64 limb GEMM cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    assert_eq!(limbs.gemm_method(), GemmMethod::Fp64Limbs);
    let dev = limbs.handle();
    let cpu = CpuBackend::default();
    let mut rng = TestRng::new(24);
    let k_over = (1 << 21) + 5;
    for (a_shape, b_shape, extreme) in [
        (vec![257, 131], vec![131, 515], false),
        (vec![257, 131], vec![131, 515], true),
        (vec![1, 1], vec![1, 1], false),
        (vec![65, 0], vec![0, 3], false),
        (vec![3, 65, 70], vec![3, 70, 33], false),
        (vec![5, 7, 129], vec![129, 2], true),
        // Past the chunk limit: two rounds of DGEMMs accumulated in u64.
        (vec![2, 1 << 21], vec![1 << 21, 2], true),
        (vec![2, k_over], vec![k_over, 2], true),
        (vec![2, k_over], vec![k_over, 2], false),
    ] {
        let (mut a, mut b) = (random(&mut rng, &a_shape), random(&mut rng, &b_shape));
        if extreme {
            a = RingTensor::from_vec(&a_shape, vec![u64::MAX; a.len()]).unwrap();
            b = RingTensor::from_vec(&b_shape, vec![u64::MAX; b.len()]).unwrap();
        }
        let want = cpu.matmul(&a, &b).expect("cpu");
        let got = a.to_device(&dev).unwrap().matmul(&b.to_device(&dev).unwrap()).expect("gpu");
        assert_same(&format!("fp64 limbs {a_shape:?} x {b_shape:?} ({extreme})"), &got, &want);
    }
}
