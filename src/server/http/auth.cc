#include "server/http/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace berth::server {

ApiKeyAuthenticator::ApiKeyAuthenticator(const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    if (!key.empty()) digests_.push_back(Hash(key));
  }
}

ApiKeyAuthenticator::Digest ApiKeyAuthenticator::Hash(std::string_view text) {
  Digest digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

bool ApiKeyAuthenticator::Allows(std::string_view authorization) const {
  if (digests_.empty()) return true;
  // "Bearer" is case-insensitive (RFC 6750 / RFC 7235); one or more spaces.
  constexpr std::string_view kScheme = "bearer";
  bool scheme_ok = authorization.size() > kScheme.size();
  for (size_t i = 0; scheme_ok && i < kScheme.size(); ++i) {
    scheme_ok = (authorization[i] | 0x20) == kScheme[i];
  }
  std::string_view token;
  if (scheme_ok && authorization[kScheme.size()] == ' ') {
    token = authorization.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  }
  const Digest presented = Hash(token);
  int matches = 0;
  for (const Digest& digest : digests_) {
    matches |= CRYPTO_memcmp(presented.data(), digest.data(), digest.size()) == 0 ? 1 : 0;
  }
  return scheme_ok && !token.empty() && matches != 0;
}

}  // namespace berth::server
