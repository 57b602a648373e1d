// How a MatMul call is cut into register tiles, shared by the SIMD kernel
// files. Internal to llm/kernels.
//
// Included by each ISA's file after its `#pragma GCC target`, inside an
// anonymous namespace, so that every ISA gets its own copy compiled for it
// (the same inline function compiled for two targets under one name would
// let the linker pick the wrong one).
//
// A kernel K provides:
//   static constexpr int kRows, kTokens;  // the tile: rows x tokens
//   static constexpr int kVecRows;        // equal to kRows (rows per tile of the matrix-vector product)
//   static constexpr int kDecodeTokens;   // the most tokens T <= kTokens for which Run<R, T> sums each
//                                         // token exactly as Run<R, 1> does (1 where it sums otherwise)
//   template <int R, int T> static void Run(const Tile&);
// where Run computes R rows x T tokens over all the columns.
#pragma once

#ifndef BERTH_KERNEL_TILE_DRIVER_INSIDE_ISA_FILE
#error "tile_driver.h is included by the per-ISA kernel files only"
#endif

struct Tile {
  const uint8_t* w;  // first row
  size_t row_bytes;  // from one of the tile's rows to the next (a multiple of the row size)
  const uint8_t* a;  // first activation row
  size_t act_row_bytes;
  int64_t cols;
  float* y;              // y for the first row and token
  int64_t y_stride;      // from one token to the next
  int64_t y_row_stride;  // from one of the tile's rows to the next
};

using TileFn = void (*)(const Tile&);

template <class K, int R>
TileFn TileFor(int tokens) {
  switch (tokens) {
    case 1:
      return &K::template Run<R, 1>;
    case 2:
      if constexpr (K::kTokens >= 2) return &K::template Run<R, 2>;
      break;
    case 3:
      if constexpr (K::kTokens >= 3) return &K::template Run<R, 3>;
      break;
    case 4:
      if constexpr (K::kTokens >= 4) return &K::template Run<R, 4>;
      break;
    case 5:
      if constexpr (K::kTokens >= 5) return &K::template Run<R, 5>;
      break;
    case 6:
      if constexpr (K::kTokens >= 6) return &K::template Run<R, 6>;
      break;
    case 7:
      if constexpr (K::kTokens >= 7) return &K::template Run<R, 7>;
      break;
    case 8:
      if constexpr (K::kTokens >= 8) return &K::template Run<R, 8>;
      break;
  }
  return nullptr;
}

// Tokens per pass over the rows: as many activation rows as fit in about
// half of a 1 MiB L2 cache, a whole number of token tiles.
inline int64_t TokenChunk(size_t act_row_bytes, int tokens_per_tile) {
  const int64_t fit = static_cast<int64_t>((512u << 10) / (act_row_bytes == 0 ? 1 : act_row_bytes));
  const int64_t tiles = fit / tokens_per_tile;
  return (tiles < 1 ? 1 : tiles) * tokens_per_tile;
}

// The matrix-vector product, and products with at most one tile of tokens:
// the rows are cut into kRows parts of equal length and a tile takes the same
// row of each part, so that the weights are read as kRows long sequential
// streams. (Tiles of adjacent rows read kRows short interleaved streams,
// which the hardware prefetchers follow badly: a third of the bandwidth on
// Zen 5.)
template <class K>
void DriveRowStreams(const MatMulArgs& m) {
  static_assert(K::kVecRows == K::kRows, "the streams take the prompt tile's rows");
  const int tokens = static_cast<int>(m.n_tokens);
  const int64_t part = (m.row_end - m.row_begin) / K::kRows;
  Tile tile{nullptr, part * m.row_bytes, m.activations, m.activation_row_bytes, m.cols, nullptr, m.y_stride, part};
  const TileFn streams = TileFor<K, K::kRows>(tokens);
  for (int64_t i = 0; i < part; ++i) {
    tile.w = m.weights + (m.row_begin + i) * m.row_bytes;
    tile.y = m.y + m.row_begin + i;
    streams(tile);
  }
  tile.row_bytes = m.row_bytes;
  tile.y_row_stride = 1;
  const TileFn single = TileFor<K, 1>(tokens);
  for (int64_t r = m.row_begin + part * K::kRows; r < m.row_end; ++r) {
    tile.w = m.weights + r * m.row_bytes;
    tile.y = m.y + r;
    single(tile);
  }
}

template <class K>
void DriveTiles(const MatMulArgs& m) {
  if (m.n_tokens <= K::kTokens) return DriveRowStreams<K>(m);
  Tile tile{nullptr, m.row_bytes, nullptr, m.activation_row_bytes, m.cols, nullptr, m.y_stride, 1};
  auto run = [&](TileFn fn, int64_t row, int64_t token) {
    tile.w = m.weights + row * m.row_bytes;
    tile.a = m.activations + token * m.activation_row_bytes;
    tile.y = m.y + token * m.y_stride + row;
    fn(tile);
  };
  const int64_t chunk = TokenChunk(m.activation_row_bytes, K::kTokens);
  for (int64_t t0 = 0; t0 < m.n_tokens; t0 += chunk) {
    const int64_t t_end = t0 + chunk < m.n_tokens ? t0 + chunk : m.n_tokens;
    for (int64_t r = m.row_begin; r < m.row_end; r += K::kRows) {
      const int64_t rows = m.row_end - r < K::kRows ? m.row_end - r : K::kRows;
      for (int64_t t = t0; t < t_end; t += K::kTokens) {
        const int tokens = static_cast<int>(t_end - t < K::kTokens ? t_end - t : K::kTokens);
        if (rows == K::kRows) {
          run(TileFor<K, K::kRows>(tokens), r, t);
        } else {
          for (int64_t i = 0; i < rows; ++i) run(TileFor<K, 1>(tokens), r + i, t);
        }
      }
    }
  }
}

// A decode step's tokens (MatMulArgs::decode_batch): every token summed
// exactly as DriveRowStreams sums it alone, in the kernel's one-token order,
// whatever the others. The row streams of DriveRowStreams; each tile of
// kRows rows passes over the tokens K::kDecodeTokens at a time, its weights
// read from memory by the first pass and from L1/L2 by the others.
template <class K>
void DriveDecodeBatch(const MatMulArgs& m) {
  constexpr int kTile = K::kDecodeTokens;
  const int64_t part = (m.row_end - m.row_begin) / K::kRows;
  const int last = static_cast<int>(m.n_tokens % kTile == 0 ? kTile : m.n_tokens % kTile);
  Tile tile{nullptr, part * m.row_bytes, nullptr, m.activation_row_bytes, m.cols, nullptr, m.y_stride, part};
  auto run = [&](TileFn whole, TileFn rest, const uint8_t* w, float* y) {
    tile.w = w;
    for (int64_t t = 0; t < m.n_tokens; t += kTile) {
      tile.a = m.activations + t * m.activation_row_bytes;
      tile.y = y + t * m.y_stride;
      (t + kTile < m.n_tokens ? whole : rest)(tile);
    }
  };
  const TileFn streams = TileFor<K, K::kRows>(kTile), streams_rest = TileFor<K, K::kRows>(last);
  for (int64_t i = 0; i < part; ++i) {
    run(streams, streams_rest, m.weights + (m.row_begin + i) * m.row_bytes, m.y + m.row_begin + i);
  }
  tile.row_bytes = m.row_bytes;
  tile.y_row_stride = 1;
  const TileFn single = TileFor<K, 1>(kTile), single_rest = TileFor<K, 1>(last);
  for (int64_t r = m.row_begin + part * K::kRows; r < m.row_end; ++r) {
    run(single, single_rest, m.weights + r * m.row_bytes, m.y + r);
  }
}

template <class K>
void Drive(const MatMulArgs& m) {
  if (m.decode_batch) return DriveDecodeBatch<K>(m);
  DriveTiles<K>(m);
}
