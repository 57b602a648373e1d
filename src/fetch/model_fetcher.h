// Model download ("seed at startup"): what `berth pull SOURCE DEST` and
// `berth serve --model-url URL` use to fill a model repository before serving.
//
// Sources
//   http(s)://host/path/model.onnx     one file, saved as DEST/model.onnx
//   http(s)://host/repository/         a directory (trailing '/'): the files
//                                      listed in its manifest, each saved at
//                                      its relative path under DEST
//   s3://bucket/key, s3://bucket/dir/  the same from S3 or an S3-compatible
//                                      store, signed with AWS Signature V4
//
// A manifest is a text file in `sha256sum` format, one "<64 hex>  <relative
// path>" line per file ('#' comments and blank lines are skipped); a directory
// source reads SOURCE/manifest.sha256 unless FetchOptions::manifest names
// another (a URL, s3:// URL or local file). Make one with
//   cd repo && find . -type f ! -name manifest.sha256 -exec sha256sum {} + > manifest.sha256
//
// Guarantees
// - Every path written lies inside DEST: absolute paths, '..' components and
//   symlinks inside DEST that lead out are refused before anything is written.
// - A file appears at its final path only complete and verified: it is
//   written to "<dir>/.<name>.partial", checked against its SHA-256 (from
//   --sha256 or the manifest) and renamed into place. A file already there
//   with the right digest is kept without downloading it again.
// - Transient failures (connection errors, timeouts, HTTP 408/429/5xx) are
//   retried with exponential backoff; each retry resumes from the bytes
//   already received with an HTTP Range request (a server that ignores Range
//   and answers 200 restarts the file). A digest mismatch is not retried: the
//   partial file is deleted and the error names both digests.
//
// Threads: FetchModel blocks the calling thread and may be called from
// several threads at once (each call has its own connection); two calls must
// not write the same DEST at the same time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fetch/aws_sigv4.h"

namespace berth::fetch {

struct FetchOptions {
  // Expected SHA-256 (hex) of a single-file source; empty: not checked unless
  // a manifest lists the file.
  std::string sha256;
  // Manifest location (URL, s3:// URL or local path); empty: a directory
  // source uses SOURCE + "manifest.sha256", a file source none.
  std::string manifest;

  int max_attempts = 5;               // per file, the first try included
  double initial_backoff_secs = 0.5;  // doubled after each failed attempt...
  double max_backoff_secs = 15;       // ...up to this
  double connect_timeout_secs = 15;
  // A transfer slower than min_bytes_per_sec for stall_timeout_secs is
  // aborted (and retried): a trickle never ends otherwise.
  double stall_timeout_secs = 60;
  uint64_t min_bytes_per_sec = 1024;
  // The most one FetchModel call downloads, all files together: a Content-
  // Length above it is refused before any byte, a body that grows past it
  // is cut off (an endless body would fill the disk).
  uint64_t max_bytes = uint64_t{256} << 30;
  // The whole call, retries and backoff included; 0: no limit.
  double timeout_secs = 0;
  // Refuse a file no digest vouches for (a single file without --sha256 or
  // a manifest); otherwise it is fetched with a warning.
  bool require_digest = false;

  // S3. Endpoint of an S3-compatible store ("http://minio:9000"); empty: AWS
  // (https://BUCKET.s3.REGION.amazonaws.com/KEY). A custom endpoint is
  // addressed path-style (ENDPOINT/BUCKET/KEY), as MinIO and Ceph expect.
  std::string s3_endpoint;
  std::string s3_region = "us-east-1";
  // Unset: requests are not signed (public buckets).
  std::optional<AwsCredentials> credentials;

  // CA bundle for https; empty: libcurl's default (/etc/ssl/certs/ca-certificates.crt).
  std::string ca_file;

  // Options from the standard environment: AWS_ACCESS_KEY_ID /
  // AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_REGION (or
  // AWS_DEFAULT_REGION), AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), and
  // berth's BERTH_MODEL_SHA256, BERTH_MODEL_MANIFEST.
  static FetchOptions FromEnvironment();
};

struct FetchedFile {
  std::string relative_path;  // under DEST
  uint64_t bytes = 0;
  std::string sha256;
  int attempts = 0;  // 0 when the file was already there and verified
  bool reused = false;
};

struct FetchReport {
  std::vector<FetchedFile> files;
  uint64_t bytes_downloaded = 0;
  double seconds = 0;
};

// Downloads `source` into the directory `destination` (created if missing).
// Errors name the file and the reason: NotFound (HTTP 404 / 403 from the
// store), InvalidArgument (bad source, unsafe path, digest mismatch, bad
// manifest), Unavailable (still failing after the last retry).
core::Result<FetchReport> FetchModel(std::string_view source, const std::filesystem::path& destination,
                                     const FetchOptions& options);

// `berth serve --model-url URL` in one call: FetchModel with
// FetchOptions::FromEnvironment(), logging what was fetched.
core::Status FetchModelForServing(std::string_view url, const std::filesystem::path& model_repository);

// The pieces FetchModel is made of, exposed for tests.

// Checks a relative path from outside (manifest entry, URL file name) and
// returns it normalised ("./a//b" -> "a/b"). Refuses empty paths, absolute
// paths, '..' components, backslashes and control characters.
core::Result<std::string> SafeRelativePath(std::string_view path);

struct ManifestEntry {
  std::string sha256;  // lower-case hex
  std::string relative_path;
};
// Parses `sha256sum` output; every path goes through SafeRelativePath.
core::Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text);

}  // namespace berth::fetch
