//! `cloak inspect`: what a model is and what running it privately will cost, before anyone
//! starts a party.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, UNUSABLE};

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// The input shape to plan for, comma-separated [default: the model's, with symbolic
    /// dimensions set to 1].
    #[arg(long, value_parser = parse_shape, value_name = "D1,D2,...")]
    pub input_shape: Option<Shape>,
}

/// A shape given on the command line (a type of its own: clap reads a `Vec` as repeated
/// values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape(pub Vec<usize>);

/// `1,1,8,8` (also with `x` or spaces) as a shape.
pub(crate) fn parse_shape(s: &str) -> Result<Shape, String> {
    let dims: Result<Vec<usize>, _> =
        s.split([',', 'x', ' ']).filter(|d| !d.is_empty()).map(str::parse).collect();
    match dims {
        Ok(d) if !d.is_empty() => Ok(Shape(d)),
        _ => Err(format!("`{s}` is not a shape such as 1,1,8,8")),
    }
}

/// The model's input shape as `inspect` and `infer` plan for it: the given one, else the
/// declared one with symbolic dimensions set to 1.
pub(crate) fn planned_shape(
    model: &cloak::onnx::OnnxModel,
    given: Option<&[usize]>,
) -> CliResult<Vec<usize>> {
    match given {
        Some(s) => Ok(s.to_vec()),
        None => model.default_input_shape().ok_or_else(|| {
            CliError::new(UNUSABLE, "the model declares no input shape: pass --input-shape")
        }),
    }
}

/// The error for a model with unsupported nodes: all of them, on one line.
pub(crate) fn unsupported_error(nodes: &[cloak::onnx::UnsupportedNode]) -> CliError {
    let list: Vec<String> = nodes.iter().map(ToString::to_string).collect();
    CliError::new(UNUSABLE, format!("{} unsupported node(s): {}", nodes.len(), list.join("; ")))
}

pub(crate) fn run(args: &InspectArgs) -> CliResult<()> {
    let model = super::load_model(&args.model)?;
    let shape = planned_shape(&model, args.input_shape.as_ref().map(|s| s.0.as_slice()))?;
    model.check_input_shape(&shape).map_err(|e| CliError::new(UNUSABLE, e.to_string()))?;
    let report = model.report(&shape).map_err(|e| CliError::new(UNUSABLE, e.to_string()))?;
    println!("{}: {} nodes", args.model.display(), model.node_count());
    print!("{report}");
    if report.unsupported.is_empty() { Ok(()) } else { Err(unsupported_error(&report.unsupported)) }
}
