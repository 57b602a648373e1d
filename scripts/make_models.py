#!/usr/bin/python3
"""Exports the reference models berth is tested and benchmarked on.

  make_models.py --out DIR [--models resnet50,mobilenet_v2,bert,mlp] [--batch 1]

For each model writes DIR/<name>/model.onnx (opset 17, dynamic batch axis),
plus, for --batch B, inputs DIR/<name>/b<B>/<input>.npy and PyTorch's outputs
DIR/<name>/b<B>/expected_<output>.npy. Weights are random but distinct per
layer (seeded), so tests are reproducible. Uses Debian's python3-torch and
python3-torchvision; run it with /usr/bin/python3.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

SEED = 1234


class BertSelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, hidden)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
        probs = torch.softmax(scores, dim=-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        b, s = context.shape[0], context.shape[1]
        return self.output(context.view(b, s, -1))


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, intermediate):
        super().__init__()
        self.attention = BertSelfAttention(hidden, heads)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, mask):
        x = self.attention_norm(x + self.attention(x, mask))
        h = nn.functional.gelu(self.intermediate(x))
        return self.output_norm(x + self.output(h))


class BertEncoder(nn.Module):
    """BERT-base shaped: 12 layers, hidden 768, 12 heads, FFN 3072."""

    def __init__(self, vocab=30522, hidden=768, layers=12, heads=12, intermediate=3072, max_positions=512):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, intermediate) for _ in range(layers)])

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.embedding_norm(self.word_embeddings(input_ids) + self.position_embeddings(positions))
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask)
        return x


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

    def forward(self, x):
        return self.net(x)


def randomize(model):
    """Distinct random weights for every parameter and realistic BN statistics."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                nn.init.normal_(p, std=1.0 / math.sqrt(fan_in))
            elif name.endswith("weight"):
                nn.init.uniform_(p, 0.8, 1.2)
            else:
                nn.init.normal_(p, std=0.02)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)


def build(name):
    torch.manual_seed(SEED)
    if name == "resnet50":
        import torchvision
        model = torchvision.models.resnet50(weights=None)
        inputs = {"input": ((3, 224, 224), torch.float32)}
        outputs = ["logits"]
    elif name == "mobilenet_v2":
        import torchvision
        model = torchvision.models.mobilenet_v2(weights=None)
        inputs = {"input": ((3, 224, 224), torch.float32)}
        outputs = ["logits"]
    elif name == "bert":
        model = BertEncoder()
        inputs = {"input_ids": ((128,), torch.int64), "attention_mask": ((128,), torch.int64)}
        outputs = ["last_hidden_state"]
    elif name == "mlp":
        model = Mlp()
        inputs = {"input": ((784,), torch.float32)}
        outputs = ["logits"]
    else:
        raise SystemExit(f"unknown model {name}")
    randomize(model)
    model.eval()
    return model, inputs, outputs


def make_inputs(name, inputs, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for input_name, (shape, dtype) in inputs.items():
        full = (batch,) + shape
        if input_name == "input_ids":
            tensors[input_name] = torch.randint(0, 30522, full, generator=gen, dtype=torch.int64)
        elif input_name == "attention_mask":
            mask = torch.ones(full, dtype=torch.int64)
            mask[:, full[1] * 3 // 4:] = 0  # padded tail
            tensors[input_name] = mask
        else:
            tensors[input_name] = torch.rand(full, generator=gen, dtype=dtype)
    return tensors


def export(name, out_dir, batches):
    model, inputs, outputs = build(name)
    model_dir = os.path.join(out_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, "model.onnx")
    example = make_inputs(name, inputs, 1, SEED)
    if not os.path.exists(path):
        dynamic = {n: {0: "batch"} for n in inputs}
        dynamic.update({n: {0: "batch"} for n in outputs})
        tmp = path + ".tmp"
        with torch.no_grad():
            torch.onnx.export(model, tuple(example.values()), tmp, opset_version=17, input_names=list(inputs),
                              output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True)
        os.replace(tmp, path)
    for batch in batches:
        data_dir = os.path.join(model_dir, f"b{batch}")
        done = os.path.join(data_dir, ".done")
        if os.path.exists(done):
            continue
        os.makedirs(data_dir, exist_ok=True)
        tensors = make_inputs(name, inputs, batch, SEED + batch)
        with torch.no_grad():
            result = model(*tensors.values())
        if not isinstance(result, (tuple, list)):
            result = [result]
        for input_name, t in tensors.items():
            np.save(os.path.join(data_dir, f"{input_name}.npy"), t.numpy())
        for output_name, t in zip(outputs, result):
            np.save(os.path.join(data_dir, f"expected_{output_name}.npy"), t.numpy())
        open(done, "w").close()
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default="resnet50,mobilenet_v2,bert,mlp")
    parser.add_argument("--batch", default="1", help="comma-separated batch sizes for reference data")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    batches = [int(b) for b in args.batch.split(",") if b]
    for name in args.models.split(","):
        print(export(name, args.out, batches), flush=True)


if __name__ == "__main__":
    sys.exit(main())
