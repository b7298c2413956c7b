//! Fixed-point encoding and decoding of whole tensors.

use ndarray::ArrayD;

use super::RingTensor;
use crate::element::RingElement;
use crate::error::Result;
use crate::fixed::FixedPoint;

impl<T: RingElement> RingTensor<T> {
    /// Encodes reals in fixed point; the first NaN, infinity or out-of-range value is reported
    /// with its flat index.
    pub fn encode(values: &ArrayD<f64>, fp: FixedPoint) -> Result<Self> {
        Self::encode_iter(values.shape(), values.iter(), fp)
    }

    /// Encodes a row-major slice of reals with the given shape.
    pub fn encode_slice(shape: &[usize], values: &[f64], fp: FixedPoint) -> Result<Self> {
        Self::encode_iter(shape, values.iter(), fp)
    }

    fn encode_iter<'a>(
        shape: &[usize],
        values: impl Iterator<Item = &'a f64>,
        fp: FixedPoint,
    ) -> Result<Self> {
        let data = values
            .enumerate()
            .map(|(i, &v)| fp.encode_at::<T>(v, i))
            .collect::<Result<Vec<T>>>()?;
        Self::from_vec(shape, data)
    }

    /// Decodes every element from fixed point (exact for negatives).
    pub fn decode(&self, fp: FixedPoint) -> ArrayD<f64> {
        self.as_array().mapv(|t| fp.decode(t))
    }
}
