//! Max, min, argmax and argmin along an axis.
//!
//! Two methods, as CrypTen offers:
//! - [`MaxMethod::Tree`] (default): adjacent pairs are compared and the larger kept, halving
//!   the candidates per level: `ceil(log2 n)` levels of the sign circuit and one selection
//!   round each (4 rounds per level with the default comparison, dealer digits, for any
//!   number of parties; the selection multiplies by the
//!   XOR-shared comparison bit directly, see `inject`). The one-hot of the winner rides
//!   along as an `n`-long row per candidate, so `argmax` (not `max`) costs memory and
//!   traffic in `rows * n^2`: fine for pooling windows and class scores, not for axes of
//!   tens of thousands (a prefix-scan one-hot is the fix there). The one-hot of the winner's position rides along in the same selection
//!   round. Pairs are adjacent, so ties go to the first occurrence.
//! - [`MaxMethod::Pairwise`]: all `n (n - 1) / 2` comparisons in one circuit; element `i`
//!   wins against `j > i` when `x_i >= x_j` and against `j < i` when `x_i > x_j`, so exactly
//!   one element (the first maximum) wins all `n - 1`; a second comparison finds it, and one
//!   selection round yields the max: 9 rounds whatever `n` with the default comparison, at
//!   `O(n^2)` comparisons.
//!
//! [`MaxMethod::for_rows`] picks between them by the rounds, within a bound on the work:
//! softmax's maximum uses it, so a short row (class scores) takes the all-pairs rounds.

use cloak_ring::RingTensor;
use ndarray::Array2;

use crate::ashare::AShare;
use crate::compare::one_minus;
use crate::error::{Result, invalid};
use crate::primitives::{gather_bits, pack_bits, unpack_bits};

/// How [`AShare::max_with_argmax`] reduces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MaxMethod {
    /// Pairwise tree, `ceil(log2 n)` comparison levels.
    #[default]
    Tree,
    /// All pairs at once: constant rounds, quadratic work.
    Pairwise,
}

/// The most comparisons [`MaxMethod::for_rows`] spends on all pairs, over every row: about
/// 1.6 MB to each peer and a few milliseconds with the default comparison.
pub const PAIRWISE_LIMIT: usize = 1 << 17;

impl MaxMethod {
    /// The method with fewer rounds for `rows` rows of `n`, unless all pairs would take
    /// more than [`PAIRWISE_LIMIT`] comparisons: all pairs take two comparisons and a
    /// product, the tree one comparison and a product per halving, so all pairs have fewer
    /// rounds from 3 halvings on (`n >= 5`) with any comparison strategy.
    #[must_use]
    pub fn for_rows(rows: usize, n: usize) -> MaxMethod {
        let pairs = rows.saturating_mul(n.saturating_mul(n.saturating_sub(1)) / 2);
        if n >= 5 && pairs <= PAIRWISE_LIMIT { MaxMethod::Pairwise } else { MaxMethod::Tree }
    }
}

/// Moves `axis` last and flattens the rest: `[rows, n]`, with the permutation used.
fn to_rows(x: &AShare, axis: usize, op: &'static str) -> Result<(AShare, Vec<usize>)> {
    let nd = x.shape().len();
    if axis >= nd {
        return Err(cloak_ring::RingError::AxisOutOfRange { op, axis, ndim: nd }.into());
    }
    let mut perm: Vec<usize> = (0..nd).filter(|&a| a != axis).collect();
    perm.push(axis);
    let moved = x.permute(&perm)?;
    let n = x.shape()[axis];
    let rows = moved.len().checked_div(n).unwrap_or(0);
    Ok((moved.reshape(&[rows, n])?, perm))
}

/// An axis error naming the operation the caller asked for.
fn check_axis(x: &AShare, axis: usize, op: &'static str) -> Result<()> {
    let ndim = x.shape().len();
    if axis >= ndim {
        return Err(cloak_ring::RingError::AxisOutOfRange { op, axis, ndim }.into());
    }
    Ok(())
}

/// The shape with `axis` removed (or kept as 1).
fn reduced_shape(shape: &[usize], axis: usize, keepdim: bool) -> Vec<usize> {
    let mut out = shape.to_vec();
    if keepdim {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// Undoes [`to_rows`] for a `[rows, n]` tensor.
fn from_rows(t: &AShare, shape: &[usize], perm: &[usize]) -> Result<AShare> {
    let moved: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let mut inverse = vec![0; perm.len()];
    for (i, &a) in perm.iter().enumerate() {
        inverse[a] = i;
    }
    t.reshape(&moved)?.permute(&inverse)
}

impl AShare {
    /// Maximum along `axis`.
    ///
    /// # Errors
    /// An axis out of range or of length 0; a communication or dealer error.
    pub fn max(&self, axis: usize, keepdim: bool) -> Result<AShare> {
        Ok(self.max_with_argmax_inner(axis, keepdim, MaxMethod::Tree, false)?.0)
    }

    /// Maximum along `axis` by `method` (the one-hot of its position is not kept).
    ///
    /// # Errors
    /// As [`max`](Self::max).
    pub fn max_by(&self, axis: usize, keepdim: bool, method: MaxMethod) -> Result<AShare> {
        Ok(self.max_with_argmax_inner(axis, keepdim, method, false)?.0)
    }

    /// Minimum along `axis`.
    ///
    /// # Errors
    /// As [`max`](Self::max).
    pub fn min(&self, axis: usize, keepdim: bool) -> Result<AShare> {
        check_axis(self, axis, "min")?;
        Ok(self.neg().max(axis, keepdim)?.neg())
    }

    /// One-hot (0/1, same shape as `self`) of the first maximum along `axis`.
    ///
    /// # Errors
    /// As [`max`](Self::max).
    pub fn argmax(&self, axis: usize) -> Result<AShare> {
        Ok(self.max_with_argmax(axis, false, MaxMethod::Tree)?.1)
    }

    /// One-hot of the first minimum along `axis`.
    ///
    /// # Errors
    /// As [`max`](Self::max).
    pub fn argmin(&self, axis: usize) -> Result<AShare> {
        check_axis(self, axis, "argmin")?;
        self.neg().argmax(axis)
    }

    /// The maximum along `axis` and the one-hot of its (first) position, same shape as
    /// `self`, by the chosen method.
    ///
    /// # Errors
    /// As [`max`](Self::max).
    pub fn max_with_argmax(
        &self,
        axis: usize,
        keepdim: bool,
        method: MaxMethod,
    ) -> Result<(AShare, AShare)> {
        let (m, onehot) = self.max_with_argmax_inner(axis, keepdim, method, true)?;
        Ok((m, onehot.unwrap_or_else(|| unreachable!("one-hot requested"))))
    }

    fn max_with_argmax_inner(
        &self,
        axis: usize,
        keepdim: bool,
        method: MaxMethod,
        want_onehot: bool,
    ) -> Result<(AShare, Option<AShare>)> {
        let session = self.session().clone();
        session.scoped("max", || {
            let (rows, perm) = to_rows(self, axis, "max")?;
            let n = rows.shape()[1];
            if n == 0 {
                return Err(invalid("max", format!("axis {axis} has length 0")));
            }
            let (best, onehot_bits) = match method {
                MaxMethod::Tree => rows.max_tree(want_onehot)?,
                MaxMethod::Pairwise => rows.max_pairwise()?,
            };
            let mut kept = self.shape().to_vec();
            kept[axis] = 1;
            let best = from_rows(&best, &kept, &perm)?.reshape(&reduced_shape(
                self.shape(),
                axis,
                keepdim,
            ))?;
            let onehot = if want_onehot {
                let f = session.fixed_point().frac_bits();
                let bits = onehot_bits.unwrap_or_else(|| unreachable!("tracked"));
                let fixed = AShare::from_share(&session, bits.mul_scalar(1u64 << f));
                Some(from_rows(&fixed, self.shape(), &perm)?)
            } else {
                None
            };
            Ok((best, onehot))
        })
    }

    /// Tree reduction of `[rows, n]`: the maxima `[rows, 1]` and, if asked, scale-1
    /// one-hot shares `[rows, n]`.
    fn max_tree(&self, want_onehot: bool) -> Result<(AShare, Option<RingTensor<u64>>)> {
        let (rows, n) = (self.shape()[0], self.shape()[1]);
        let rank = self.session().rank();
        let mut vals = self.clone();
        // onehot[r, c, k]: candidate c of row r sits at original position k (scale 1).
        let mut onehot = want_onehot.then(|| identities(self.share_tensor(), rank)).transpose()?;
        let mut m = n;
        while m > 1 {
            let h = m / 2;
            let a = vals.slice(1, 0, 2 * h, 2)?;
            let c = vals.slice(1, 1, 2 * h, 2)?;
            let rest = (m % 2 == 1).then(|| vals.slice(1, 2 * h, m, 1)).transpose()?;
            // b = [a < c] as XOR shares; the winner is a - b (a - c), ties keeping a.
            let diff = a.sub(&c)?;
            let k = rows * h;
            let (new_vals, new_onehot) = match &onehot {
                None => {
                    // The strategy's product by the sign: one round for FSS, the sign
                    // circuit and one bit-injection round otherwise.
                    let (bd, _) = self.session().context()?.times_ltz(diff.share_tensor())?;
                    (a.sub(&AShare::from_share(self.session(), bd))?, None)
                }
                Some(oh) => {
                    let oa = oh.slice(1, 0, 2 * h, 2)?;
                    let oc = oh.slice(1, 1, 2 * h, 2)?;
                    let odiff = oa.sub(&oc)?;
                    // One selection round for the values and the one-hots: each one-hot
                    // entry takes the bit of its candidate.
                    let lhs =
                        RingTensor::concat(&[&diff.share_tensor().flatten(), &odiff.flatten()], 0)?;
                    let p = self.select_with_onehots(diff.share_tensor(), &lhs, k, n)?;
                    let v = p.slice(0, 0, k, 1)?.reshape(&[rows, h])?;
                    let o = p.slice(0, k, k + k * n, 1)?.reshape(&[rows, h, n])?;
                    (a.sub(&AShare::from_share(self.session(), v))?, Some(oa.sub(&o)?))
                }
            };
            vals = match &rest {
                Some(r) => AShare::concat(&[&new_vals, r], 1)?,
                None => new_vals,
            };
            onehot = match (new_onehot, &onehot) {
                (Some(o), Some(old)) if m % 2 == 1 => {
                    Some(RingTensor::concat(&[&o, &old.slice(1, 2 * h, m, 1)?], 1)?)
                }
                (o, _) => o,
            };
            m = h + m % 2;
        }
        let onehot = onehot.map(|o| o.reshape(&[rows, n])).transpose()?;
        Ok((vals, onehot))
    }

    /// All-pairs reduction of `[rows, n]`: maxima `[rows, 1]` and scale-1 one-hot shares.
    fn max_pairwise(&self) -> Result<(AShare, Option<RingTensor<u64>>)> {
        let (rows, n) = (self.shape()[0], self.shape()[1]);
        let rank = self.session().rank();
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for i in 0..n {
            for j in i + 1..n {
                left.push(i);
                right.push(j);
            }
        }
        // t[r, p] = [x_i < x_j] for pair p = (i, j), i < j.
        let d = self.index_select(1, &left)?.sub(&self.index_select(1, &right)?)?;
        let t = d.ltz_bits()?;
        // The score of i: the pairs it wins, (1 - t) where it is left, t where it is right;
        // it won all n - 1 when score - (n - 1) = (t right of i) - (t left of i) - i is 0.
        // Both sums come from the pairs laid out as the upper triangle of an n x n matrix
        // (the pad column, 0, fills the rest); party 0's -i is the -1 of every pair left
        // of i, so no public tensor is made.
        let pairs = left.len();
        let mut upper = vec![pairs; n * n];
        for (p, (&i, &j)) in left.iter().zip(&right).enumerate() {
            upper[i * n + j] = p;
        }
        let triangle = |t: &RingTensor<u64>| -> Result<RingTensor<u64>> {
            let padded = t.pad(&[(0, 0), (0, 1)], 0)?;
            Ok(padded.index_select(1, &upper)?.reshape(&[rows, n, n])?)
        };
        let as_left = triangle(&t)?.sum_axis(2, false)?;
        let right_t = if rank == 0 { t.sub_scalar(1) } else { t };
        let as_right = triangle(&right_t)?.sum_axis(1, false)?;
        let shifted = as_right.sub(&as_left)?;
        let lost = AShare::from_share(self.session(), shifted).ltz_bits()?;
        let onehot = one_minus(rank, &lost);
        let best = self.mul_by_bits(&onehot)?.sum(1, true)?;
        Ok((best, Some(onehot)))
    }
}

/// Party 0's `[rows, n, n]` identities (the others' zeros), the one-hots a tree reduction of
/// `[rows, n]` starts from, placed as `like`: on a device they are cut from `like` by scalar
/// operations and a padding (each row of an identity is a 1 followed by `n` zeros, repeated,
/// its last row cut short), so no public tensor crosses to it.
fn identities(like: &RingTensor<u64>, rank: usize) -> Result<RingTensor<u64>> {
    let (rows, n) = (like.shape()[0], like.shape()[1]);
    if like.is_host() {
        let eye = if rank == 0 {
            Array2::<u64>::eye(n).into_dyn()
        } else {
            Array2::<u64>::zeros((n, n)).into_dyn()
        };
        return Ok(RingTensor::from_array(eye).broadcast_to(&[rows, n, n])?);
    }
    let ones = like.and_scalar(0).add_scalar(u64::from(rank == 0)).reshape(&[rows, n, 1])?;
    if n <= 1 {
        return Ok(ones.reshape(&[rows, n, n])?);
    }
    let spaced = ones.slice(1, 0, n - 1, 1)?.pad(&[(0, 0), (0, 0), (0, n)], 0)?;
    let spaced = spaced.reshape(&[rows, (n - 1) * (n + 1)])?;
    let last = ones.slice(1, n - 1, n, 1)?.reshape(&[rows, 1])?;
    Ok(RingTensor::concat(&[&spaced, &last], 1)?.reshape(&[rows, n, n])?)
}

impl AShare {
    /// Shares of `b_i * lhs_i` for the `k` comparison bits `[diff < 0]` of a tree level:
    /// `lhs` holds the `k` value differences, then `k` one-hot rows of `n`, each row taking
    /// its candidate's bit. One bit-injection round after the sign circuit; a device share
    /// stays on the device (the bits unpacked, repeated and packed there).
    fn select_with_onehots(
        &self,
        diff: &RingTensor<u64>,
        lhs: &RingTensor<u64>,
        k: usize,
        n: usize,
    ) -> Result<RingTensor<u64>> {
        let mut ctx = self.session().context()?;
        if diff.is_host() && lhs.is_host() {
            let lt = ctx.ltz_packed(diff)?;
            let bits = gather_bits(&lt, k + k * n, |i| if i < k { i } else { (i - k) / n });
            return Ok(ctx.mul_by_xor_bits(lhs, &bits)?.0);
        }
        let lt = ctx.ltz_packed_tensor(diff)?;
        let b = unpack_bits(&lt, k)?;
        let repeated = b.reshape(&[k, 1])?.broadcast_to(&[k, n])?.reshape(&[k * n])?;
        let bits = pack_bits(&RingTensor::concat(&[&b, &repeated], 0)?)?;
        Ok(ctx.mul_by_xor_bits_tensor(lhs, &bits)?.0)
    }
}
