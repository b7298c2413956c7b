#!/usr/bin/env python3
"""Train the small sentiment transformer of Cloak's private text-classification example and
export it to ONNX.

What it does
    1. Reads sentences.tsv next to this script (id, mean human rating, label, split, text;
       see README.md). With ``--from-sdist vaderSentiment-3.3.2.tar.gz`` it first rebuilds
       that file from the PyPI source distribution of vaderSentiment: the tweet-like texts
       of ``additional_resources/hutto_ICWSM_2014.tar.gz``, ``tweets_GroundTruth.txt``,
       those whose mean rating is at least 0.5 away from neutral, labelled 1 (positive)
       when the rating is positive, split 80/20 train/test by a seeded permutation.
    2. Tokenizes (``tokenize`` below; the Rust example implements the same rules): lowercase;
       runs of ASCII letters, digits and apostrophes are words; ``!`` and ``?`` are tokens
       of their own; every other character separates. A sequence is ``<cls>`` then the
       first SEQ_LEN - 1 tokens, padded with ``<pad>`` to SEQ_LEN. Words outside the
       vocabulary become ``<unk>``.
    3. Builds the vocabulary from the training split only: ``<pad>``, ``<cls>``, ``<unk>``,
       then the words seen at least twice, most frequent first (ties alphabetical), at most
       VOCAB_MAX in all.
    4. Trains a BERT-style encoder (``SentimentTransformer``) with AdamW and cross-entropy,
       keeping the weights of the epoch with the best accuracy on a validation tenth of the
       training split; prints train, validation and test accuracy.
    5. Writes next to this script:
         vocab.txt           one token a line; a token's id is its line number from 0
         sentiment.onnx      eval mode, TorchScript exporter (dynamo=False), opset 17;
                             input "ids" int64 [batch, SEQ_LEN] (batch dynamic), output
                             "logits" float32 [batch, 2] (negative, positive)
         torch_test.tsv      for every test sentence, in sentences.tsv's order: id, label,
                             torch's two logits (float32 printed with 9 significant
                             digits), the token ids torch saw (space-separated)

The sequence carries no padding mask on purpose: a mask would have to be a public input,
and it would tell every party how long the data owner's sentence is. The model attends to
the ``<pad>`` positions as to any token, and was trained that way.

How to run
    /path/to/venv/bin/python examples/data/text/train.py [--from-sdist PATH]
    (torch 2.8 and onnx; about a minute on two CPU cores.)

Building or testing Cloak never needs this script nor Python: its outputs are committed.
"""

import argparse
import io
import os
import random
import tarfile
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = os.path.join(HERE, "sentences.tsv")
SEED = 0
SEQ_LEN = 32
VOCAB_MAX = 2000
MIN_COUNT = 2
D_MODEL, N_HEADS, D_FF, LAYERS = 32, 2, 64, 2
EPOCHS, BATCH, LR, WEIGHT_DECAY, DROPOUT = 40, 32, 2e-3, 1e-2, 0.1
NEUTRAL_MARGIN = 0.5
PAD, CLS, UNK = "<pad>", "<cls>", "<unk>"


def set_determinism(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def tokenize(text):
    """Lowercase; runs of ASCII letters, digits and apostrophes are words; '!' and '?' are
    tokens; anything else separates."""
    out, word = [], []
    for c in text.lower():
        if c.isascii() and (c.isalnum() or c == "'"):
            word.append(c)
            continue
        if word:
            out.append("".join(word))
            word = []
        if c in "!?":
            out.append(c)
    if word:
        out.append("".join(word))
    return out


def rebuild_sentences(sdist):
    """Writes sentences.tsv from vaderSentiment's source distribution."""
    with tarfile.open(sdist) as outer:
        inner_name = next(n for n in outer.getnames()
                          if n.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(inner_name).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        name = next(n for n in inner.getnames() if n.endswith("tweets_GroundTruth.txt"))
        raw = inner.extractfile(name).read().decode("utf-8")
    rows = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        ident, rating, text = line.split("\t", 2)
        rating = float(rating)
        if abs(rating) < NEUTRAL_MARGIN:
            continue
        text = " ".join(text.split())  # tabs and newlines inside a text become spaces
        rows.append((ident, rating, int(rating > 0), text))
    order = np.random.default_rng(SEED).permutation(len(rows))
    test = set(order[: len(rows) // 5].tolist())
    with open(SENTENCES, "w", encoding="utf-8", newline="\n") as f:
        f.write("id\trating\tlabel\tsplit\ttext\n")
        for i, (ident, rating, label, text) in enumerate(rows):
            split = "test" if i in test else "train"
            f.write(f"{ident}\t{rating:.4f}\t{label}\t{split}\t{text}\n")
    print(f"wrote {len(rows)} sentences to {SENTENCES}")


def read_sentences():
    rows = []
    with open(SENTENCES, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["id", "rating", "label", "split", "text"], header
        for line in f:
            ident, _rating, label, split, text = line.rstrip("\n").split("\t")
            rows.append((ident, int(label), split, text))
    return rows


def build_vocab(texts):
    counts = Counter(w for t in texts for w in tokenize(t))
    words = sorted((w for w, c in counts.items() if c >= MIN_COUNT),
                   key=lambda w: (-counts[w], w))
    return [PAD, CLS, UNK] + words[: VOCAB_MAX - 3]


def encode(text, index):
    ids = [index[CLS]] + [index.get(w, index[UNK]) for w in tokenize(text)][: SEQ_LEN - 1]
    return ids + [index[PAD]] * (SEQ_LEN - len(ids))


class Block(nn.Module):
    """Post-norm encoder block: self-attention, residual, LayerNorm, GELU feed-forward,
    residual, LayerNorm."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(D_MODEL, N_HEADS, dropout=0.0, batch_first=True)
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.ff1 = nn.Linear(D_MODEL, D_FF)
        self.ff2 = nn.Linear(D_FF, D_MODEL)
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, h):
        a, _ = self.attn(h, h, h, need_weights=False)
        h = self.ln1(h + self.drop(a))
        return self.ln2(h + self.drop(self.ff2(F.gelu(self.ff1(h)))))


class SentimentTransformer(nn.Module):
    """Token and learned position embeddings, LayerNorm, LAYERS blocks, the <cls> position's
    vector through a tanh pooler, and a linear classifier over 2 classes."""

    def __init__(self, vocab):
        super().__init__()
        self.tok = nn.Embedding(vocab, D_MODEL)
        self.pos = nn.Embedding(SEQ_LEN, D_MODEL)
        self.ln = nn.LayerNorm(D_MODEL)
        self.drop = nn.Dropout(DROPOUT)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.pooler = nn.Linear(D_MODEL, D_MODEL)
        self.cls = nn.Linear(D_MODEL, 2)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1])
        h = self.drop(self.ln(self.tok(ids) + self.pos(positions)))
        for block in self.blocks:
            h = block(h)
        return self.cls(torch.tanh(self.pooler(h[:, 0])))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-sdist", help="vaderSentiment-3.3.2.tar.gz to rebuild "
                        "sentences.tsv from")
    args = parser.parse_args()
    if args.from_sdist:
        rebuild_sentences(args.from_sdist)
    set_determinism(SEED)
    torch.backends.mha.set_fastpath_enabled(False)

    rows = read_sentences()
    train = [r for r in rows if r[2] == "train"]
    test = [r for r in rows if r[2] == "test"]
    vocab = build_vocab([r[3] for r in train])
    index = {w: i for i, w in enumerate(vocab)}

    def tensors(rs):
        x = torch.tensor([encode(r[3], index) for r in rs], dtype=torch.int64)
        return x, torch.tensor([r[1] for r in rs], dtype=torch.int64)

    order = np.random.default_rng(SEED + 1).permutation(len(train))
    n_val = len(train) // 10
    val_rows = [train[i] for i in order[:n_val]]
    fit_rows = [train[i] for i in order[n_val:]]
    x_fit, y_fit = tensors(fit_rows)
    x_val, y_val = tensors(val_rows)
    x_test, y_test = tensors(test)
    print(f"{len(rows)} sentences: {len(fit_rows)} fit, {len(val_rows)} validation, "
          f"{len(test)} test; vocabulary {len(vocab)}; positive share "
          f"{sum(r[1] for r in rows) / len(rows):.3f}")

    model = SentimentTransformer(len(vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    best, best_state = -1.0, None
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(x_fit))
        for i in range(0, len(perm), BATCH):
            b = perm[i:i + BATCH]
            loss = F.cross_entropy(model(x_fit[b]), y_fit[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = accuracy(model, x_val, y_val)
        if val > best:
            best = val
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1:3d}: loss {loss.item():.3f} validation {val:.3f}")
    model.load_state_dict(best_state)
    model.eval()
    print(f"best validation {best:.3f}; train {accuracy(model, x_fit, y_fit):.3f}; "
          f"test {accuracy(model, x_test, y_test):.3f}")

    with open(os.path.join(HERE, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(w + "\n" for w in vocab))
    path = os.path.join(HERE, "sentiment.onnx")
    torch.onnx.export(model, (x_test[:2],), path, dynamo=False, opset_version=17,
                      input_names=["ids"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        logits = model(x_test).numpy()
    with open(os.path.join(HERE, "torch_test.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("id\tlabel\tlogit_negative\tlogit_positive\tids\n")
        for r, ids, z in zip(test, x_test.tolist(), logits):
            f.write(f"{r[0]}\t{r[1]}\t{z[0]:.9g}\t{z[1]:.9g}\t{' '.join(map(str, ids))}\n")
    print(f"wrote vocab.txt, sentiment.onnx ({os.path.getsize(path)} bytes), torch_test.tsv")


if __name__ == "__main__":
    main()
