// HTTP content codings: request bodies sent with Content-Encoding gzip or
// deflate are inflated before any route sees them, and responses are
// compressed when the client's Accept-Encoding asks (zlib, Debian's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace berth::server {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// The coding a Content-Encoding value names: identity (or empty), gzip
// (x-gzip), deflate. Unimplemented (415) for any other, and for a list of
// codings ("gzip, gzip"): berth undoes one coding.
core::Result<ContentCoding> ParseContentEncoding(std::string_view value);

// Inflates `body` without ever holding more than `limit` bytes of output:
// ResourceExhausted (413) as soon as it would exceed it, InvalidArgument
// (400) for a corrupt or truncated stream or bytes after its end. deflate
// accepts the zlib format (RFC 1950, what HTTP calls deflate) and raw
// RFC 1951 streams, as browsers and Triton's clients send either.
core::Result<std::string> Inflate(std::string_view body, ContentCoding coding, uint64_t limit);

// The coding to answer in for an Accept-Encoding value: gzip when it is
// accepted, else deflate, else identity (q=0 refuses a coding).
ContentCoding PreferredResponseCoding(std::string_view accept_encoding);

// Compresses `body` (gzip or zlib-wrapped deflate).
std::string Compress(std::string_view body, ContentCoding coding);

std::string_view ContentCodingName(ContentCoding coding);

}  // namespace berth::server
