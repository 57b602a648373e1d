#include "server/backends/onnx_backend.h"

#include "engine/session.h"

namespace berth::server {
namespace {

DeclaredTensor Declare(const engine::ValueInfo& info) {
  using Kind = engine::ValueType::Kind;
  DeclaredTensor tensor;
  tensor.name = info.name;
  tensor.is_tensor = info.type.kind == Kind::kTensor || info.type.kind == Kind::kUnknown;
  tensor.description = info.type.ToString();
  if (info.type.kind == Kind::kTensor) {
    tensor.dtype = info.type.dtype;
    tensor.rank_known = info.type.has_shape;
    if (tensor.rank_known) tensor.shape = info.type.Shape();
  }
  return tensor;
}

class OnnxBackend : public Backend {
 public:
  explicit OnnxBackend(std::unique_ptr<engine::Session> session) : session_(std::move(session)) {
    for (const auto& input : session_->inputs()) signature_.inputs.push_back(Declare(input));
    for (const auto& output : session_->outputs()) signature_.outputs.push_back(Declare(output));
  }

  const DeclaredSignature& signature() const override { return signature_; }

  void Run(std::span<const BackendRequest> batch, std::span<BackendResponse> responses) const override {
    for (size_t i = 0; i < batch.size(); ++i) RunOne(batch[i], responses[i]);
  }

  size_t MemoryBytes() const override { return session_->MemoryBytes(); }

 private:
  void RunOne(const BackendRequest& request, BackendResponse& response) const {
    response.fault = Fault::kCaller;
    if (request.cancelled && request.cancelled->load(std::memory_order_relaxed)) {
      response.status = core::Status(core::StatusCode::kCancelled, "the request was cancelled before it ran");
      return;
    }
    if (Clock::now() > request.deadline) {
      response.status =
          core::Status(core::StatusCode::kDeadlineExceeded, "the request's deadline passed before it ran");
      return;
    }
    // Inputs that do not fit the model are the caller's to fix; a failure
    // while running inputs that do is the model's.
    const auto start = Clock::now();
    auto bound = session_->BindInputs(request.inputs);
    const auto bound_at = Clock::now();
    response.input_time = bound_at - start;
    if (!bound.ok()) {
      response.status = bound.status();
      return;
    }
    response.fault = Fault::kModel;
    engine::RunOptions options;
    options.deadline = request.deadline;
    options.cancelled = request.cancelled;
    options.memory = request.memory;
    auto outputs = session_->RunBound(*bound, request.outputs, options);
    response.infer_time = Clock::now() - bound_at;
    if (!outputs.ok() && outputs.status().code() == core::StatusCode::kCancelled) response.fault = Fault::kCaller;
    // A request too large for the per-request limit is the caller's to
    // change; a full process budget stays the server's (503).
    if (!outputs.ok() && outputs.status().code() == core::StatusCode::kRequestTooLarge) response.fault = Fault::kCaller;
    if (!outputs.ok()) {
      response.status = outputs.status();
      return;
    }
    response.status = core::Status::Ok();
    response.outputs = std::move(outputs).value();
  }

  std::unique_ptr<engine::Session> session_;
  DeclaredSignature signature_;
};

}  // namespace

BackendFactory OnnxBackendFactory() {
  BackendFactory factory;
  factory.name = "ONNX";
  factory.backend = "berth";
  factory.platform = "onnxruntime_onnx";
  factory.names = {"berth", "onnxruntime_onnx", "onnxruntime", "onnx"};
  factory.default_model_filename = "model.onnx";
  factory.load = [](const std::filesystem::path& model_file, const config::ModelConfig&,
                    const BackendLoadOptions& options) -> core::Result<std::unique_ptr<Backend>> {
    engine::SessionOptions session_options;
    session_options.intra_op_threads = options.intra_op_threads;
    ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> session, engine::Session::Load(model_file, session_options));
    return std::unique_ptr<Backend>(std::make_unique<OnnxBackend>(std::move(session)));
  };
  return factory;
}

}  // namespace berth::server
