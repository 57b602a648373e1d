// Figures about the berth process itself that the CLI reports.
#pragma once

namespace berth::cli {

// This process's own peak: VmHWM from /proc/self/status. (getrusage's
// ru_maxrss survives execve, so it would report the parent's peak when that
// was higher — a benchmark driver that had a model in memory, say.)
double PeakRssMegabytes();

}  // namespace berth::cli
