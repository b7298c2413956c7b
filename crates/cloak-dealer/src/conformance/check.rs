//! Reconstruction of every party's shares and independent checks of each request's
//! relation. Expected values are computed here, from the ring's own methods and by hand for
//! the simplest shapes, never by the dealer's code, so a dealer bug is not checked against
//! itself.

use cloak_ring::RingTensor;

use super::kinds::{Affine, RowSums, XorKeys};
use crate::{BilinearOp, Component, Request, ShareKind, Shares};

/// A failed check, as a message.
pub type Check = Result<(), String>;

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Check {
    if cond { Ok(()) } else { Err(msg()) }
}

/// Combines every party's share of one component.
pub fn combine(
    kind: ShareKind,
    shape: &[usize],
    shares: &[&RingTensor<u64>],
) -> Result<RingTensor<u64>, String> {
    let mut acc = RingTensor::<u64>::zeros(shape);
    for s in shares {
        ensure(s.shape() == shape, || format!("a share of shape {:?}, not {shape:?}", s.shape()))?;
        acc = match kind {
            ShareKind::Arith => acc.add(s),
            ShareKind::Xor => acc.xor(s),
        }
        .map_err(|e| e.to_string())?;
    }
    Ok(acc)
}

/// The true values of a request's components (free, dependent, dealt), from every party's
/// shares in rank order; checks that every party got every component in its shape.
pub type Values = [Vec<RingTensor<u64>>; 3];

/// Picks one list of components out of a party's shares.
type Pick = fn(&Shares) -> &[RingTensor<u64>];

/// Reconstructs a request's values.
pub fn reconstruct(request: &Request, shares: &[Shares]) -> Result<Values, String> {
    let layout = request.layout().map_err(|e| e.to_string())?;
    let lists: [(&[Component], Pick); 3] = [
        (&layout.free, |s| &s.free),
        (&layout.dependent, |s| &s.dependent),
        (&layout.dealt, |s| &s.dealt),
    ];
    let mut out: Values = Default::default();
    for (slot, (components, pick)) in out.iter_mut().zip(lists) {
        for (p, s) in shares.iter().enumerate() {
            ensure(pick(s).len() == components.len(), || {
                format!("party {p} got {} components, not {}", pick(s).len(), components.len())
            })?;
        }
        for (i, c) in components.iter().enumerate() {
            let parts: Vec<&RingTensor<u64>> = shares.iter().map(|s| &pick(s)[i]).collect();
            slot.push(combine(c.kind, &c.shape, &parts)?);
        }
    }
    Ok(out)
}

/// `a * b` for lhs `[m, n]` and rhs `[n]`, by hand.
fn naive_mul_row_broadcast(a: &RingTensor<u64>, b: &RingTensor<u64>) -> Vec<u64> {
    let (m, n) = (a.shape()[0], a.shape()[1]);
    let (a, b) = (a.to_vec(), b.to_vec());
    (0..m * n).map(|i| a[i].wrapping_mul(b[i % n])).collect()
}

/// `a @ b` for 2-d operands, by the ring suite's naive reference.
fn naive_matmul(a: &RingTensor<u64>, b: &RingTensor<u64>) -> Vec<u64> {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    cloak_ring::conformance::reference::matmul((1, m, k, n), &a.to_vec(), &b.to_vec(), false)
}

/// `op(a, b)` by the ring's direct methods, checked by hand for the simplest shapes.
pub fn product(
    op: &BilinearOp,
    a: &RingTensor<u64>,
    b: &RingTensor<u64>,
) -> Result<RingTensor<u64>, String> {
    let c = match op {
        BilinearOp::Mul { .. } => a.mul(b),
        BilinearOp::Matmul { .. } => a.matmul(b),
        BilinearOp::Conv1d { spec, .. } => a.conv1d(b, spec),
        BilinearOp::Conv2d { spec, .. } => a.conv2d(b, spec),
        BilinearOp::Conv2dInputGrad { input_shape, spec, .. } => {
            a.conv2d_input_grad(b, input_shape, spec)
        }
        BilinearOp::Conv2dWeightGrad { weight_shape, spec, .. } => {
            a.conv2d_weight_grad(b, weight_shape, spec)
        }
        BilinearOp::ConvTranspose2d { spec, output_padding, .. } => {
            a.conv_transpose2d(b, spec, *output_padding)
        }
    }
    .map_err(|e| format!("{op:?}: the ring refuses the request's shapes: {e}"))?;
    match op {
        BilinearOp::Mul { lhs, rhs } if lhs.len() == 2 && rhs.len() == 1 => {
            ensure(c.to_vec() == naive_mul_row_broadcast(a, b), || "broadcast mul by hand".into())?;
        }
        BilinearOp::Matmul { lhs, rhs } if lhs.len() == 2 && rhs.len() == 2 => {
            ensure(c.to_vec() == naive_matmul(a, b), || "matmul by hand".into())?;
        }
        _ => {}
    }
    Ok(c)
}

/// Elementwise map of one tensor's words.
fn map(t: &RingTensor<u64>, f: impl Fn(u64) -> u64) -> Vec<u64> {
    t.to_vec().into_iter().map(f).collect()
}

/// Checks the relation a request promises between its values. A fixed-operand triple needs
/// its mask's value, `mask`.
pub fn relation(request: &Request, values: &Values, mask: Option<&RingTensor<u64>>) -> Check {
    let [free, dependent, dealt] = values;
    let name = request.name();
    match request {
        Request::Triple(op) => {
            let (a, b, c) = (&free[0], &free[1], &dependent[0]);
            ensure(*c == product(op, a, b)?, || format!("{op:?}: c != op(a, b)"))
        }
        Request::TripleFixedRhs { op, mask: m } => {
            let b = mask.ok_or_else(|| format!("no value for mask {m}"))?;
            ensure(dependent[0] == product(op, &free[0], b)?, || format!("{op:?}: c != op(a, B)"))
        }
        Request::Square { .. } => {
            let r = &free[0];
            ensure(dependent[0].to_vec() == map(r, |x| x.wrapping_mul(x)), || "r2 != r * r".into())
        }
        Request::BinaryTriple { .. } => {
            let want: Vec<u64> =
                free[0].to_vec().iter().zip(free[1].to_vec()).map(|(x, y)| x & y).collect();
            ensure(dependent[0].to_vec() == want, || "c != a & b".into())
        }
        Request::TruncPair { bits, .. } => {
            ensure(dependent[0].to_vec() == map(&free[0], |x| x >> bits), || {
                format!("r_shifted != r >> {bits}")
            })?;
            ensure(dependent[1].to_vec() == map(&free[0], |x| x >> 63), || {
                "r_msb != r >> 63".into()
            })
        }
        Request::DivPair { divisor, .. } => {
            ensure(dependent[0].to_vec() == map(&free[0], |x| x / divisor), || {
                format!("r_shifted != r / {divisor}")
            })?;
            ensure(dependent[1].to_vec() == map(&free[0], |x| x >> 63), || {
                "r_msb != r >> 63".into()
            })
        }
        Request::EdaBits { count } => {
            let (r, planes) = (free[0].to_vec(), dependent[0].to_vec());
            let words = count.div_ceil(64);
            ensure(planes.len() == 64 * words, || "plane words".into())?;
            for (k, &v) in r.iter().enumerate() {
                for j in 0..64 {
                    let bit = (planes[j * words + k / 64] >> (k % 64)) & 1;
                    ensure(bit == (v >> j) & 1, || format!("bit {j} of element {k}"))?;
                }
            }
            Ok(())
        }
        Request::TruncDigitTables { bits, .. } => {
            let (r, s) = (free[0].to_vec(), free[1].to_vec());
            tables_of(&r, &dependent[0].to_vec())?;
            let got: Vec<Vec<u64>> = dependent[1..].iter().map(RingTensor::to_vec).collect();
            for (k, &v) in r.iter().enumerate() {
                let sk = (s[k / 64] >> (k % 64)) & 1;
                let want = [sk, v >> bits, v >> 63, sk * (v >> bits), sk * (v >> 63)];
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    ensure(g[k] == w, || format!("dependent {} of element {k}", i + 1))?;
                }
            }
            Ok(())
        }
        Request::DigitTables { inject, .. } => {
            let r = free[0].to_vec();
            tables_of(&r, &dependent[0].to_vec())?;
            if *inject {
                let (s, s_arith, s_r) =
                    (free[1].to_vec(), dependent[1].to_vec(), dependent[2].to_vec());
                for (k, &v) in r.iter().enumerate() {
                    let sk = (s[k / 64] >> (k % 64)) & 1;
                    ensure(s_arith[k] == sk, || format!("mask bit {k} at scale 1"))?;
                    ensure(s_r[k] == sk.wrapping_mul(v), || format!("s * r of element {k}"))?;
                }
            }
            Ok(())
        }
        Request::MaskProducts { words, vars, subsets } => {
            let (masks, products) = (free[0].to_vec(), dependent[0].to_vec());
            ensure(masks.len() == words * *vars as usize, || "mask words".into())?;
            ensure(products.len() == words * subsets.len(), || "product words".into())?;
            // Bit by bit, as a plain AND of the variables' mask bits.
            for (j, &subset) in subsets.iter().enumerate() {
                for bit in 0..words * 64 {
                    let (w, b) = (bit / 64, bit % 64);
                    let want = (0..*vars as usize)
                        .filter(|i| (subset >> i) & 1 == 1)
                        .all(|i| (masks[i * words + w] >> b) & 1 == 1);
                    let got = (products[j * words + w] >> b) & 1 == 1;
                    ensure(got == want, || format!("bit {bit} of subset {subset:#x}"))?;
                }
            }
            Ok(())
        }
        Request::RandomBits { count } => {
            let (words, bits) = (free[0].to_vec(), dependent[0].to_vec());
            ensure(bits.len() == *count, || "bit count".into())?;
            for (i, &bit) in bits.iter().enumerate() {
                ensure(bit == (words[i / 64] >> (i % 64)) & 1, || format!("bit {i} is {bit}"))?;
            }
            Ok(())
        }
        Request::Custom(c) => match c.correlation().kind() {
            Affine::KIND => {
                let scale = u64::from_le_bytes(
                    c.correlation().params()[8..16].try_into().map_err(|_| "params")?,
                );
                let want = map(&free[0], |x| x.wrapping_mul(scale).wrapping_add(1));
                ensure(dependent[0].to_vec() == want, || "y != scale * x + 1".into())
            }
            RowSums::KIND => {
                let (x, cols) = (free[0].to_vec(), free[0].shape()[1]);
                let want: Vec<u64> = x
                    .chunks(cols.max(1))
                    .map(|row| row.iter().fold(0u64, |a, v| a.wrapping_add(*v)))
                    .collect();
                ensure(dependent[0].to_vec() == want, || "s != row sums of x".into())
            }
            XorKeys::KIND => ensure(dealt[0].to_vec() == map(&free[0], |x| !x), || {
                "the dealt keys do not XOR to !r".into()
            }),
            other => Err(format!("the suite has no check for custom kind {other:?}")),
        },
    }
    .map_err(|e| format!("{name}: {e}"))
}

/// Checks digit tables against their values, entry by entry: entry `v` of digit `d` is
/// `[v <= r_d]`, and plane 256 is bit 63.
fn tables_of(r: &[u64], tables: &[u64]) -> Check {
    let words = r.len().div_ceil(64);
    ensure(tables.len() == cloak_ring::digits::TABLE_PLANES * words, || "table words".into())?;
    let bit = |plane: usize, k: usize| (tables[plane * words + k / 64] >> (k % 64)) & 1;
    for (k, &v) in r.iter().enumerate() {
        for d in 0..16 {
            // Digit d: bits 4d.. (three bits for the top digit, four otherwise).
            let width = if d == 15 { 3 } else { 4 };
            let digit = (v >> (4 * d)) & ((1 << width) - 1);
            for entry in 0..16u64 {
                ensure(bit(16 * d + entry as usize, k) == u64::from(entry <= digit), || {
                    format!("entry {entry} of digit {d} of element {k}")
                })?;
            }
        }
        ensure(bit(256, k) == v >> 63, || format!("bit 63 of element {k}"))?;
    }
    Ok(())
}

/// Checks that the shares look random: for every component with a few elements, two
/// parties' shares differ and none is all zeros (each has probability about 2^-64 for a
/// uniform share).
pub fn random_looking(request: &Request, shares: &[Shares]) -> Check {
    let count = shares.first().map_or(0, |s| s.free.len() + s.dependent.len() + s.dealt.len());
    for i in 0..count {
        let per_party: Vec<Vec<u64>> = shares
            .iter()
            .map(|s| {
                s.free.iter().chain(&s.dependent).chain(&s.dealt).nth(i).map(RingTensor::to_vec)
            })
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{request:?}: component {i} missing"))?;
        if per_party[0].is_empty() {
            continue;
        }
        for (p, v) in per_party.iter().enumerate() {
            ensure(v.iter().any(|&x| x != 0), || {
                format!("{request:?}: party {p}'s share {i} is all zeros")
            })?;
        }
        for p in 1..per_party.len() {
            ensure(per_party[p - 1] != per_party[p], || {
                format!("{request:?}: parties {} and {p} share {i}", p - 1)
            })?;
        }
    }
    Ok(())
}

/// Reconstructs every request of a run (`per_party[p][k]` is party `p`'s shares of
/// `requests[k]`) and checks relations and randomness.
pub fn run(requests: &[Request], per_party: &[Vec<Shares>]) -> Check {
    for (k, request) in requests.iter().enumerate() {
        let shares: Vec<Shares> = per_party
            .iter()
            .map(|p| p.get(k).cloned().ok_or_else(|| format!("request {k} missing")))
            .collect::<Result<_, _>>()?;
        let values = reconstruct(request, &shares)?;
        relation(request, &values, None)?;
        random_looking(request, &shares)?;
    }
    Ok(())
}
