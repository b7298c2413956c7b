//! Seed-derived shares made on a device are the host's shares, word for word: the device's
//! keystream is the stream of `cloak_prg::Prg`, from any word on.

use cloak_dealer::generate::{party_shares, party_shares_on};
use cloak_dealer::{BilinearOp, Request};
use cloak_prg::{Prg, Seed};
use cloak_ring::RingTensor;
use cloak_ring::device::keystream::keystream;
use cloak_ring::device::{DeviceRef, SimulatedDevice};

#[test]
fn the_reference_keystream_is_the_prg_stream() {
    let seed = Seed::from_bytes(*b"device keystream");
    let mut prg = Prg::new(&seed);
    let mut all = vec![0u64; 300];
    prg.fill_u64(&mut all);
    for first in [0usize, 1, 2, 63, 64, 129] {
        assert_eq!(
            keystream::<u64>(seed.expose_bytes(), first as u64, 100),
            all[first..first + 100]
        );
    }
    let mut prg = Prg::new(&seed);
    let mut words32 = vec![0u32; 77];
    prg.fill_u32(&mut words32);
    assert_eq!(keystream::<u32>(seed.expose_bytes(), 0, 77), words32);
}

#[test]
fn shares_drawn_on_a_device_are_the_hosts_and_stay_there() {
    let device = SimulatedDevice::new();
    let handle: DeviceRef<u64> = device.handle();
    let seed = Seed::from_bytes(*b"party seed 16 by");
    let requests = [
        Request::Triple(BilinearOp::Matmul { lhs: vec![3, 5], rhs: vec![5, 2] }),
        Request::EdaBits { count: 100 },
        Request::DigitTables { count: 100, inject: true },
        Request::BinaryTriple { words: 7 },
        Request::RandomBits { count: 65 },
        Request::TruncPair { shape: vec![4, 4], bits: 16 },
    ];
    for (counter, request) in requests.iter().enumerate() {
        let layout = request.layout().unwrap();
        for rank in [0, 1, 2] {
            let host = party_shares(&seed, rank, counter as u64, &layout);
            let on = party_shares_on(Some(&handle), &seed, rank, counter as u64, &layout).unwrap();
            let pairs =
                host.free.iter().zip(&on.free).chain(host.dependent.iter().zip(&on.dependent));
            assert_eq!(on.free.len(), host.free.len());
            assert_eq!(on.dependent.len(), host.dependent.len(), "{request:?} rank {rank}");
            for (h, d) in pairs {
                assert!(d.placement().starts_with("sim:"), "{request:?} rank {rank}");
                let d: &RingTensor<u64> = d;
                assert_eq!(d.shape(), h.shape());
                assert_eq!(d.try_to_vec().unwrap(), h.to_vec(), "{request:?} rank {rank}");
            }
        }
    }
    // Made in the device's memory: the only transfers are the downloads this test made.
    assert_eq!(device.transfers().uploads, 0);
}
