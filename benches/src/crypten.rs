//! CrypTen 0.4.1's figures on this kind of machine, the peer baseline of the protocol rows.
//!
//! Copied from `benches/data/crypten-0.4.1-baseline.md` (relative errors from
//! `benches/data/crypten-0.4.1-results.json`, the same run's raw output) (two parties as processes, trusted
//! first party, one thread each, 16 fractional bits). Bytes are party 0's sent plus received
//! (CrypTen counts 8 bytes per element and an all-reduce as a send and a receive).

/// One row of CrypTen's table.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    /// Max relative error where `|reference| >= 0.1` (unary functions only).
    pub max_rel_err: Option<f64>,
    /// Median seconds per operation.
    pub median_s: f64,
    /// Communication rounds logged by party 0.
    pub rounds: u64,
    /// Party 0's bytes, MiB.
    pub bytes_mib: f64,
    /// Max abs error against float32 torch.
    pub max_abs_err: f64,
}

/// Elementwise product of 1M elements.
pub const MUL_1M: Baseline = Baseline {
    max_rel_err: None,
    median_s: 0.0853,
    rounds: 1,
    bytes_mib: 30.52,
    max_abs_err: 9.92e-05,
};
/// 256 x 256 matrix product.
pub const MATMUL_256: Baseline = Baseline {
    max_rel_err: None,
    median_s: 0.0117,
    rounds: 1,
    bytes_mib: 2.00,
    max_abs_err: 0.0011,
};
/// 1024 x 1024 matrix product.
pub const MATMUL_1024: Baseline = Baseline {
    max_rel_err: None,
    median_s: 0.3875,
    rounds: 1,
    bytes_mib: 32.00,
    max_abs_err: 0.00246,
};
/// conv2d 1x64x56x56 by 64x64x3x3, padding 1.
pub const CONV2D: Baseline = Baseline {
    max_rel_err: None,
    median_s: 0.0671,
    rounds: 1,
    bytes_mib: 3.62,
    max_abs_err: 0.00102,
};
/// ReLU of 1M elements.
pub const RELU_1M: Baseline = Baseline {
    max_rel_err: None,
    median_s: 1.4069,
    rounds: 9,
    bytes_mib: 442.50,
    max_abs_err: 1.53e-05,
};
/// `x < y` of 1M elements (CrypTen got 2 of them wrong).
pub const LT_1M: Baseline = Baseline {
    max_rel_err: None,
    median_s: 1.2779,
    rounds: 8,
    bytes_mib: 411.99,
    max_abs_err: 1.0,
};
/// Sigmoid of 100k elements in [-8, 8].
pub const SIGMOID_100K: Baseline = Baseline {
    max_rel_err: Some(0.01303),
    median_s: 0.3086,
    rounds: 23,
    bytes_mib: 71.72,
    max_abs_err: 0.00273,
};
/// Exp of 100k elements in [-4, 4].
pub const EXP_100K: Baseline = Baseline {
    max_rel_err: Some(0.03521),
    median_s: 0.0639,
    rounds: 8,
    bytes_mib: 12.21,
    max_abs_err: 1.91,
};
/// Reciprocal of 100k elements in [0.1, 10].
pub const RECIPROCAL_100K: Baseline = Baseline {
    max_rel_err: Some(0.00150),
    median_s: 0.4578,
    rounds: 38,
    bytes_mib: 105.29,
    max_abs_err: 0.00147,
};
/// Square root of 100k elements in [0.1, 10].
pub const SQRT_100K: Baseline = Baseline {
    max_rel_err: Some(0.00498),
    median_s: 0.1677,
    rounds: 18,
    bytes_mib: 38.15,
    max_abs_err: 0.00936,
};
/// Natural log of 100k elements in [0.1, 10].
pub const LOG_100K: Baseline = Baseline {
    max_rel_err: Some(0.04331),
    median_s: 0.3438,
    rounds: 32,
    bytes_mib: 70.19,
    max_abs_err: 0.0155,
};
/// Softmax of 1000x100 standard normal values along the last axis.
pub const SOFTMAX_1000X100: Baseline = Baseline {
    max_rel_err: Some(0.01680),
    median_s: 0.7883,
    rounds: 116,
    bytes_mib: 141.37,
    max_abs_err: 0.00539,
};
/// LeNet-5 inference on one 1x28x28 standard normal image.
pub const LENET_B1: Baseline = Baseline {
    max_rel_err: None,
    median_s: 0.3924,
    rounds: 133,
    bytes_mib: 9.10,
    max_abs_err: 2.94e-05,
};
/// LeNet-5 inference on a batch of 64 1x28x28 standard normal images.
pub const LENET_B64: Baseline = Baseline {
    max_rel_err: None,
    median_s: 2.0585,
    rounds: 133,
    bytes_mib: 540.07,
    max_abs_err: 5.03e-05,
};
/// torchvision ResNet-18 (10 classes, BatchNorm randomised and calibrated, eval mode)
/// inference on one 3x32x32 standard normal image.
pub const RESNET18_32: Baseline = Baseline {
    max_rel_err: None,
    median_s: 2.4212,
    rounds: 611,
    bytes_mib: 247.69,
    max_abs_err: 0.00306,
};
/// One SGD step (lr 0.1, cross-entropy on one-hot labels) of an MLP 784-128-10 on a batch
/// of 64; the error is of the updated parameters.
pub const MLP_TRAIN_B64: Baseline = Baseline {
    max_rel_err: None,
    median_s: 0.5265,
    rounds: 148,
    bytes_mib: 10.79,
    max_abs_err: 0.000149,
};

// ----- ONNX models (benches/models/crypten-onnx-results.json: crypten.nn.from_onnx on the
// files benches/models/make_models.py writes; 2 parties, TFP, one thread each). The baseline
// ran twice on a loaded machine; each time here is the faster of the two runs' medians
// (rounds and bytes were identical), so that no ratio flatters Cloak.

/// torchvision ResNet-18, 1x3x224x224.
pub const ONNX_RESNET18: Option<Baseline> = Some(Baseline {
    max_rel_err: None,
    median_s: 52.319,
    rounds: 231,
    bytes_mib: 3_980_577_792.0 / 1_048_576.0,
    max_abs_err: 0.003_704,
});
/// torchvision ResNet-50, 1x3x224x224.
pub const ONNX_RESNET50: Option<Baseline> = Some(Baseline {
    max_rel_err: None,
    median_s: 82.172,
    rounds: 552,
    bytes_mib: 7_724_944_384.0 / 1_048_576.0,
    max_abs_err: 0.026_016,
});
/// torchvision MobileNetV2, 1x3x224x224.
pub const ONNX_MOBILENET_V2: Option<Baseline> = Some(Baseline {
    max_rel_err: None,
    median_s: 76.738,
    rounds: 368,
    bytes_mib: 5_829_966_336.0 / 1_048_576.0,
    max_abs_err: 0.002_321,
});
/// torchaudio Wav2Letter (40 classes, 13 MFCC features), one second of audio (1x13x100).
pub const ONNX_WAV2LETTER: Option<Baseline> = Some(Baseline {
    max_rel_err: None,
    median_s: 8.2858,
    rounds: 218,
    bytes_mib: 522_765_792.0 / 1_048_576.0,
    max_abs_err: 0.030_542,
});
