#include "cli/step_profile.h"

#include <algorithm>
#include <vector>

#include "engine/kernels/common/dnnl_util.h"

namespace berth::cli {

std::function<void(const engine::Node&, double)> StepProfile::Hook(const bool* recording) {
  // Reorders are counted per thread; the hook runs on the thread that ran
  // the step, right after it, so the change since the last call is its own.
  // The last count is shared: a run may copy its RunOptions, hook included.
  auto last = std::make_shared<engine::dnnl_util::ReorderCount>(engine::dnnl_util::ThreadReorders());
  return [this, recording, last](const engine::Node& node, double milliseconds) {
    const engine::dnnl_util::ReorderCount now = engine::dnnl_util::ThreadReorders();
    if (!recording || *recording) {
      Entry& entry = entries_[node.domain.empty() ? node.op_type : node.domain + "." + node.op_type];
      entry.milliseconds += milliseconds;
      entry.steps += 1;
      entry.reorders += static_cast<int64_t>(now.reorders - last->reorders);
      entry.reorder_bytes += static_cast<int64_t>(now.bytes - last->bytes);
    }
    *last = now;
  };
}

void StepProfile::Print(std::FILE* out, int runs) const {
  std::vector<std::pair<std::string, Entry>> rows(entries_.begin(), entries_.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.milliseconds > b.second.milliseconds; });
  const double per_run = 1.0 / std::max(runs, 1);
  std::fprintf(out, "%-32s %8s %10s %10s %10s %12s\n", runs > 1 ? "op (per run)" : "op", "count", "ms", "us/call",
               "reorders", "reorder KB");
  for (const auto& [op, entry] : rows) {
    std::fprintf(out, "%-32s %8.0f %10.3f %10.1f %10.0f %12.1f\n", op.c_str(),
                 static_cast<double>(entry.steps) * per_run, entry.milliseconds * per_run,
                 1000.0 * entry.milliseconds / static_cast<double>(std::max<int64_t>(entry.steps, 1)),
                 static_cast<double>(entry.reorders) * per_run,
                 static_cast<double>(entry.reorder_bytes) * per_run / 1024);
  }
}

}  // namespace berth::cli
