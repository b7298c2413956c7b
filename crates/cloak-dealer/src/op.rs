//! The wire encoding of [`BilinearOp`] (the op itself is ring arithmetic and lives in
//! `cloak-ring`): what a party sends a third-party dealer to ask for a triple.

use cloak_ring::{BilinearOp, Conv2dSpec};

use crate::DealerError;
use crate::bytes::{Reader, Writer};

/// Appends `op`'s encoding: a tag, then its shapes and parameters.
pub(crate) fn write(op: &BilinearOp, w: &mut Writer) {
    let spec_of = |w: &mut Writer, s: &Conv2dSpec| {
        w.pair(s.stride);
        w.pair(s.padding);
        w.pair(s.dilation);
        w.usize(s.groups);
    };
    match op {
        BilinearOp::Mul { lhs, rhs } => {
            w.u8(0);
            w.shape(lhs);
            w.shape(rhs);
        }
        BilinearOp::Matmul { lhs, rhs } => {
            w.u8(1);
            w.shape(lhs);
            w.shape(rhs);
        }
        BilinearOp::Conv1d { input, weight, spec } => {
            w.u8(2);
            w.shape(input);
            w.shape(weight);
            spec_of(w, spec);
        }
        BilinearOp::Conv2d { input, weight, spec } => {
            w.u8(3);
            w.shape(input);
            w.shape(weight);
            spec_of(w, spec);
        }
        BilinearOp::Conv2dInputGrad { grad_out, weight, input_shape, spec } => {
            w.u8(4);
            w.shape(grad_out);
            w.shape(weight);
            w.shape(input_shape);
            spec_of(w, spec);
        }
        BilinearOp::Conv2dWeightGrad { input, grad_out, weight_shape, spec } => {
            w.u8(5);
            w.shape(input);
            w.shape(grad_out);
            w.shape(weight_shape);
            spec_of(w, spec);
        }
        BilinearOp::ConvTranspose2d { input, weight, spec, output_padding } => {
            w.u8(6);
            w.shape(input);
            w.shape(weight);
            spec_of(w, spec);
            w.pair(*output_padding);
        }
    }
}

/// Reads what [`write`] wrote.
pub(crate) fn read(r: &mut Reader<'_>) -> Result<BilinearOp, DealerError> {
    let spec_of = |r: &mut Reader<'_>| -> Result<Conv2dSpec, DealerError> {
        Ok(Conv2dSpec {
            stride: r.pair()?,
            padding: r.pair()?,
            dilation: r.pair()?,
            groups: r.usize()?,
        })
    };
    Ok(match r.u8()? {
        0 => BilinearOp::Mul { lhs: r.shape()?, rhs: r.shape()? },
        1 => BilinearOp::Matmul { lhs: r.shape()?, rhs: r.shape()? },
        2 => BilinearOp::Conv1d { input: r.shape()?, weight: r.shape()?, spec: spec_of(r)? },
        3 => BilinearOp::Conv2d { input: r.shape()?, weight: r.shape()?, spec: spec_of(r)? },
        4 => BilinearOp::Conv2dInputGrad {
            grad_out: r.shape()?,
            weight: r.shape()?,
            input_shape: r.shape()?,
            spec: spec_of(r)?,
        },
        5 => BilinearOp::Conv2dWeightGrad {
            input: r.shape()?,
            grad_out: r.shape()?,
            weight_shape: r.shape()?,
            spec: spec_of(r)?,
        },
        6 => BilinearOp::ConvTranspose2d {
            input: r.shape()?,
            weight: r.shape()?,
            spec: spec_of(r)?,
            output_padding: r.pair()?,
        },
        tag => return Err(r.malformed(format!("unknown bilinear op tag {tag}"))),
    })
}
