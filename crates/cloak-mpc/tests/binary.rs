//! Binary (XOR) shares for 2, 3 and 4 parties, against plain `u64` arithmetic: the local
//! gates (xor, xor/and with public words, not, shifts, bit extraction), AND and batched
//! `and_many` (one round for any number of pairs), A2B (the revealed words are exactly the
//! two's-complement fixed-point encoding, including negatives, zero, the range ends, and
//! for 3 and 4 parties the carry-save layers), B2A (any 64-bit words, read as encodings),
//! round trips both ways, and empty tensors. Everything here is exact: tolerance 0.

mod common;

use cloak_mpc::{AShare, BShare, SessionConfig};
use cloak_ring::RingTensor;
use common::*;
use ndarray::ArrayD;

fn ring(shape: &[usize], seed: u64) -> RingTensor<u64> {
    RingTensor::from_vec(shape, words(shape.iter().product(), seed)).unwrap()
}

fn map(t: &RingTensor<u64>, f: impl Fn(u64) -> u64) -> RingTensor<u64> {
    RingTensor::from_vec(t.shape(), t.to_vec().into_iter().map(f).collect()).unwrap()
}

fn zip(a: &RingTensor<u64>, b: &RingTensor<u64>, f: impl Fn(u64, u64) -> u64) -> RingTensor<u64> {
    let v = a.to_vec().into_iter().zip(b.to_vec()).map(|(x, y)| f(x, y)).collect();
    RingTensor::from_vec(a.shape(), v).unwrap()
}

fn agreed_rings(out: Vec<Vec<RingTensor<u64>>>) -> Vec<RingTensor<u64>> {
    for o in &out[1..] {
        assert_eq!(o, &out[0], "parties disagree on revealed words");
    }
    out.into_iter().next().unwrap()
}

#[test]
fn xor_sharing_helper_really_shares() {
    let v = ring(&[3, 4], 1);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let b = xor_share(s, &v);
            Ok((b.share_tensor().clone(), b.reveal()?))
        });
        for (rank, (share, revealed)) in out.into_iter().enumerate() {
            assert_ne!(share, v, "party {rank}'s share is the value");
            assert_eq!(revealed, v, "{n} parties: reveal");
        }
    }
}

#[test]
fn local_gates() {
    let x = ring(&[2, 5], 2);
    let y = ring(&[2, 5], 3);
    let row = ring(&[5], 4);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = xor_share(s, &x);
            let b = xor_share(s, &y);
            let xs = [
                a.xor(&b)?,
                a.xor_public(&row)?,
                a.and_public(&row)?,
                a.not(),
                a.shl(13)?,
                a.shr(7)?,
                a.shr(63)?,
                a.bit(0)?,
                a.bit(37)?,
                a.bit(63)?,
                a.not().not(),
                a.shl(0)?,
            ];
            // All local.
            assert_eq!(s.comm_stats().total().rounds, 0);
            xs.iter().map(BShare::reveal).collect::<Result<Vec<_>, _>>()
        });
        let got = agreed_rings(out);
        let row2 = RingTensor::from_vec(&[2, 5], [row.to_vec(), row.to_vec()].concat()).unwrap();
        let want = [
            zip(&x, &y, |a, b| a ^ b),
            zip(&x, &row2, |a, b| a ^ b),
            zip(&x, &row2, |a, b| a & b),
            map(&x, |a| !a),
            map(&x, |a| a << 13),
            map(&x, |a| a >> 7),
            map(&x, |a| a >> 63),
            map(&x, |a| a & 1),
            map(&x, |a| (a >> 37) & 1),
            map(&x, |a| a >> 63),
            x.clone(),
            x.clone(),
        ];
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{n} parties: gate {i}");
        }
        assert_eq!(got.len(), want.len());
    }
}

#[test]
fn and_and_and_many() {
    let x = ring(&[3, 7], 5);
    let y = ring(&[3, 7], 6);
    let u = ring(&[130], 7);
    let v = ring(&[130], 8);
    let one = ring(&[1], 9);
    let zero = RingTensor::<u64>::zeros(&[1]);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let (a, b) = (xor_share(s, &x), xor_share(s, &y));
            let (c, d) = (xor_share(s, &u), xor_share(s, &v));
            let (e, z) = (xor_share(s, &one), BShare::from_public(s, &zero));
            let single = a.and(&b)?.reveal()?;
            let before = s.comm_stats().total().rounds;
            let many = BShare::and_many(&[(&a, &b), (&c, &d), (&e, &e), (&e, &z), (&a, &a)])?;
            let rounds = s.comm_stats().total().rounds - before;
            assert!(BShare::and_many(&[])?.is_empty());
            let mut got = vec![single];
            for m in &many {
                got.push(m.reveal()?);
            }
            Ok((got, rounds))
        });
        for (_, rounds) in &out {
            assert_eq!(*rounds, 1, "{n} parties: and_many is one round");
        }
        let got = agreed_rings(out.into_iter().map(|o| o.0).collect());
        let xy = zip(&x, &y, |a, b| a & b);
        let want =
            [xy.clone(), xy, zip(&u, &v, |a, b| a & b), one.clone(), zero.clone(), x.clone()];
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{n} parties: and {i}");
        }
    }
}

#[test]
fn a2b_reveals_the_twos_complement_encoding() {
    let fp_max = (1i128 << 47) as f64 - 1.0;
    let mut vals = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        ULP,
        -ULP,
        -3.5,
        1234.5678,
        -98765.4321,
        fp_max,
        -fp_max - 1.0,
        1.0e13,
        -1.0e13,
    ];
    vals.extend(values(300, -1.0e6, 1.0e6, 10));
    let x = arr(&[vals.len()], vals);
    let enc = encode(&x);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share_from(s, n - 1, &x)?;
            let p = AShare::from_public(s, &x)?;
            let b = a.to_binary()?;
            Ok(vec![
                b.reveal()?,
                p.to_binary()?.reveal()?,
                b.bit(63)?.reveal()?,
                b.to_arith()?.reveal_ring()?,
            ])
        });
        let got = agreed_rings(out);
        assert_eq!(got[0], enc, "{n} parties: a2b of shared values");
        assert_eq!(got[1], enc, "{n} parties: a2b of a public value");
        let sign = map(&enc, |w| w >> 63);
        assert_eq!(got[2], sign, "{n} parties: sign bit");
        assert_eq!(got[3], enc, "{n} parties: a2b then b2a");
        // The sign bits are those of the values (negative zero encodes as zero).
        let neg: Vec<u64> = x.iter().map(|&v| u64::from((v * 65536.0).round() < 0.0)).collect();
        assert_eq!(got[2].to_vec(), neg);
    }
}

#[test]
fn b2a_of_arbitrary_words() {
    let w = ring(&[4, 33], 11);
    let fp = cloak_ring::FixedPoint::new::<u64>(16).unwrap();
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let b = xor_share(s, &w);
            let a = b.to_arith()?;
            Ok((a.reveal_ring()?, a.reveal()?, a.to_binary()?.reveal()?))
        });
        for (r, v, back) in out {
            assert_eq!(r, w, "{n} parties: b2a words");
            let want: ArrayD<f64> = w.as_array().mapv(|t| fp.decode(t));
            assert_close(&v, &want, 0.0, "b2a decoded");
            assert_eq!(back, w, "{n} parties: b2a then a2b");
        }
    }
}

#[test]
fn binary_then_arith_arithmetic() {
    // Bits extracted in binary, converted back, used in arithmetic: [x < 0] * 2^-16.
    let x = arr(&[6], vec![-2.0, 3.0, -0.5, 0.0, 7.25, -ULP]);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let b = share0(s, &x)?.to_binary()?;
            let bit = b.bit(63)?.to_arith()?; // a word 0 or 1, read as an encoding
            bit.mul_int(1 << 16).reveal()
        });
        let want = x.mapv(|v| ind(v < 0.0));
        assert_close(&agreed(out), &want, 0.0, "sign bit as arithmetic");
    }
}

#[test]
fn empty_binary_tensors() {
    for shape in [vec![0], vec![2, 0]] {
        let x = arr(&shape, vec![]);
        let e = RingTensor::<u64>::zeros(&shape);
        for n in PARTIES {
            let out = run(n, &SessionConfig::default(), |s| {
                let a = share0(s, &x)?;
                let b = a.to_binary()?;
                let c = xor_share(s, &e);
                Ok((
                    b.reveal()?,
                    b.and(&c)?.reveal()?,
                    c.to_arith()?.reveal()?,
                    b.to_arith()?.shape().to_vec(),
                ))
            });
            for (b, and, arith, shp) in out {
                assert_eq!(b, e, "{n} parties {shape:?}: a2b");
                assert_eq!(and, e, "{n} parties {shape:?}: and");
                assert_eq!(arith.shape(), shape.as_slice());
                assert_eq!(shp, shape);
            }
        }
    }
}

#[test]
fn five_and_six_parties() {
    // More carry-save layers (3 for 5 parties, leftovers of 2; 3 for 6, two groups).
    let x = grid(&rand_arr(&[70], -50.0, 50.0, 12));
    let y = grid(&rand_arr(&[70], -50.0, 50.0, 13));
    for n in [5, 6] {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share_from(s, 2, &x)?;
            let b = share_from(s, n - 1, &y)?;
            Ok((
                a.to_binary()?.reveal()?,
                vec![a.relu()?.reveal()?, a.lt(&b)?.reveal()?, a.mul(&b)?.reveal()?],
            ))
        });
        for (words, got) in out {
            assert_eq!(words, encode(&x), "{n} parties: a2b");
            assert_close(&got[0], &x.mapv(|v| v.max(0.0)), 0.0, &format!("{n}: relu"));
            let lt = zip_bcast(&x, &y, |a, b| ind(a < b));
            assert_close(&got[1], &lt, 0.0, &format!("{n}: lt"));
            // Grid inputs: one truncation.
            assert_close(&got[2], &(&x * &y), ULP, &format!("{n}: mul"));
        }
    }
}
