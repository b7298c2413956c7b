//! Fixture access shared by the tests: the ONNX files exported from PyTorch under
//! `tests/fixtures/` (see its README), each with its input and torch's output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads a float32 (or float64) `.npy` as `f64`.
pub fn read_npy(path: &Path) -> ArrayD<f64> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Ok(a) = ArrayD::<f32>::read_npy(&bytes[..]) {
        return a.mapv(f64::from);
    }
    if let Ok(a) = ArrayD::<f64>::read_npy(&bytes[..]) {
        return a;
    }
    if let Ok(a) = ArrayD::<i64>::read_npy(&bytes[..]) {
        return a.mapv(|v| v as f64);
    }
    if let Ok(a) = ArrayD::<bool>::read_npy(&bytes[..]) {
        return a.mapv(|v| f64::from(u8::from(v)));
    }
    panic!("{}: not a float32/float64/int64/bool .npy", path.display())
}

/// One model file with its case's input and torch's output.
pub struct Fixture {
    pub file: PathBuf,
    pub name: String,
    pub input: ArrayD<f64>,
    pub expected: ArrayD<f64>,
    /// The values of the model's public inputs (`CASE.NAME.npy`), by input name.
    pub public: Vec<(String, ArrayD<f64>)>,
}

impl Fixture {
    /// The model, with its public inputs set.
    pub fn load(&self) -> Result<cloak_onnx::OnnxModel, cloak_onnx::OnnxError> {
        let mut model = cloak_onnx::OnnxModel::load(&self.file)?;
        self.set_public(&mut model)?;
        Ok(model)
    }

    /// Sets the public inputs of `model` (any party's view of it).
    pub fn set_public(
        &self,
        model: &mut cloak_onnx::OnnxModel,
    ) -> Result<(), cloak_onnx::OnnxError> {
        for (name, value) in &self.public {
            model.set_public_input(name, value)?;
        }
        Ok(())
    }
}

/// Every `CASE.EXPORTER.onnx` whose input and output are present, sorted by name.
pub fn all() -> Vec<Fixture> {
    let dir = fixtures();
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    entries.sort();
    for file in entries {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let case = name.split('.').next().unwrap().to_string();
        let input = dir.join(format!("{case}.input.npy"));
        let output = dir.join(format!("{case}.output.npy"));
        if !input.exists() || !output.exists() {
            continue;
        }
        let mut public = Vec::new();
        let prefix = format!("{case}.");
        for extra in std::fs::read_dir(&dir).expect("fixtures").map(|e| e.expect("entry").path()) {
            let fname = extra.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(input_name) =
                fname.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".npy"))
                && input_name != "input"
                && input_name != "output"
            {
                public.push((input_name.to_string(), read_npy(&extra)));
            }
        }
        public.sort_by(|a, b| a.0.cmp(&b.0));
        out.push(Fixture {
            input: read_npy(&input),
            expected: read_npy(&output),
            file,
            name,
            public,
        });
    }
    out
}

pub fn max_abs_diff(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// A float tensor's type and shape, for hand-built graphs' inputs and outputs.
pub fn value_info(name: &str, dims: &[i64]) -> cloak_onnx::proto::onnx::ValueInfoProto {
    typed_value_info(name, dims, 1)
}

/// A tensor's type (an ONNX `DataType` code: 1 float, 7 int64, 9 bool) and shape.
pub fn typed_value_info(
    name: &str,
    dims: &[i64],
    elem_type: i32,
) -> cloak_onnx::proto::onnx::ValueInfoProto {
    use cloak_onnx::proto::onnx::{
        TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto,
    };
    let mut shape = TensorShapeProto::new();
    for &d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(d));
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = Some(elem_type);
    t.shape = Some(shape).into();
    let mut tp = TypeProto::new();
    tp.value = Some(type_proto::Value::TensorType(t));
    let mut v = ValueInfoProto::new();
    v.name = Some(name.into());
    v.type_ = Some(tp).into();
    v
}
