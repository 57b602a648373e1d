#!/usr/bin/python3
"""Trains berth's small test language models on the King James Bible.

  train_kjv.py --arch llama --work DIR train [--minutes 60]
  train_kjv.py --arch llama --work DIR export OUT.gguf
  train_kjv.py --arch llama --work DIR sample "In the beginning God created"

--arch llama: SentencePiece BPE tokenizer (vocab 1024, byte fallback, like
Llama 2's), dim 256, 3 layers, 8 heads, 2 KV heads, FFN 512, RoPE on adjacent
pairs, separate output matrix.
--arch qwen2: byte-level BPE (byte_bpe.py, vocab 1280), dim 256, 2 layers,
4 heads, 2 KV heads, FFN 768, q/k/v biases, NEOX RoPE, tied output.

Both read the text through kjv_data.py (Debian's bible-kjv), use one CPU
thread, save a checkpoint in DIR every few minutes (a second `train` resumes
from it) and log the loss to DIR/train.log. The learning rate follows a cosine
over the wall-clock budget, so a run ends on time on any machine.
"""
import argparse
import math
import os
import sys
import time

# One thread: the BLAS library torch links may start its own pool otherwise.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kjv_data  # noqa: E402
from tiny_llm import Config, TinyLM  # noqa: E402

CONFIGS = {
    "llama": Config(arch="llama", vocab_size=1024, dim=256, n_layers=3, n_heads=8,
                    n_kv_heads=2, ffn_dim=512, norm_eps=1e-5, rope_base=10000.0,
                    context=256),
    "qwen2": Config(arch="qwen2", vocab_size=1280, dim=256, n_layers=2, n_heads=4,
                    n_kv_heads=2, ffn_dim=768, norm_eps=1e-6, rope_base=1000000.0,
                    context=256),
}
VALIDATION_EVERY = 40  # every 40th chapter is held out


class Tokenizer:
    """What training and export need from either tokenizer."""

    def __init__(self, arch, work):
        self.arch = arch
        if arch == "llama":
            import sentencepiece as spm
            path = os.path.join(work, "kjv-llama.model")
            if not os.path.exists(path):
                train_sentencepiece(work, path)
            self.sp = spm.SentencePieceProcessor(model_file=path)
            self.path = path
            self.bos, self.eos = self.sp.bos_id(), self.sp.eos_id()
        else:
            import byte_bpe
            path = os.path.join(work, "kjv-qwen2-bpe.json")
            if not os.path.exists(path):
                corpus = os.path.join(work, "kjv_verses.txt")
                kjv_data.write_verse_lines(corpus)
                with open(corpus, encoding="utf-8") as f:
                    lines = f.read().splitlines()
                bpe = byte_bpe.train(lines, CONFIGS["qwen2"].vocab_size, log=print)
                bpe.save(path)
            self.bpe = byte_bpe.ByteBPE.load(path)
            self.path = path
            self.bos = None
            self.eos = self.bpe.special_id("<|endoftext|>")

    def encode(self, text):
        if self.arch == "llama":
            return self.sp.encode(text)
        return self.bpe.encode(text)

    def decode(self, ids):
        if self.arch == "llama":
            return self.sp.decode(ids)
        return self.bpe.decode(ids)

    def document(self, text):
        """A chapter as training tokens: llama <s> text </s>, qwen2 text <|endoftext|>."""
        ids = self.encode(text)
        return ([self.bos] if self.bos is not None else []) + ids + [self.eos]


def train_sentencepiece(work, path):
    import sentencepiece as spm
    corpus = os.path.join(work, "kjv_verses.txt")
    kjv_data.write_verse_lines(corpus)
    # Llama 2's settings: BPE, byte fallback, digits split, no normalization,
    # a dummy prefix space, whitespace kept as is.
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=path[:-len(".model")], model_type="bpe",
        vocab_size=CONFIGS["llama"].vocab_size, byte_fallback=True, character_coverage=1.0,
        normalization_rule_name="identity", add_dummy_prefix=True,
        remove_extra_whitespaces=False, split_digits=True, allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=1)


def load_streams(tok, work):
    cache = os.path.join(work, "tokens.npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return z["train"], z["valid"]
    train, valid = [], []
    for i, text in enumerate(kjv_data.chapter_texts()):
        (valid if i % VALIDATION_EVERY == VALIDATION_EVERY - 1 else train).extend(tok.document(text))
    train = np.array(train, dtype=np.int64)
    valid = np.array(valid, dtype=np.int64)
    np.savez(cache, train=train, valid=valid)
    return train, valid


def batch(stream, size, context, rng):
    starts = rng.integers(0, len(stream) - context - 1, size)
    x = np.stack([stream[s:s + context] for s in starts])
    y = np.stack([stream[s + 1:s + context + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def validation_loss(model, valid, context):
    model.eval()
    rng = np.random.default_rng(1234)
    losses = []
    for _ in range(16):
        x, y = batch(valid, 4, context, rng)
        logits = model(x)
        losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item())
    model.train()
    return sum(losses) / len(losses)


def log(work, message):
    line = time.strftime("%H:%M:%S ") + message
    print(line, flush=True)
    with open(os.path.join(work, "train.log"), "a") as f:
        f.write(line + "\n")


def train(args):
    config = CONFIGS[args.arch]
    tok = Tokenizer(args.arch, args.work)
    train_stream, valid = load_streams(tok, args.work)
    torch.manual_seed(args.seed)
    model = TinyLM(config)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    ckpt_path = os.path.join(args.work, "checkpoint.pt")
    step, elapsed = 0, 0.0
    rng = np.random.default_rng(args.seed)
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, elapsed = ckpt["step"], ckpt["elapsed"]
        rng = np.random.default_rng(args.seed + step)
        log(args.work, f"resumed at step {step}, {elapsed / 60:.1f} min")
    n_params = sum(p.numel() for p in model.parameters())
    log(args.work, f"{args.arch}: {n_params} parameters, {len(train_stream)} train tokens, "
        f"{len(valid)} validation tokens, budget {args.minutes} min")
    budget = args.minutes * 60.0
    last_save = time.time()
    tokens_since, t_since = 0, time.time()
    while elapsed < budget:
        t0 = time.time()
        progress = elapsed / budget
        warm = min(1.0, (step + 1) / args.warmup)
        lr = args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(train_stream, args.batch, config.context, rng)
        opt.zero_grad(set_to_none=True)
        # Micro-batches keep the [B, heads, T, T] attention tensors small:
        # a large one is slower per token (cache, and glibc maps and unmaps
        # every block over 32 MiB).
        loss_sum = 0.0
        for mx, my in zip(x.split(args.micro_batch), y.split(args.micro_batch)):
            logits = model(mx)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), my.reshape(-1))
            (loss * (mx.shape[0] / x.shape[0])).backward()
            loss_sum += loss.item() * mx.shape[0] / x.shape[0]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        tokens_since += x.numel()
        if step % args.log_every == 0:
            rate = tokens_since / (time.time() - t_since)
            log(args.work, f"step {step} loss {loss_sum:.4f} lr {lr:.2e} "
                f"{rate:.0f} tok/s elapsed {elapsed / 60:.1f} min")
            tokens_since, t_since = 0, time.time()
        if step % args.valid_every == 0:
            log(args.work, f"step {step} validation loss {validation_loss(model, valid, config.context):.4f}")
        if time.time() - last_save > args.save_minutes * 60 or elapsed >= budget:
            save(model, opt, config, step, elapsed, ckpt_path)
            last_save = time.time()
    log(args.work, f"done: step {step} validation loss "
        f"{validation_loss(model, valid, config.context):.4f}, {elapsed / 60:.1f} min")


def save(model, opt, config, step, elapsed, path):
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "elapsed": elapsed, "config": config.__dict__}, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_model(args):
    config = CONFIGS[args.arch]
    model = TinyLM(config)
    ckpt = torch.load(os.path.join(args.work, "checkpoint.pt"))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


@torch.no_grad()
def sample(args):
    model, _ = load_model(args)
    tok = Tokenizer(args.arch, args.work)
    ids = ([tok.bos] if tok.bos is not None else []) + tok.encode(args.prompt)
    for _ in range(args.n):
        logits = model(torch.tensor([ids[-model.config.context:]]))
        ids.append(int(logits[0, -1].argmax()))
    print(ids)
    print(repr(tok.decode(ids)))


def export(args):
    import gguf_export
    model, ckpt = load_model(args)
    tok = Tokenizer(args.arch, args.work)
    gguf_export.write_model(args.out, model, tok, ckpt, args.arch)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(CONFIGS), required=True)
    p.add_argument("--work", required=True, help="folder for tokenizer, tokens, checkpoint, log")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, default=60.0)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--micro-batch", type=int, default=4)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--warmup", type=int, default=200)
    t.add_argument("--seed", type=int, default=1611)
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--valid-every", type=int, default=250)
    t.add_argument("--save-minutes", type=float, default=5.0)
    s = sub.add_parser("sample")
    s.add_argument("prompt")
    s.add_argument("-n", type=int, default=40)
    e = sub.add_parser("export")
    e.add_argument("out")
    args = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.work, exist_ok=True)
    {"train": train, "sample": sample, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
