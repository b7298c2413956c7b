//! Reference architectures, built with the layers of this crate: the models the benchmarks
//! run, and small ones for the examples.

use cloak_autograd::Backend;
use cloak_mpc::Pool2dSpec;
use cloak_ring::Conv2dSpec;

use crate::error::Result;
use crate::init::Init;
use crate::layers::{
    AdaptiveAvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Residual, Sequential,
};

/// A multi-layer perceptron: Linear layers of the given widths with ReLU between them
/// (`[784, 128, 10]` is 784-128-10).
///
/// # Errors
/// Fewer than two widths; the backend's errors.
pub fn mlp<B: Backend>(init: &mut Init<B>, widths: &[usize]) -> Result<Sequential<B>> {
    if widths.len() < 2 {
        return Err(crate::error::invalid("mlp", format!("widths {widths:?}")));
    }
    let mut model = Sequential::new();
    for (i, pair) in widths.windows(2).enumerate() {
        model = model.push(Linear::new(init, pair[0], pair[1], true)?);
        if i + 2 < widths.len() {
            model = model.push(ReLU);
        }
    }
    Ok(model)
}

/// LeNet-5 for `1x28x28` inputs: conv(1->6, 5) ReLU maxpool(2), conv(6->16, 5) ReLU
/// maxpool(2), then Linear 256-120-84-10 with ReLUs.
///
/// # Errors
/// The backend's errors.
pub fn lenet<B: Backend>(init: &mut Init<B>) -> Result<Sequential<B>> {
    let conv = Conv2dSpec::default();
    Ok(Sequential::new()
        .push(Conv2d::new(init, 1, 6, (5, 5), conv, true)?)
        .push(ReLU)
        .push(MaxPool2d::square(2))
        .push(Conv2d::new(init, 6, 16, (5, 5), conv, true)?)
        .push(ReLU)
        .push(MaxPool2d::square(2))
        .push(Flatten::default())
        .push(Linear::new(init, 256, 120, true)?)
        .push(ReLU)
        .push(Linear::new(init, 120, 84, true)?)
        .push(ReLU)
        .push(Linear::new(init, 84, 10, true)?))
}

/// A small CNN for `1x8x8` digits: conv(1->8, 3, pad 1) ReLU maxpool(2), conv(8->16, 3,
/// pad 1) ReLU maxpool(2), Flatten, Linear 64-10.
///
/// # Errors
/// The backend's errors.
pub fn digits_cnn<B: Backend>(init: &mut Init<B>) -> Result<Sequential<B>> {
    let pad1 = Conv2dSpec { padding: (1, 1), ..Conv2dSpec::default() };
    Ok(Sequential::new()
        .push(Conv2d::new(init, 1, 8, (3, 3), pad1, true)?)
        .push(ReLU)
        .push(MaxPool2d::square(2))
        .push(Conv2d::new(init, 8, 16, (3, 3), pad1, true)?)
        .push(ReLU)
        .push(MaxPool2d::square(2))
        .push(Flatten::default())
        .push(Linear::new(init, 64, 10, true)?))
}

/// The stem of a ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResNetStem {
    /// torchvision's: conv 7x7 stride 2 pad 3, BatchNorm, ReLU, max pool 3x3 stride 2 pad 1
    /// (what CrypTen's published benchmark runs on 32x32 inputs).
    ImageNet,
    /// The CIFAR variant: conv 3x3 stride 1 pad 1, BatchNorm, ReLU, no pooling.
    Cifar,
}

fn conv_bn<B: Backend>(
    init: &mut Init<B>,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Result<Sequential<B>> {
    let spec =
        Conv2dSpec { stride: (stride, stride), padding: (pad, pad), ..Conv2dSpec::default() };
    Ok(Sequential::new()
        .push(Conv2d::new(init, cin, cout, (k, k), spec, false)?)
        .push(BatchNorm::new(init, cout)?))
}

/// A ResNet basic block: `relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`, the shortcut a
/// 1x1 convolution with BatchNorm when the shape changes.
///
/// # Errors
/// The backend's errors.
pub fn basic_block<B: Backend>(
    init: &mut Init<B>,
    cin: usize,
    cout: usize,
    stride: usize,
) -> Result<Sequential<B>> {
    let main = conv_bn(init, cin, cout, 3, stride, 1)?
        .push(ReLU)
        .push(conv_bn(init, cout, cout, 3, 1, 1)?);
    let block = if stride != 1 || cin != cout {
        Residual::projected(main, conv_bn(init, cin, cout, 1, stride, 0)?)
    } else {
        Residual::identity(main)
    };
    Ok(Sequential::new().push(block).push(ReLU))
}

/// ResNet-18 with `classes` outputs: the stem, four stages of two basic blocks (64, 128,
/// 256, 512 channels), global average pooling and a Linear layer.
///
/// # Errors
/// The backend's errors.
pub fn resnet18<B: Backend>(
    init: &mut Init<B>,
    classes: usize,
    stem: ResNetStem,
) -> Result<Sequential<B>> {
    let mut model = match stem {
        ResNetStem::ImageNet => conv_bn(init, 3, 64, 7, 2, 3)?.push(ReLU).push(MaxPool2d {
            spec: Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) },
        }),
        ResNetStem::Cifar => conv_bn(init, 3, 64, 3, 1, 1)?.push(ReLU),
    };
    let mut cin = 64;
    for (i, cout) in [64, 128, 256, 512].into_iter().enumerate() {
        let stride = if i == 0 { 1 } else { 2 };
        model = model
            .push(basic_block(init, cin, cout, stride)?)
            .push(basic_block(init, cout, cout, 1)?);
        cin = cout;
    }
    Ok(model
        .push(AdaptiveAvgPool2d { output: (1, 1) })
        .push(Flatten::default())
        .push(Linear::new(init, 512, classes, true)?))
}
