#include "server/http/http_compression.h"

#include <zlib.h>

#include <algorithm>

#include "server/http/http_message.h"

namespace berth::server {
namespace {

// windowBits for inflateInit2/deflateInit2: 15 (zlib), 15 + 16 (gzip), -15 (raw).
// Inflates into `out`, or with `out` null only counts the inflated size
// through a small buffer. Stops once the output would pass `limit`.
core::Result<uint64_t> InflateWith(std::string_view body, int window_bits, uint64_t limit, std::string_view name,
                                   std::string* out) {
  z_stream stream{};
  if (inflateInit2(&stream, window_bits) != Z_OK) return core::Internal("cannot start zlib");
  constexpr size_t kChunk = 64 << 10;
  std::string scratch(out ? 0 : kChunk, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  stream.avail_in = static_cast<uInt>(body.size());
  uint64_t total = 0;
  core::Status failure;
  for (int result = Z_OK; result != Z_STREAM_END;) {
    char* buffer = scratch.data();
    size_t room = kChunk;
    if (out) {
      room = static_cast<size_t>(std::min<uint64_t>(out->size() - total, kChunk));
      buffer = out->data() + total;
      if (room == 0) {
        failure = core::Internal("the {} request body inflated to a different size the second time", name);
        break;
      }
    }
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = static_cast<uInt>(room);
    result = inflate(&stream, Z_NO_FLUSH);
    total += room - stream.avail_out;
    if (total > limit) {
      failure = core::ResourceExhausted("the {} request body is larger than the limit of {} bytes once decompressed",
                                        name, limit);
      break;
    }
    if (result == Z_STREAM_END) break;
    const bool output_full = stream.avail_out == 0;
    if ((result != Z_OK && !(result == Z_BUF_ERROR && output_full)) || (stream.avail_in == 0 && !output_full)) {
      std::string reason = stream.msg ? stream.msg : "truncated";
      failure = core::InvalidArgument("the {} request body cannot be decompressed: {}", name, reason);
      break;
    }
  }
  const bool trailing = failure.ok() && stream.avail_in != 0;
  inflateEnd(&stream);
  if (!failure.ok()) return failure;
  if (trailing) return core::InvalidArgument("the {} request body has bytes after its compressed stream", name);
  return total;
}

// Counts first, then inflates into a string of exactly that size: a bomb is
// refused without allocating anything, and an accepted body costs its size.
core::Result<std::string> InflateTwice(std::string_view body, int window_bits, uint64_t limit, std::string_view name) {
  ASSIGN_OR_RETURN(uint64_t size, InflateWith(body, window_bits, limit, name, nullptr));
  std::string out(static_cast<size_t>(size) + 1, '\0');  // one spare byte: the stream ends before it
  RETURN_IF_ERROR(InflateWith(body, window_bits, limit, name, &out).status());
  out.resize(static_cast<size_t>(size));
  return out;
}

}  // namespace

core::Result<ContentCoding> ParseContentEncoding(std::string_view value) {
  value = TrimOws(value);
  if (value.empty() || TokenEquals(value, "identity")) return ContentCoding::kIdentity;
  if (value.find(',') != std::string_view::npos) {
    return core::Unimplemented("Content-Encoding '{}': a list of codings is not supported; send one of gzip, deflate",
                               value.substr(0, 100));
  }
  if (TokenEquals(value, "gzip") || TokenEquals(value, "x-gzip")) return ContentCoding::kGzip;
  if (TokenEquals(value, "deflate")) return ContentCoding::kDeflate;
  return core::Unimplemented("Content-Encoding '{}' is not supported; send gzip, deflate or none",
                             value.substr(0, 100));
}

core::Result<std::string> Inflate(std::string_view body, ContentCoding coding, uint64_t limit) {
  switch (coding) {
    case ContentCoding::kIdentity:
      return std::string(body);
    case ContentCoding::kGzip:
      return InflateTwice(body, 15 + 16, limit, "gzip");
    case ContentCoding::kDeflate: {
      // The zlib header's first byte says deflate with a window; anything else is raw.
      const bool zlib_wrapped =
          body.size() >= 2 && (static_cast<unsigned char>(body[0]) & 0x0f) == 8 &&
          ((static_cast<unsigned char>(body[0]) << 8) | static_cast<unsigned char>(body[1])) % 31 == 0;
      return InflateTwice(body, zlib_wrapped ? 15 : -15, limit, "deflate");
    }
  }
  return core::Internal("unknown content coding");
}

ContentCoding PreferredResponseCoding(std::string_view accept_encoding) {
  bool gzip = false, deflate = false;
  while (!accept_encoding.empty()) {
    size_t comma = accept_encoding.find(',');
    std::string_view item = TrimOws(accept_encoding.substr(0, comma));
    accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    std::string_view name = TrimOws(item.substr(0, item.find(';')));
    bool refused = false;
    if (size_t q = item.find(";"); q != std::string_view::npos) {
      std::string_view parameter = TrimOws(item.substr(q + 1));
      if (parameter.size() >= 2 && (parameter[0] == 'q' || parameter[0] == 'Q') && parameter[1] == '=') {
        std::string_view number = TrimOws(parameter.substr(2));
        refused = !number.empty() && number.find_first_not_of("0.") == std::string_view::npos;  // q=0, q=0.0
      }
    }
    if (refused) continue;
    if (TokenEquals(name, "gzip") || TokenEquals(name, "x-gzip")) gzip = true;
    if (TokenEquals(name, "deflate")) deflate = true;
  }
  if (gzip) return ContentCoding::kGzip;
  if (deflate) return ContentCoding::kDeflate;
  return ContentCoding::kIdentity;
}

std::string Compress(std::string_view body, ContentCoding coding) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  z_stream stream{};
  // Level 1: most of the saving on JSON tensors for a fraction of the time.
  deflateInit2(&stream, 1, Z_DEFLATED, coding == ContentCoding::kGzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, static_cast<uLong>(body.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  stream.avail_in = static_cast<uInt>(body.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string_view ContentCodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kDeflate:
      return "deflate";
    case ContentCoding::kIdentity:
      return "identity";
  }
  return "identity";
}

}  // namespace berth::server
