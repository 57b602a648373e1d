"""The small decoder-only transformer the KJV test models are trained as.

One module for both architectures berth's engine reads from GGUF:
  llama  RoPE on adjacent pairs (2i, 2i+1), no attention biases, separate
         output matrix;
  qwen2  RoPE on halves (i, i + d/2, "NEOX"), biases on q/k/v, output tied
         to the token embedding.
Both: RMSNorm (weight, no bias), grouped-query attention (query head h reads
key/value head h // (n_heads / n_kv_heads), as ggml broadcasts), SwiGLU FFN
(down(silu(gate(x)) * up(x))). Attention is written out by hand because the
Debian torch 1.13 has no fused kernel.
"""
import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class Config:
    arch: str  # "llama" or "qwen2"
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    norm_eps: float
    rope_base: float
    context: int

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @property
    def rope_neox(self):
        return self.arch == "qwen2"

    @property
    def qkv_bias(self):
        return self.arch == "qwen2"

    @property
    def tied_output(self):
        return self.arch == "qwen2"


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(config, positions):
    """cos/sin of shape [len(positions), head_dim / 2]."""
    half = config.head_dim // 2
    freqs = config.rope_base ** (-torch.arange(half, dtype=torch.float64) * 2.0 / config.head_dim)
    angles = positions.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x, cos, sin, neox):
    """x: [..., T, head_dim]; cos/sin: [T, head_dim / 2]."""
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    if neox:
        half = x.shape[-1] // 2
        x0, x1 = x[..., :half], x[..., half:]
        return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return rotated.reshape(x.shape)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = config
        self.config = c
        self.attn_norm = RMSNorm(c.dim, c.norm_eps)
        self.wq = nn.Linear(c.dim, c.n_heads * c.head_dim, bias=c.qkv_bias)
        self.wk = nn.Linear(c.dim, c.n_kv_heads * c.head_dim, bias=c.qkv_bias)
        self.wv = nn.Linear(c.dim, c.n_kv_heads * c.head_dim, bias=c.qkv_bias)
        self.wo = nn.Linear(c.n_heads * c.head_dim, c.dim, bias=False)
        self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
        self.w_gate = nn.Linear(c.dim, c.ffn_dim, bias=False)
        self.w_up = nn.Linear(c.dim, c.ffn_dim, bias=False)
        self.w_down = nn.Linear(c.ffn_dim, c.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        c = self.config
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(b, t, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.wk(h).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.wv(h).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin, c.rope_neox)
        k = apply_rope(k, cos, sin, c.rope_neox)
        group = c.n_heads // c.n_kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c.head_dim))
        scores = scores.masked_fill(mask, float("-inf"))
        attn = F.softmax(scores, dim=-1) @ v
        x = x + self.wo(attn.transpose(1, 2).reshape(b, t, c.dim))
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class TinyLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        if not config.tied_output:
            self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self):
        out_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = out_std if name.endswith(("wo.weight", "w_down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, tokens):
        t = tokens.shape[1]
        cos, sin = rope_tables(self.config, torch.arange(t))
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        x = self.norm(x)
        if self.config.tied_output:
            return x @ self.embed.weight.t()
        return self.output(x)

    def gguf_tensors(self):
        """(name, float32 numpy array) in llama.cpp's names; a torch Linear
        weight [out, in] is already the row-major layout of GGUF dims [in, out]."""
        def arr(t):
            return t.detach().to(torch.float32).contiguous().numpy()
        out = [("token_embd.weight", arr(self.embed.weight))]
        for i, b in enumerate(self.blocks):
            p = f"blk.{i}."
            out.append((p + "attn_norm.weight", arr(b.attn_norm.weight)))
            for name, lin in (("attn_q", b.wq), ("attn_k", b.wk), ("attn_v", b.wv)):
                out.append((p + name + ".weight", arr(lin.weight)))
                if lin.bias is not None:
                    out.append((p + name + ".bias", arr(lin.bias)))
            out.append((p + "attn_output.weight", arr(b.wo.weight)))
            out.append((p + "ffn_norm.weight", arr(b.ffn_norm.weight)))
            out.append((p + "ffn_gate.weight", arr(b.w_gate.weight)))
            out.append((p + "ffn_up.weight", arr(b.w_up.weight)))
            out.append((p + "ffn_down.weight", arr(b.w_down.weight)))
        out.append(("output_norm.weight", arr(self.norm.weight)))
        if not self.config.tied_output:
            out.append(("output.weight", arr(self.output.weight)))
        return out
