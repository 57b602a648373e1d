"""ggml's tensor types: quantization to and dequantization from the exact
block layouts of llama.cpp's ggml-common.h, vectorised with numpy.

  quantize(values, type)   float32 array (last axis a multiple of the block
                           size) -> uint8 array [..., bytes per row]
  dequantize(data, type, count) -> float32 [count]

Layouts (QK_K = 256 values per super-block, little-endian):
  F32   4 bytes per value; F16 IEEE half; BF16 the top 16 bits of a float32
  Q8_0  32 values: f16 d, int8 q[32]                          x = d*q
  Q4_0  32 values: f16 d, u8 qs[16]; q[j] in the low nibble of qs[j],
        q[j+16] in the high one                               x = d*(q-8)
  Q4_K  f16 d, f16 dmin, u8 scales[12], u8 qs[128]: 8 sub-blocks of 32
        with 6-bit scale sc and min m packed in scales; qs holds pairs of
        sub-blocks (2c low nibbles, 2c+1 high nibbles)        x = d*sc*q - dmin*m
  Q5_K  Q4_K plus u8 qh[32] (before qs): bit 2c / 2c+1 of qh[l] is the fifth
        bit of value l of sub-block 2c / 2c+1
  Q6_K  u8 ql[128], u8 qh[64], int8 scales[16], f16 d: 16 sub-blocks of 16;
        each half of 128 values: ql[l] = q[l] | q[l+64] << 4,
        ql[l+32] = q[l+32] | q[l+96] << 4 (low 4 bits), qh[l] holds the top
        2 bits of q[l], q[l+32], q[l+64], q[l+96] at bits 0, 2, 4, 6
                                                              x = d*sc*(q-32)

The quantizers are simple but sound: absolute-max scales per (sub-)block
(Q8_0, Q4_0, Q6_K), least-squares affine grids per sub-block (Q4_K, Q5_K),
with scales rounded to their stored precision first so the quants are
chosen against the scales the reader will see. llama.cpp's own quantizers
search scales more carefully (weighted errors, Q6_K's scale search); the
layouts, not the scale choice, are what must match.
"""
import numpy as np

QK_K = 256

# name: (ggml type id, values per block, bytes per block)
TYPES = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34),
    "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176),
    "Q6_K": (14, 256, 210),
    "BF16": (30, 1, 2),
}
TYPE_NAMES = {v[0]: k for k, v in TYPES.items()}


def type_id(name):
    return TYPES[name][0]


def row_bytes(name, row_length):
    _, block, size = TYPES[name]
    if row_length % block:
        raise ValueError(f"{name}: row length {row_length} is not a multiple of {block}")
    return row_length // block * size


def _f16(x):
    """float32 [n] -> (its float16 bytes [n, 2], the float32 values they hold)."""
    h = np.asarray(x, dtype=np.float32).reshape(-1).astype(np.float16)
    return h.view(np.uint8).reshape(-1, 2), h.astype(np.float32)


def _inverse(d):
    with np.errstate(divide="ignore"):
        return np.where(d == 0, 0.0, 1.0 / np.where(d == 0, 1.0, d)).astype(np.float32)


def _round(x):
    # Half away from zero, as C's roundf (ggml's nearest_int differs only on ties).
    return np.trunc(x + np.copysign(np.float32(0.5), x))


def _f32_to_bf16(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    quiet = ((u >> 16) | 64).astype(np.uint16)
    return np.where(nan, quiet, rounded)


def _quantize_q8_0(x):
    d_bytes, d = _f16(np.abs(x).max(axis=-1) / 127.0)
    q = np.clip(_round(x * _inverse(d)[:, None]), -127, 127).astype(np.int8)
    return np.concatenate([d_bytes, q.view(np.uint8)], axis=-1)


def _quantize_q4_0(x):
    # The value of largest magnitude maps to -8, the end with one more level.
    imax = np.abs(x).argmax(axis=-1)[:, None]
    vmax = np.take_along_axis(x, imax, axis=-1)[:, 0]
    d_bytes, d = _f16(vmax / -8.0)
    q = np.clip(_round(x * _inverse(d)[:, None]) + 8, 0, 15).astype(np.uint8)
    qs = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([d_bytes, qs], axis=-1)


def _affine_fit(x, levels, steps=20):
    """Per-row scale >= 0 and min <= 0 with x ~ scale * q + min, q in
    [0, levels]: the min/max grid and `steps` slightly wider or narrower
    ones, each refitted by least squares; the one of least squared error.
    (The search llama.cpp's make_qkx2_quants does, without its weights.)"""
    lo = np.minimum(x.min(axis=-1), 0.0)
    hi = x.max(axis=-1)
    span = hi - lo
    best_scale = span / levels
    best_min = lo
    q = np.clip(_round((x - lo[..., None]) * _inverse(best_scale)[..., None]), 0, levels)
    best_err = ((best_scale[..., None] * q + lo[..., None] - x) ** 2).sum(axis=-1)
    n = x.shape[-1]
    for step in range(steps + 1):
        iscale = (levels - 1.0 + 0.1 * step) * _inverse(span)
        q = np.clip(_round((x - lo[..., None]) * iscale[..., None]), 0, levels)
        sum_q, sum_q2 = q.sum(axis=-1), (q * q).sum(axis=-1)
        sum_x, sum_xq = x.sum(axis=-1), (x * q).sum(axis=-1)
        det = n * sum_q2 - sum_q * sum_q
        ok = det > 0
        det = np.where(ok, det, 1.0)
        scale = (n * sum_xq - sum_q * sum_x) / det
        mn = (sum_q2 * sum_x - sum_q * sum_xq) / det
        positive = mn > 0
        scale = np.where(positive, sum_xq * _inverse(sum_q2), scale)
        mn = np.where(positive, 0.0, mn)
        err = ((scale[..., None] * q + mn[..., None] - x) ** 2).sum(axis=-1)
        better = ok & (scale >= 0) & (err < best_err)
        best_scale = np.where(better, scale, best_scale)
        best_min = np.where(better, mn, best_min)
        best_err = np.where(better, err, best_err)
    return best_scale.astype(np.float32), best_min.astype(np.float32)


def _kquant_scales(x, levels):
    """x: [n, 8, 32]. Affine sub-block grids (_affine_fit), their scales and
    mins quantized to 6 bits against f16 super-block scales, then the quants
    chosen against the scales as stored."""
    scale, lo = _affine_fit(x, levels)
    mins = -lo
    d_bytes, d = _f16(scale.max(axis=-1) / 63.0)
    dmin_bytes, dmin = _f16(mins.max(axis=-1) / 63.0)
    sc = np.clip(_round(scale * _inverse(d)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(_round(mins * _inverse(dmin)[:, None]), 0, 63).astype(np.uint8)
    step = d[:, None] * sc
    offset = dmin[:, None] * m
    q = np.clip(_round((x + offset[..., None]) * _inverse(step)[..., None]), 0, levels).astype(np.uint8)
    return d_bytes, dmin_bytes, _pack_scales(sc, m), q


def _pack_scales(sc, m):
    """6-bit scales and mins of 8 sub-blocks into ggml's 12 bytes."""
    out = np.empty((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return out


def _unpack_scales(s):
    sc = np.empty((s.shape[0], 8), dtype=np.uint8)
    m = np.empty((s.shape[0], 8), dtype=np.uint8)
    sc[:, 0:4] = s[:, 0:4] & 63
    m[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def _nibble_pairs(q):
    """q: [n, 8, 32] 4-bit values -> [n, 128]: sub-blocks 2c (low) and 2c+1 (high)."""
    return (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)


def _quantize_q4_k(x):
    d, dmin, scales, q = _kquant_scales(x.reshape(-1, 8, 32), 15)
    return np.concatenate([d, dmin, scales, _nibble_pairs(q)], axis=-1)


def _quantize_q5_k(x):
    d, dmin, scales, q = _kquant_scales(x.reshape(-1, 8, 32), 31)
    high = (q >> 4).astype(np.uint8)  # [n, 8, 32]
    qh = np.zeros((q.shape[0], 32), dtype=np.uint8)
    for j in range(8):
        qh |= high[:, j, :] << j
    return np.concatenate([d, dmin, scales, qh,
                           _nibble_pairs(q & 15)], axis=-1)


def _quantize_q6_k(x):
    sub = x.reshape(-1, 16, 16)
    imax = np.abs(sub).argmax(axis=-1)[..., None]
    vmax = np.take_along_axis(sub, imax, axis=-1)[..., 0]
    scale = vmax / -32.0  # the largest magnitude maps to -32
    iscale_max = np.abs(scale).argmax(axis=-1)[:, None]
    smax = np.take_along_axis(scale, iscale_max, axis=-1)[:, 0]
    d_bytes, d = _f16(smax / -128.0)
    sc = np.clip(_round(scale * _inverse(d)[:, None]), -128, 127).astype(np.int8)
    step = d[:, None] * sc.astype(np.float32)
    q = (np.clip(_round(sub * _inverse(step)[..., None]), -32, 31) + 32).astype(np.uint8)
    q = q.reshape(-1, 2, 4, 32)  # [n, half, quarter, l]
    ql = np.concatenate([(q[:, :, 0] & 15) | ((q[:, :, 2] & 15) << 4),
                         (q[:, :, 1] & 15) | ((q[:, :, 3] & 15) << 4)], axis=-1).reshape(-1, 128)
    qh = ((q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) | ((q[:, :, 2] >> 4) << 4)
          | ((q[:, :, 3] >> 4) << 6)).reshape(-1, 64)
    return np.concatenate([ql, qh, sc.view(np.uint8), d_bytes], axis=-1)


_QUANTIZERS = {
    "Q8_0": _quantize_q8_0, "Q4_0": _quantize_q4_0, "Q4_K": _quantize_q4_k,
    "Q5_K": _quantize_q5_k, "Q6_K": _quantize_q6_k,
}


def quantize(values, name):
    """values: float32 array whose last axis (the row) is a multiple of the
    type's block size. Returns uint8 [..., row_bytes]."""
    x = np.ascontiguousarray(values, dtype=np.float32)
    shape = x.shape
    if name == "F32":
        return x.view(np.uint8).reshape(*shape[:-1], shape[-1] * 4)
    if name == "F16":
        return x.astype(np.float16).view(np.uint8).reshape(*shape[:-1], shape[-1] * 2)
    if name == "BF16":
        return _f32_to_bf16(x).view(np.uint8).reshape(*shape[:-1], shape[-1] * 2)
    _, block, size = TYPES[name]
    if shape[-1] % block:
        raise ValueError(f"{name}: row length {shape[-1]} is not a multiple of {block}")
    blocks = _QUANTIZERS[name](x.reshape(-1, block))
    assert blocks.shape[1] == size
    return blocks.reshape(*shape[:-1], shape[-1] // block * size)


def dequantize(data, name, count):
    """data: the bytes (or uint8 array) of `count` values of type `name`."""
    raw = np.frombuffer(memoryview(data), dtype=np.uint8) if not isinstance(data, np.ndarray) \
        else data.reshape(-1).view(np.uint8)
    _, block, size = TYPES[name]
    if count % block or len(raw) < count // block * size:
        raise ValueError(f"{name}: {len(raw)} bytes do not hold {count} values")
    b = raw[:count // block * size].reshape(-1, size)
    if name == "F32":
        return b.reshape(-1).view(np.float32).copy()
    if name == "F16":
        return b.reshape(-1).view(np.float16).astype(np.float32)
    if name == "BF16":
        return (b.reshape(-1).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    if name == "Q8_0":
        d = b[:, :2].copy().view(np.float16).astype(np.float32).reshape(-1)
        return (d[:, None] * b[:, 2:].view(np.int8).astype(np.float32)).reshape(-1)
    if name == "Q4_0":
        d = b[:, :2].copy().view(np.float16).astype(np.float32).reshape(-1)
        qs = b[:, 2:]
        q = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.float32) - 8
        return (d[:, None] * q).reshape(-1)
    if name in ("Q4_1", "Q5_0", "Q5_1"):
        # d, [m], [qh: the fifth bit of value i in bit i], nibbles (low, then high)
        d = b[:, :2].copy().view(np.float16).astype(np.float32).reshape(-1)
        has_min, bits = name != "Q5_0", 5 if name != "Q4_1" else 4
        qh_at = 4 if has_min else 2
        qs = b[:, size - 16:]
        q = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.int32)
        if bits == 5:
            qh = b[:, qh_at:qh_at + 4].copy().view(np.uint32).reshape(-1, 1)
            q |= (((qh >> np.arange(32, dtype=np.uint32)) & 1) << 4).astype(np.int32)
        if has_min:
            m = b[:, 2:4].copy().view(np.float16).astype(np.float32).reshape(-1)
            return (d[:, None] * q + m[:, None]).reshape(-1).astype(np.float32)
        return (d[:, None] * (q - 16)).reshape(-1).astype(np.float32)
    if name in ("Q4_K", "Q5_K"):
        d = b[:, 0:2].copy().view(np.float16).astype(np.float32).reshape(-1)
        dmin = b[:, 2:4].copy().view(np.float16).astype(np.float32).reshape(-1)
        sc, m = _unpack_scales(b[:, 4:16])
        qs = b[:, -128:].reshape(-1, 4, 32)
        q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)
        if name == "Q5_K":
            qh = b[:, 16:48]
            high = np.stack([(qh >> j) & 1 for j in range(8)], axis=1)  # [n, 8, 32]
            q = q | (high << 4)
        y = (d[:, None] * sc)[..., None] * q.astype(np.float32) - (dmin[:, None] * m)[..., None]
        return y.reshape(-1).astype(np.float32)
    if name == "Q6_K":
        ql = b[:, 0:128].reshape(-1, 2, 64)
        qh = b[:, 128:192].reshape(-1, 2, 32)
        sc = b[:, 192:208].view(np.int8).astype(np.float32)
        d = b[:, 208:210].copy().view(np.float16).astype(np.float32).reshape(-1)
        q = np.stack([(ql[:, :, :32] & 15) | (((qh >> 0) & 3) << 4),
                      (ql[:, :, 32:] & 15) | (((qh >> 2) & 3) << 4),
                      (ql[:, :, :32] >> 4) | (((qh >> 4) & 3) << 4),
                      (ql[:, :, 32:] >> 4) | (((qh >> 6) & 3) << 4)], axis=2)  # [n, 2, 4, 32]
        q = q.reshape(-1, 16, 16).astype(np.float32) - 32
        return ((d[:, None] * sc)[..., None] * q).reshape(-1).astype(np.float32)
    raise ValueError(f"no dequantizer for {name}")
