// The machine's memory read bandwidth, measured: the roofline that token
// generation (which reads every weight once per token) is held against.
#pragma once

namespace berth::cli {

// GB/s of `threads` threads streaming through a 1 GiB buffer (each its own
// slice, best of three passes after one that faults the pages in).
double MeasureReadBandwidth(int threads);

}  // namespace berth::cli
