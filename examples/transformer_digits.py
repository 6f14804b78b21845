"""A small transformer trained on scikit-learn's digits while its causal plane is recorded.

    python3 examples/transformer_digits.py [--epochs 30] [--out transformer_digits.csv]

Each 8x8 digit is read as a sequence of 8 tokens (its rows) of 8 pixels (scaled to [0, 1]):
a Linear embeds each token (8 -> 16), one nn.TransformerEncoderLayer (2 heads, feed-forward
width 32, F.relu inside) mixes the tokens, the tokens are averaged and a Linear head gives the
10 classes. None of it is a chain of modules: the embedding and the feed-forward Linears run
on every token, the encoder adds residuals and calls its activation as a function.

deep_ei_fast traces the model (topology_of) and CausalPlaneRecorder measures one row per
Linear every ``--every`` epochs, each on its own with the activation that follows it in the
model: ``embed`` (one token's 8 pixels -> 16 features, no activation: the encoder's input),
``encoder.linear1`` (16 -> 32, followed by the encoder's F.relu: outputs binned in (0, 10)),
``encoder.linear2`` (32 -> 16, inputs after the relu: (0, 10); followed by a residual add:
no activation) and ``head`` (16 -> 10). The attention's own projections are computed inside
F.multi_head_attention_forward, not by Linear modules: they are not rows
(docs/modern_architectures.rst). The rows go to ``--out`` (a CSV; an existing one resumes).
"""
import argparse
import time

import torch
import torch.nn as nn

import deep_ei_fast as deep_ei


class DigitsTransformer(nn.Module):
    def __init__(self, width=16, heads=2, feed_forward=32, classes=10):
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.encoder = nn.TransformerEncoderLayer(width, heads, feed_forward, dropout=0.0, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, rows):  # rows: (batch, 8 tokens, 8 pixels)
        return self.head(self.encoder(self.embed(rows)).mean(dim=1))


def digits(seed):
    """(x_train, y_train, x_test, y_test): 8x8 digits as 8 rows of 8 pixels in [0, 1], 80/20."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(y))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--every", type=int, default=5, help="record the plane every this many epochs")
    parser.add_argument("--samples", type=int, default=100_000, help="noise samples per layer (EI, EI_parts)")
    parser.add_argument("--sensitivity-samples", type=int, default=2000, help="per input neuron")
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--out", default="transformer_digits.csv")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = digits(args.seed)
    model = DigitsTransformer()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    recorder = deep_ei.CausalPlaneRecorder(
        model, x_train[:1], args.out, every=args.every, samples=args.samples,
        sensitivity_samples=args.sensitivity_samples, in_bins=args.bins, out_bins=args.bins,
        seed=args.seed, progress=False)
    for epoch in range(recorder.next_step, args.epochs + 1):
        if epoch > 0:  # epoch 0 records the untrained model
            model.train()
            for batch in torch.randperm(len(y_train)).split(64):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
        model.eval()
        start = time.perf_counter()
        rows = recorder.record(epoch, test_accuracy=accuracy(model, x_test, y_test))
        if rows:
            print(f"epoch {epoch}: test accuracy {rows[0]['test_accuracy']:.3f}, plane in "
                  f"{time.perf_counter() - start:.1f} s")
            for row in rows:
                print(f"  {row['name']:16s} {row['module']:14s} EI {row['ei']:6.2f}  EI_parts "
                      f"{row['ei_parts']:6.2f}  sensitivity {row['sensitivity']:6.2f}  "
                      f"degeneracy {row['degeneracy']:6.2f}")
    print(f"wrote {args.out}")
    return recorder


if __name__ == "__main__":
    main()
