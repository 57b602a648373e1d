// Building blocks for element-wise kernels: a unary map and a broadcasting
// binary map over any element type, with the contiguous cases kept as plain
// loops the compiler vectorises.
#pragma once

#include <cmath>

#include "engine/kernels/kernel_util.h"

namespace berth::engine {

// out[i] = op(in[i]) for every element, in parallel.
template <typename In, typename Out, typename Op>
void UnaryMap(const In* in, Out* out, int64_t count, Op op) {
  core::ParallelFor(count, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = static_cast<Out>(op(in[i]));
  });
}

// out = op(a, b) with numpy broadcasting; `out` has the broadcast shape.
template <typename A, typename B, typename Out, typename Op>
void BinaryMap(const core::Tensor& a, const core::Tensor& b, core::Tensor& out, Op op) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  Out* po = out.data<Out>();
  const int64_t count = out.element_count();
  if (a.shape() == b.shape()) {
    core::ParallelFor(count, 32768, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = static_cast<Out>(op(pa[i], pb[i]));
    });
    return;
  }
  if (b.element_count() == 1) {
    const B scalar = pb[0];
    core::ParallelFor(count, 32768, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = static_cast<Out>(op(pa[i], scalar));
    });
    return;
  }
  if (a.element_count() == 1) {
    const A scalar = pa[0];
    core::ParallelFor(count, 32768, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = static_cast<Out>(op(scalar, pb[i]));
    });
    return;
  }
  ForEachBroadcastRow(out.shape(), a.shape(), b.shape(),
                      [&](int64_t out_begin, int64_t n, int64_t a_offset, int64_t a_step, int64_t b_offset,
                          int64_t b_step) {
                        Out* o = po + out_begin;
                        const A* x = pa + a_offset;
                        const B* y = pb + b_offset;
                        if (a_step && b_step) {
                          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(op(x[i], y[i]));
                        } else if (a_step) {
                          const B yv = y[0];
                          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(op(x[i], yv));
                        } else if (b_step) {
                          const A xv = x[0];
                          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(op(xv, y[i]));
                        } else {
                          const Out v = static_cast<Out>(op(x[0], y[0]));
                          for (int64_t i = 0; i < n; ++i) o[i] = v;
                        }
                      });
}

}  // namespace berth::engine
