#!/usr/bin/env python3
"""Train the small digits CNN used by Cloak's examples and export it to ONNX.

What it does
    1. Reads ../data/digits.csv (UCI optdigits 8x8 handwritten digits, 1797 rows of
       64 pixels 0..16 then the label 0..9, no header; see examples/data/README.md),
       scales the pixels to [0, 1] (divides by 16) and reshapes them to [N, 1, 8, 8].
    2. Splits the rows 80/20 into train/test with a fixed seed (numpy permutation).
    3. Trains a small CNN deterministically (fixed seeds, one thread,
       torch.use_deterministic_algorithms(True)) with Adam and cross-entropy:
           Conv2d(1->8, 3, pad 1) - BatchNorm2d(8) - ReLU - MaxPool2d(2)   -> [N, 8, 4, 4]
           Conv2d(8->16, 3, pad 1) - ReLU - MaxPool2d(2)                    -> [N, 16, 2, 2]
           Flatten - Linear(64->32) - ReLU - Linear(32->10)                 -> [N, 10] logits
    4. Prints the train and test accuracy.
    5. Writes, next to this script:
         digits_cnn.onnx            the model in eval mode, TorchScript exporter
                                    (dynamo=False), opset 17, input "image" [batch, 1, 8, 8],
                                    output "logits" [batch, 10], batch axis dynamic.
                                    In eval mode the exporter folds the BatchNorm into
                                    the first convolution's weights and bias.
         digits_sample.npy          float32 [8, 1, 8, 8]: 8 real test-split digits, the
                                    first test example of each class 0..7, scaled to [0, 1]
         digits_sample_labels.npy   int64 [8]: their labels
         digits_sample_logits.npy   float32 [8, 10]: torch's logits on them (eval mode)

How to run
    /path/to/venv/bin/python examples/models/train_digits_cnn.py
    (needs only torch and numpy; onnx is not needed to export. Takes a few seconds on CPU.)

Building or testing Cloak never needs this script nor Python: its outputs are committed
and the Rust examples/tests read the committed files. It is here so the model's
provenance is reproducible.
"""

import os
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "digits.csv")
SEED = 0
EPOCHS = 60
BATCH = 32
LR = 3e-3


def set_determinism(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 2 * 2, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def load_digits():
    raw = np.loadtxt(DATA, delimiter=",", dtype=np.int64)
    assert raw.shape == (1797, 65), raw.shape
    x = (raw[:, :64].astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = raw[:, 64].astype(np.int64)
    return x, y


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def main():
    set_determinism(SEED)
    x, y = load_digits()
    perm = np.random.default_rng(SEED).permutation(len(y))
    n_train = int(round(0.8 * len(y)))
    tr, te = perm[:n_train], perm[n_train:]
    x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
    print(f"train {len(y_tr)} rows, test {len(y_te)} rows")

    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  loss {total / len(yt):.4f}")

    train_acc = accuracy(model, x_tr, y_tr)
    test_acc = accuracy(model, x_te, y_te)
    print(f"train accuracy {train_acc:.4f}")
    print(f"test accuracy {test_acc:.4f} ({int(round(test_acc * len(y_te)))}/{len(y_te)})")

    # sample: the first test-split example of each class 0..7
    pick = [int(np.flatnonzero(y_te == c)[0]) for c in range(8)]
    sample = np.ascontiguousarray(x_te[pick], dtype=np.float32)
    labels = y_te[pick].astype(np.int64)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(sample)).numpy().astype(np.float32)
    print("sample labels     ", labels.tolist())
    print("sample predictions", logits.argmax(1).tolist())
    np.save(os.path.join(HERE, "digits_sample.npy"), sample)
    np.save(os.path.join(HERE, "digits_sample_labels.npy"), labels)
    np.save(os.path.join(HERE, "digits_sample_logits.npy"), logits)

    torch.onnx.export(
        model,
        (torch.from_numpy(sample),),
        os.path.join(HERE, "digits_cnn.onnx"),
        dynamo=False,
        export_params=True,
        opset_version=17,
        do_constant_folding=True,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )
    print("wrote digits_cnn.onnx, digits_sample.npy, digits_sample_labels.npy, digits_sample_logits.npy")


if __name__ == "__main__":
    main()
