// berth pull SOURCE DEST [--sha256 HEX | --manifest PATH_OR_URL] [options]
//
// Downloads a model file or a manifest-listed model repository into DEST
// before serving: the Kubernetes initContainer / "seed at startup" step. See
// fetch/model_fetcher.h for sources, manifests and the guarantees (verified,
// atomic, resumable, never writes outside DEST). S3 credentials, region and
// endpoint come from the standard AWS_* environment variables.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/logging.h"
#include "fetch/model_fetcher.h"

namespace berth::cli {
namespace {

struct PullArguments {
  std::string source;
  std::string destination;
  fetch::FetchOptions options = fetch::FetchOptions::FromEnvironment();
  int retries = 4;
  std::string log_format = "text";
};

int Pull(PullArguments& args) {
  if (args.log_format == "json") {
    core::SetLogFormat(core::LogFormat::kJson);
  } else if (args.log_format != "text") {
    return ReportError(core::InvalidArgument("--log-format must be text or json, not '{}'", args.log_format));
  }
  if (args.retries < 0 || args.retries > 100) {
    return ReportError(core::InvalidArgument("--retries must be between 0 and 100"));
  }
  args.options.max_attempts = args.retries + 1;
  auto report = fetch::FetchModel(args.source, args.destination, args.options);
  if (!report.ok()) return ReportError(report.status());
  size_t reused = 0;
  for (const auto& file : report->files) reused += file.reused ? 1 : 0;
  std::printf("pulled %zu file(s) into %s: %llu bytes downloaded, %zu already present, %.2f s\n", report->files.size(),
              args.destination.c_str(), static_cast<unsigned long long>(report->bytes_downloaded), reused,
              report->seconds);
  return 0;
}

}  // namespace

void AddPullCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<PullArguments>();
  CLI::App* cmd = app.add_subcommand("pull",
                                     "Download a model (http, https, s3) into a directory, verified by SHA-256 where a "
                                     "digest is given");
  cmd->add_option("source", args->source,
                  "http(s)://host/path/model.onnx, a directory URL ending in '/' (files from its manifest), "
                  "s3://bucket/key or s3://bucket/prefix/")
      ->required();
  cmd->add_option("destination", args->destination, "directory to write into (created if missing)")->required();
  cmd->add_option("--sha256", args->options.sha256, "expected SHA-256 of a single-file source")
      ->envname("BERTH_MODEL_SHA256");
  cmd->add_option("--manifest", args->options.manifest,
                  "sha256sum-format list of files and digests (URL or local path); a directory source defaults to "
                  "SOURCE/manifest.sha256")
      ->envname("BERTH_MODEL_MANIFEST");
  cmd->add_option("--retries", args->retries, "retries per file after the first attempt (exponential backoff)")
      ->capture_default_str();
  cmd->add_option("--backoff-secs", args->options.initial_backoff_secs,
                  "wait before the first retry; doubled after each (at most 15 s)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout-secs", args->options.connect_timeout_secs, "give up connecting after this long")
      ->capture_default_str();
  cmd->add_option("--stall-timeout-secs", args->options.stall_timeout_secs,
                  "abort (and retry) a transfer slower than --min-rate for this long")
      ->capture_default_str();
  cmd->add_option("--min-rate", args->options.min_bytes_per_sec, "bytes per second a transfer must keep up")
      ->capture_default_str();
  cmd->add_option("--max-bytes", args->options.max_bytes,
                  "download at most this many bytes, all files together (a larger Content-Length is refused)")
      ->capture_default_str();
  cmd->add_option("--timeout-secs", args->options.timeout_secs,
                  "give up when the whole pull (retries included) takes longer (0: no limit)")
      ->capture_default_str();
  cmd->add_flag("--require-digest", args->options.require_digest,
                "refuse a file that no --sha256 or manifest vouches for (otherwise: a warning)");
  cmd->add_option("--s3-endpoint", args->options.s3_endpoint,
                  "S3-compatible endpoint, path-style (default: AWS; env AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)");
  cmd->add_option("--s3-region", args->options.s3_region, "signing region (env AWS_REGION or AWS_DEFAULT_REGION)")
      ->capture_default_str();
  cmd->add_option("--ca-file", args->options.ca_file, "CA bundle for https (default: the system's)");
  cmd->add_option("--log-format", args->log_format, "text | json")->capture_default_str();
  cmd->footer(
      "S3 requests are signed (AWS Signature V4) with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
      "AWS_SESSION_TOKEN when set, and sent unsigned otherwise.\nExit status: 0 when every file is in place and "
      "verified, 1 otherwise.");
  cmd->callback([args, exit_code] { *exit_code = Pull(*args); });
}

}  // namespace berth::cli
