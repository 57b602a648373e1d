#!/usr/bin/python3
"""PyTorch reference forward of a GGUF llama or qwen2 model: the logits of
every position, computed in float64 from the file's tensors (any type
scripts/llm/ggml_quants.py dequantizes, so quantized files work too, with
their dequantized weights).

  tests/llm/torch_reference.py --model M.gguf --tokens 1,2,3 --out logits.npy

writes float32 [n_tokens, vocab]. Written from the architecture's
definition, not from the training code, so that it checks the export too:
  x = token_embd[tokens]
  per block: h = rmsnorm(x) * attn_norm; q, k, v = h W (+ bias for qwen2);
    RoPE on q and k (llama: adjacent pairs (2i, 2i+1); qwen2: halves
    (i, i + d/2)), theta_i = pos * base^(-2i/d); causal softmax(q k^T/sqrt(d)) v,
    query head h reading key/value head h // (heads / kv_heads);
    x += attn W_o; h = rmsnorm(x) * ffn_norm; x += (silu(h W_gate) * h W_up) W_down
  logits = (rmsnorm(x) * output_norm) output^T  (qwen2 without output.weight:
    token_embd).
float64 so that the reference's own rounding is far below llama.cpp's
float32 error: llama.cpp's logits agree to about 1e-5 of the logit range.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "llm"))
from gguf_reader import GGUFReader  # noqa: E402

ROPE_NEOX = {"llama": False, "qwen2": True}


class Reference:
    def __init__(self, path):
        self.file = GGUFReader(path)
        md = self.file.metadata
        self.arch = md["general.architecture"]
        if self.arch not in ROPE_NEOX:
            raise ValueError(f"{path}: architecture {self.arch} not supported here")
        a = self.arch
        self.n_layers = md[f"{a}.block_count"]
        self.dim = md[f"{a}.embedding_length"]
        self.n_heads = md[f"{a}.attention.head_count"]
        self.n_kv_heads = md.get(f"{a}.attention.head_count_kv", self.n_heads)
        self.eps = md[f"{a}.attention.layer_norm_rms_epsilon"]
        self.rope_base = md.get(f"{a}.rope.freq_base", 10000.0)
        self.head_dim = self.dim // self.n_heads
        self.rope_dims = md.get(f"{a}.rope.dimension_count", self.head_dim)
        if self.rope_dims != self.head_dim:
            raise ValueError("partial RoPE is not supported here")

    def w(self, name):
        return torch.from_numpy(self.file.tensor_values(name).astype(np.float64))

    def has(self, name):
        return name in self.file.tensors

    def rmsnorm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x):
        """x: [heads, T, head_dim]."""
        t, d = x.shape[1], self.head_dim
        theta = self.rope_base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        angle = torch.arange(t, dtype=torch.float64)[:, None] * theta[None, :]
        cos, sin = torch.cos(angle), torch.sin(angle)
        if ROPE_NEOX[self.arch]:
            x0, x1 = x[..., :d // 2], x[..., d // 2:]
            return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).reshape(x.shape)

    def linear(self, x, prefix):
        y = x @ self.w(prefix + ".weight").t()
        if self.has(prefix + ".bias"):
            y = y + self.w(prefix + ".bias")
        return y

    @torch.no_grad()
    def logits(self, tokens):
        output = "output.weight" if self.has("output.weight") else "token_embd.weight"
        return self.hidden(tokens) @ self.w(output).t()

    @torch.no_grad()
    def hidden(self, tokens):
        """The final hidden states, after the output norm: [n_tokens, n_embd]."""
        t = len(tokens)
        x = self.w("token_embd.weight")[torch.tensor(tokens)]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        group = self.n_heads // self.n_kv_heads
        for i in range(self.n_layers):
            p = f"blk.{i}."
            h = self.rmsnorm(x, self.w(p + "attn_norm.weight"))
            q = self.linear(h, p + "attn_q").view(t, self.n_heads, self.head_dim).transpose(0, 1)
            k = self.linear(h, p + "attn_k").view(t, self.n_kv_heads, self.head_dim).transpose(0, 1)
            v = self.linear(h, p + "attn_v").view(t, self.n_kv_heads, self.head_dim).transpose(0, 1)
            q, k = self.rope(q), self.rope(k)
            k = k.repeat_interleave(group, dim=0)
            v = v.repeat_interleave(group, dim=0)
            scores = (q @ k.transpose(1, 2)) / np.sqrt(self.head_dim)
            attn = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
            x = x + self.linear(attn.transpose(0, 1).reshape(t, self.dim), p + "attn_output")
            h = self.rmsnorm(x, self.w(p + "ffn_norm.weight"))
            gate = self.linear(h, p + "ffn_gate")
            x = x + self.linear(torch.nn.functional.silu(gate) * self.linear(h, p + "ffn_up"), p + "ffn_down")
        return self.rmsnorm(x, self.w("output_norm.weight"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True, help="comma-separated token ids")
    p.add_argument("--out", required=True, help=".npy file for float32 [n_tokens, vocab]")
    p.add_argument("--hidden", action="store_true", help="the final hidden states [n_tokens, n_embd] instead")
    args = p.parse_args()
    torch.set_num_threads(1)
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    if not tokens:
        sys.exit("no tokens")
    ref = Reference(args.model)
    vocab = ref.file.tensors["token_embd.weight"].dims[1]
    if min(tokens) < 0 or max(tokens) >= vocab:
        sys.exit(f"token ids must be in [0, {vocab})")
    values = ref.hidden(tokens) if args.hidden else ref.logits(tokens)
    np.save(args.out, values.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
