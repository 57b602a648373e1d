// Time per op type for `berth run --profile` and `berth bench --profile`:
// a RunOptions::on_step hook that sums each step's time under its op type
// ("berth.FusedConv", "Flatten"), with the activation reorders between
// layouts that the step ran (oneDNN's blocked and plain layouts; see
// dnnl_util::ThreadReorders), and prints the table.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "engine/runtime/execution_plan.h"

namespace berth::cli {

class StepProfile {
 public:
  // A hook that records into this profile while `recording` is true (bench
  // leaves out the warm-up). The profile must outlive the hook's runs, which
  // must be on the calling thread.
  std::function<void(const engine::Node&, double)> Hook(const bool* recording = nullptr);
  // The table, sorted by time, with every figure divided by `runs`.
  void Print(std::FILE* out, int runs) const;

 private:
  struct Entry {
    double milliseconds = 0;
    int64_t steps = 0;
    int64_t reorders = 0;
    int64_t reorder_bytes = 0;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace berth::cli
