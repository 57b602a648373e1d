// AWS Signature Version 4: signs HTTP requests for S3 and S3-compatible
// stores (MinIO, Ceph RGW, R2, GCS interoperability), as `berth pull
// s3://...` and `berth serve --model-url s3://...` send them.
//
// The algorithm (AWS "Create a signed AWS API request"): a canonical request
// (method, URI, sorted query, lower-cased sorted headers, payload hash) is
// hashed into a string to sign, which is signed with a key derived from the
// secret by HMAC-SHA256 over date, region, service and "aws4_request".
// tests/fetch/aws_sigv4_test.cc checks every step against AWS's published
// SigV4 test suite.
//
// Everything here is pure and thread-safe. Credentials are never logged.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::fetch {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (STS); sent as x-amz-security-token
};

// Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
// Returns nothing when either of the first two is unset or empty (then
// requests go unsigned, which public buckets accept).
std::optional<AwsCredentials> AwsCredentialsFromEnvironment();

struct SigV4Request {
  std::string method;  // "GET"
  // The path as sent on the wire, already percent-encoded ("/bucket/a%20b").
  std::string path = "/";
  // The raw query string as sent, without '?', in any order ("b=2&a=1").
  std::string query;
  // Every header to sign, host included; names in any case. Headers sent but
  // not listed here are not signed (S3 only requires host and x-amz-*).
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256;
};

struct SigV4Scope {
  std::string region = "us-east-1";
  std::string service = "s3";
  std::string amz_date;  // "YYYYMMDDTHHMMSSZ" (UTC); the first 8 characters are the scope's date
};

// Every intermediate of the signature, so tests can compare each with the
// published suite.
struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the Authorization header's value
};

SigV4Signature SignV4(const SigV4Request& request, const AwsCredentials& credentials, const SigV4Scope& scope);

// The steps SignV4 is made of.
std::string CanonicalQueryString(std::string_view query);
// Lower-cases names, trims values and folds inner runs of spaces, sorts by
// name and joins repeated names with ','. Returns {canonical headers (each
// "name:value\n"), signed header list}.
std::pair<std::string, std::string> CanonicalHeaders(const std::vector<std::pair<std::string, std::string>>& headers);

// RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9
// - _ . ~ is encoded as %XX (upper-case hex); '/' too unless keep_slash.
std::string UriEncode(std::string_view text, bool keep_slash);
// Decodes %XX escapes ('+' stays '+'). Malformed escapes are kept as they are.
std::string UriDecode(std::string_view text);

// "YYYYMMDDTHHMMSSZ" for a point in time (UTC).
std::string AmzDate(std::chrono::system_clock::time_point time);

// Lower-case hex SHA-256 of `data`, and raw HMAC-SHA256.
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);
std::string HexEncode(std::string_view bytes);

}  // namespace berth::fetch
