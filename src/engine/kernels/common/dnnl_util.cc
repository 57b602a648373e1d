#include "engine/kernels/common/dnnl_util.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <tuple>

#include "core/cpu_features.h"
#include "core/parallel.h"

namespace berth::engine::dnnl_util {

void ApplyIsaCeiling() {
  static const bool applied = [] {
    const char* onednn = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (onednn != nullptr && *onednn != '\0') return false;
    dnnl_cpu_isa_t isa = dnnl_cpu_isa_all;
    switch (core::IsaCeilingFromEnvironment()) {
      case core::IsaCeiling::kSse41:
        isa = dnnl_cpu_isa_sse41;
        break;
      case core::IsaCeiling::kAvx2:
        isa = dnnl_cpu_isa_avx2;
        break;
      case core::IsaCeiling::kAvx512:
        isa = dnnl_cpu_isa_avx512_core_bf16;
        break;
      case core::IsaCeiling::kAll:
        return false;
    }
    // Fails only once oneDNN has already picked its ISA, which the callers
    // of this function come before.
    return dnnl_set_max_cpu_isa(isa) == dnnl_success;
  }();
  (void)applied;
}

dnnl::engine& CpuEngine() {
  ApplyIsaCeiling();
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

std::optional<dnnl::memory::data_type> ToDnnlType(core::DataType dtype) {
  using dt = dnnl::memory::data_type;
  switch (dtype) {
    case core::DataType::kFloat32:
      return dt::f32;
    case core::DataType::kFloat16:
      return dt::f16;
    case core::DataType::kBFloat16:
      return dt::bf16;
    case core::DataType::kInt32:
      return dt::s32;
    case core::DataType::kInt8:
      return dt::s8;
    case core::DataType::kUInt8:
      return dt::u8;
    default:
      return std::nullopt;
  }
}

dnnl::memory::dims ToDims(const core::TensorShape& shape) {
  if (shape.empty()) return {1};
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::format_tag PlainTag(size_t rank) {
  using tag = dnnl::memory::format_tag;
  switch (rank) {
    case 0:
    case 1:
      return tag::a;
    case 2:
      return tag::ab;
    case 3:
      return tag::abc;
    case 4:
      return tag::abcd;
    case 5:
      return tag::abcde;
    case 6:
      return tag::abcdef;
    default:
      return tag::undef;
  }
}

dnnl::memory::desc PlainDesc(const core::TensorShape& shape, dnnl::memory::data_type type) {
  return dnnl::memory::desc(ToDims(shape), type, PlainTag(shape.size()));
}

dnnl::memory WrapTensor(const core::Tensor& tensor) {
  auto type = ToDnnlType(tensor.dtype()).value_or(dnnl::memory::data_type::f32);
  return WrapTensor(tensor, PlainDesc(tensor.shape(), type));
}

dnnl::memory WrapTensor(const core::Tensor& tensor, const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, CpuEngine(), const_cast<void*>(tensor.raw_data()));
}

core::TensorLayout PreferredBlockedLayout() {
  static const core::TensorLayout layout = [] {
    ApplyIsaCeiling();
    auto isa = dnnl::get_effective_cpu_isa();
    bool avx512 = isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
                  isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
    return avx512 ? core::TensorLayout::kChannelsBlocked16 : core::TensorLayout::kChannelsBlocked8;
  }();
  return layout;
}

dnnl::memory::format_tag LayoutTag(core::TensorLayout layout, size_t rank) {
  if (layout == core::TensorLayout::kChannelsBlocked16 && rank == 4) return dnnl::memory::format_tag::nChw16c;
  if (layout == core::TensorLayout::kChannelsBlocked8 && rank == 4) return dnnl::memory::format_tag::nChw8c;
  return PlainTag(rank);
}

dnnl::memory::desc TensorDesc(const core::Tensor& tensor) {
  auto type = ToDnnlType(tensor.dtype()).value_or(dnnl::memory::data_type::f32);
  return dnnl::memory::desc(ToDims(tensor.shape()), type, LayoutTag(tensor.layout(), tensor.shape().size()));
}

namespace {

// A reorder between two layouts of one tensor shape, built once: building
// one costs more than running it on the small tensors that cross layout
// boundaries at run time (a pooled [N, C, 1, 1], a convolution's input).
struct LayoutReorder {
  dnnl::reorder primitive;
  dnnl::memory::desc from, to, scratchpad;
  PrimitiveArguments arguments;
};

core::Result<std::shared_ptr<const LayoutReorder>> LayoutReorderFor(const core::Tensor& tensor,
                                                                    core::TensorLayout layout) {
  using Key = std::tuple<core::DataType, core::TensorShape, core::TensorLayout, core::TensorLayout, int>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const LayoutReorder>> cache;
  Key key{tensor.dtype(), tensor.shape(), tensor.layout(), layout, core::IntraOpThreads()};
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto built = std::make_shared<LayoutReorder>();
  built->from = TensorDesc(tensor);
  RETURN_IF_ERROR(TryDnnl("building a layout reorder", [&] {
    built->to =
        dnnl::memory::desc(ToDims(tensor.shape()), built->from.data_type(), LayoutTag(layout, tensor.shape().size()));
    dnnl::reorder::primitive_desc pd(CpuEngine(), built->from, CpuEngine(), built->to, DefaultAttr());
    built->scratchpad = pd.scratchpad_desc();
    built->primitive = dnnl::reorder(pd);
    built->arguments.Add(DNNL_ARG_FROM, built->from);
    built->arguments.Add(DNNL_ARG_TO, built->to);
    if (built->scratchpad.get_size() > 0) built->arguments.Add(DNNL_ARG_SCRATCHPAD, built->scratchpad);
  }));
  std::lock_guard lock(mutex);
  if (cache.size() >= 1024) cache.clear();  // bounded: shapes vary with requests
  return cache.emplace(key, std::move(built)).first->second;
}

}  // namespace

namespace {
thread_local ReorderCount thread_reorders;
}  // namespace

const ReorderCount& ThreadReorders() { return thread_reorders; }

void CountReorder(size_t bytes) {
  thread_reorders.reorders += 1;
  thread_reorders.bytes += bytes;
}

core::Result<core::Tensor> ToLayout(const core::Tensor& tensor, core::TensorLayout layout, core::Allocator& allocator) {
  if (tensor.layout() == layout) return tensor;
  CountReorder(tensor.byte_size());
  ASSIGN_OR_RETURN(core::Tensor out, core::Tensor::CreateBlocked(tensor.dtype(), tensor.shape(), layout, allocator));
  ASSIGN_OR_RETURN(std::shared_ptr<const LayoutReorder> reorder, LayoutReorderFor(tensor, layout));
  RETURN_IF_ERROR(
      ExecuteWithThreadArguments("layout reorder", reorder->primitive, reorder->arguments, reorder->scratchpad,
                                 allocator, [&](std::unordered_map<int, dnnl::memory>& args) {
                                   args[DNNL_ARG_FROM].set_data_handle(const_cast<void*>(tensor.raw_data()));
                                   args[DNNL_ARG_TO].set_data_handle(out.raw_data());
                                 }));
  return out;
}

dnnl::primitive_attr DefaultAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

core::Status Execute(const dnnl::primitive& primitive, std::unordered_map<int, dnnl::memory> args,
                     const dnnl::memory::desc& scratchpad, core::Allocator& allocator) {
  std::shared_ptr<void> buffer;
  size_t bytes = scratchpad.get_size();
  if (bytes > 0) {
    buffer = allocator.Allocate(bytes);
    if (!buffer) return core::ResourceExhausted("out of memory for a {} byte oneDNN scratchpad", bytes);
    args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratchpad, CpuEngine(), buffer.get());
  }
  return TryDnnl("oneDNN execute", [&] {
    dnnl::stream& stream = ThreadStream();
    primitive.execute(stream, args);
    stream.wait();
  });
}

PrimitiveArguments::PrimitiveArguments() {
  static std::atomic<uint64_t> next_id{1};
  id = next_id.fetch_add(1);
}

std::unordered_map<int, dnnl::memory>& ThreadArguments(const PrimitiveArguments& arguments) {
  struct Slot {
    uint64_t id = 0;  // 0: unused
    std::unordered_map<int, dnnl::memory> args;
  };
  // Enough slots per thread for every oneDNN primitive of a ResNet- or
  // BERT-sized model (ids are consecutive, so they rarely collide); a
  // collision only costs rebuilding the memory objects.
  thread_local std::array<Slot, 256> slots;
  Slot& slot = slots[arguments.id % slots.size()];
  if (slot.id == arguments.id) return slot.args;
  slot.id = 0;
  slot.args.clear();
  for (const auto& [argument, layout] : arguments.layouts) {
    slot.args.emplace(argument, dnnl::memory(layout, CpuEngine(), DNNL_MEMORY_NONE));
  }
  slot.id = arguments.id;
  return slot.args;
}

void* ThreadScratchpad(size_t bytes) {
  if (bytes > kThreadScratchpadBytes) return nullptr;
  // One buffer of kThreadScratchpadBytes per thread, made on first use.
  struct Buffer {
    void* data = nullptr;
    ~Buffer() { ::operator delete(data, std::align_val_t(core::kTensorAlignment)); }
  };
  thread_local Buffer buffer;
  if (!buffer.data) {
    buffer.data = ::operator new(kThreadScratchpadBytes, std::align_val_t(core::kTensorAlignment), std::nothrow);
  }
  return buffer.data;
}

core::Status DnnlErrorStatus(const char* what, const dnnl::error& error) {
  return core::Status(
      error.status == dnnl_unimplemented ? core::StatusCode::kUnimplemented : core::StatusCode::kInvalidArgument,
      std::string(what) + ": oneDNN: " + error.what());
}

core::Status TryDnnl(const char* what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const dnnl::error& error) {
    return DnnlErrorStatus(what, error);
  }
  return core::Status::Ok();
}

}  // namespace berth::engine::dnnl_util
