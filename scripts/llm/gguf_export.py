"""Writes a trained TinyLM (tiny_llm.py) and its tokenizer as an F32 GGUF
file with the metadata llama.cpp reads for the llama and qwen2
architectures."""
from gguf_writer import GGUFWriter, ValueType as V

# llama.cpp's token types (llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

LLAMA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ 'Question: ' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Answer: ' + message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ message['content'] + '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Answer:' }}{% endif %}")

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def _hyperparameters(w, arch, c):
    w.add(f"{arch}.context_length", c.context, V.UINT32)
    w.add(f"{arch}.embedding_length", c.dim, V.UINT32)
    w.add(f"{arch}.block_count", c.n_layers, V.UINT32)
    w.add(f"{arch}.feed_forward_length", c.ffn_dim, V.UINT32)
    w.add(f"{arch}.attention.head_count", c.n_heads, V.UINT32)
    w.add(f"{arch}.attention.head_count_kv", c.n_kv_heads, V.UINT32)
    w.add(f"{arch}.attention.layer_norm_rms_epsilon", c.norm_eps, V.FLOAT32)
    w.add(f"{arch}.rope.freq_base", c.rope_base, V.FLOAT32)
    w.add(f"{arch}.rope.dimension_count", c.head_dim, V.UINT32)
    w.add(f"{arch}.vocab_size", c.vocab_size, V.UINT32)


def _sentencepiece_vocab(w, sp):
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(UNKNOWN)
        elif sp.is_control(i):
            types.append(CONTROL)
        elif sp.is_byte(i):
            types.append(BYTE)
        elif sp.is_unused(i):
            types.append(UNUSED)
        else:
            types.append(NORMAL)
    w.add("tokenizer.ggml.model", "llama")
    w.add("tokenizer.ggml.pre", "default")
    w.add("tokenizer.ggml.tokens", tokens)
    w.add("tokenizer.ggml.scores", scores, V.FLOAT32)
    w.add("tokenizer.ggml.token_type", types, V.INT32)
    w.add("tokenizer.ggml.bos_token_id", sp.bos_id(), V.UINT32)
    w.add("tokenizer.ggml.eos_token_id", sp.eos_id(), V.UINT32)
    w.add("tokenizer.ggml.unknown_token_id", sp.unk_id(), V.UINT32)
    w.add("tokenizer.ggml.add_bos_token", True)
    w.add("tokenizer.ggml.add_eos_token", False)
    w.add("tokenizer.chat_template", LLAMA_CHAT_TEMPLATE)


def _byte_bpe_vocab(w, bpe):
    tokens = bpe.tokens()
    types = [CONTROL if bpe.is_special(i) else NORMAL for i in range(len(tokens))]
    eot = bpe.special_id("<|endoftext|>")
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "qwen2")
    w.add("tokenizer.ggml.tokens", tokens)
    w.add("tokenizer.ggml.token_type", types, V.INT32)
    w.add("tokenizer.ggml.merges", bpe.merge_strings())
    w.add("tokenizer.ggml.bos_token_id", eot, V.UINT32)
    w.add("tokenizer.ggml.eos_token_id", eot, V.UINT32)
    w.add("tokenizer.ggml.padding_token_id", eot, V.UINT32)
    w.add("tokenizer.ggml.add_bos_token", False)
    w.add("tokenizer.chat_template", CHATML_TEMPLATE)


def write_model(path, model, tok, checkpoint, arch):
    c = model.config
    w = GGUFWriter()
    w.add("general.architecture", arch)
    w.add("general.type", "model")
    w.add("general.name", f"kjv-{arch}")
    w.add("general.description",
          f"A {c.n_layers}-layer {arch} test model trained on the King James Bible "
          f"({checkpoint['step']} steps, {checkpoint['elapsed'] / 60:.0f} min on one CPU thread)")
    w.add("general.file_type", 0, V.UINT32)  # LLAMA_FTYPE_ALL_F32
    _hyperparameters(w, arch, c)
    if arch == "llama":
        _sentencepiece_vocab(w, tok.sp)
    else:
        _byte_bpe_vocab(w, tok.bpe)
    for name, values in model.gguf_tensors():
        w.add_tensor(name, values, "F32")
    w.write(path)
