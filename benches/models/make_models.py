#!/usr/bin/env python3
"""Write the ONNX models that Cloak's model benchmarks (and crypten_onnx.py) run.

How to run
    /path/to/venv/bin/python benches/models/make_models.py [--only resnet18,...] [--default-bn]
    (needs torch, torchvision and torchaudio; no network access: all weights are random.
    Takes well under a minute on CPU.)

It writes into benches/models/out/ (git-ignored; about 245 MiB in all), for each NAME in
resnet18, resnet50, mobilenet_v2, wav2letter:
    NAME.onnx          the model, TorchScript exporter (dynamo=False), opset 17,
                       do_constant_folding=True, eval mode, fixed batch 1, input name
                       "input", output name "output"
    NAME.input.npy     float32, the benchmark input: torch.randn with a fixed seed
    NAME.output.npy    float32, torch's output (eval mode) on that input

Models
    resnet18, resnet50  torchvision.models.resnet18/50(weights=None), 1000 classes,
                        input [1, 3, 224, 224] -> [1, 1000]
    mobilenet_v2        torchvision.models.mobilenet_v2(weights=None), input [1, 3, 224, 224]
                        -> [1, 1000]
    wav2letter          torchaudio.models.Wav2Letter(num_classes=40, input_type="mfcc",
                        num_features=13), input [1, 13, 100] (one second of 13 MFCC
                        coefficients at a 10 ms hop) -> [1, 40, 51] (log-probabilities;
                        the model ends in log_softmax over the class axis; it has no
                        BatchNorm)

Weights are random: torch.manual_seed(0) before each model is built, with the libraries'
default initialisation, then (unless --default-bn) every BatchNorm is given random
statistics: gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1), and running mean/variance measured in
train mode on 4 batches of 8 random N(0, 1) inputs (cumulative average, momentum=None;
momentum is restored to 0.1 afterwards), much as the ResNet-18 case of
shared/peer-baseline/crypten/bench.py does. In eval mode the exporter folds every BatchNorm into
the convolution before it, so the exported graphs hold no BatchNormalization nodes.

Why not leave BatchNorm at its defaults (gamma 1, beta 0, mean 0, variance 1)?
  - Every folded convolution bias is then all zeros; the exporter de-duplicates the
    identical zero initializers into ONNX Identity nodes, which CrypTen 0.4.1 refuses
    ("CrypTen does not support ONNX op Identity.") for all three torchvision models.
  - Without normalisation the activations drift with depth: mobilenet_v2's logits come out
    around 1e-9 (below fixed-point resolution, so an error check means nothing) and
    resnet50's around 1e2.
--default-bn writes the default-BatchNorm exports anyway (to out/default-bn/), to reproduce
that refusal. The figures from these models measure cost and numerical agreement, not
accuracy.

Building or testing Cloak never needs this script. The Rust model bench looks for these
files in benches/models/out/ and skips a model whose files are missing, with a message
saying to run this script.
"""

import argparse
import os
import random

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
SEED = 0


def build(name):
    import torchaudio
    import torchvision

    if name == "resnet18":
        return torchvision.models.resnet18(weights=None), (1, 3, 224, 224)
    if name == "resnet50":
        return torchvision.models.resnet50(weights=None), (1, 3, 224, 224)
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None), (1, 3, 224, 224)
    if name == "wav2letter":
        model = torchaudio.models.Wav2Letter(num_classes=40, input_type="mfcc", num_features=13)
        return model, (1, 13, 100)
    raise ValueError(name)


MODELS = ["resnet18", "resnet50", "mobilenet_v2", "wav2letter"]


def calibrate_batchnorm(model, shape, batches=4, batch_size=8):
    """Random BatchNorm affine parameters and running statistics measured on random inputs."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.1)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(batches):
            model(torch.randn(batch_size, *shape[1:]))
        for bn in bns:
            bn.momentum = 0.1
    return len(bns)


def make(name, default_bn=False):
    """The model (eval mode, seeded) and its input shape, as exported."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    model, shape = build(name)
    if not default_bn:
        calibrate_batchnorm(model, shape)
    model.eval()
    return model, shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--default-bn", action="store_true",
                    help="leave BatchNorm at its defaults; writes to out/default-bn/")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or MODELS
    out = os.path.join(OUT, "default-bn") if args.default_bn else OUT
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in names:
        model, shape = make(name, args.default_bn)
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(SEED))
        with torch.no_grad():
            y = model(x)
        path = os.path.join(out, f"{name}.onnx")
        torch.onnx.export(
            model,
            (x,),
            path,
            dynamo=False,
            export_params=True,
            opset_version=17,
            do_constant_folding=True,
            input_names=["input"],
            output_names=["output"],
        )
        np.save(os.path.join(out, f"{name}.input.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(out, f"{name}.output.npy"), y.numpy().astype(np.float32))
        print(
            f"{name}: input {list(x.shape)} -> output {list(y.shape)}, "
            f"|output| max {y.abs().max().item():.4g}, {os.path.getsize(path) / 2**20:.1f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
