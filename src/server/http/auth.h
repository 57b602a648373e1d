// ApiKeyAuthenticator: checks "Authorization: Bearer <key>" against the
// configured API keys.
//
// Keys are kept only as SHA-256 digests and a presented token is hashed and
// compared with CRYPTO_memcmp against every key, without an early exit, so
// neither the key's content nor its length leaks through timing.
// Thread-safe (immutable after construction).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace berth::server {

class ApiKeyAuthenticator {
 public:
  ApiKeyAuthenticator() = default;  // disabled: every request passes
  explicit ApiKeyAuthenticator(const std::vector<std::string>& keys);

  bool enabled() const { return !digests_.empty(); }
  // `authorization` is the raw header value ("" when absent).
  bool Allows(std::string_view authorization) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest Hash(std::string_view text);
  std::vector<Digest> digests_;
};

}  // namespace berth::server
