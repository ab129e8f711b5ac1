#include "crypto/signing_keys.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crypto/jws.hpp"

namespace ap::crypto {
namespace {

constexpr const char* kKeyFile = "signing-key.pem";

Error FileError(const std::filesystem::path& path, std::string what) {
  return MakeError(Errc::kInternal, what + " " + path.string() + ": " + std::strerror(errno));
}

SigningKey WithKid(Ed25519Key key) { return SigningKey{JwkThumbprint(key), std::move(key)}; }

constexpr const char* kRotatedDir = "signing-keys";

Result<SigningKey> ReadKey(const std::filesystem::path& path, int64_t created_at) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileError(path, "cannot read");
  if ((st.st_mode & 077) != 0)
    return MakeError(Errc::kInternal, "the signing key " + path.string() +
                                          " is readable by other users; run: chmod 600 " + path.string());
  std::ifstream in(path);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in) return FileError(path, "cannot read");
  auto key = Ed25519Key::FromPrivatePem(pem.str());
  if (!key) return MakeError(Errc::kInternal, path.string() + ": " + key.error().message);
  SigningKey k = WithKid(std::move(*key));
  k.created_at = created_at;
  return k;
}

}  // namespace

std::vector<SigningKey> SigningKeyRing::Choose(std::vector<SigningKey> keys, int64_t now, RotationTimes times) {
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.kid < b.kid;
  });
  // The newest key that has been published long enough signs; the oldest one may always sign.
  size_t signing = 0;
  for (size_t i = 1; i < keys.size(); ++i)
    if (keys[i].created_at + times.publish_seconds <= now) signing = i;
  std::vector<SigningKey> out;
  out.push_back(std::move(keys[signing]));
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i == signing) continue;
    // A replaced key stopped signing when the next one started; it verifies for verify_seconds more.
    if (i < signing && keys[i + 1].created_at + times.publish_seconds + times.verify_seconds < now) continue;
    out.push_back(std::move(keys[i]));
  }
  return out;
}

SigningKey SigningKeyRing::NewKey(int64_t now) {
  SigningKey k = WithKid(Ed25519Key::Generate());
  k.created_at = now;
  return k;
}

bool SigningKeyRing::HasKeyFiles(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir / kKeyFile, ec);
}

Result<std::vector<SigningKey>> SigningKeyRing::ReadKeyFiles(const std::filesystem::path& dir) {
  std::vector<SigningKey> keys;
  std::filesystem::path first = dir / kKeyFile;
  if (::access(first.c_str(), F_OK) != 0) {
    if (errno != ENOENT) return FileError(first, "cannot read");
    return keys;
  }
  auto key = ReadKey(first, 0);
  if (!key) return key.error();
  keys.push_back(std::move(*key));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir / kRotatedDir, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".pem") continue;
    int64_t created = 0;
    std::string stem = path.stem().string();
    auto [ptr, parse] = std::from_chars(stem.data(), stem.data() + stem.size(), created);
    if (parse != std::errc() || ptr != stem.data() + stem.size()) continue;  // not one of ours
    auto rotated = ReadKey(path, created);
    if (!rotated) return rotated.error();
    keys.push_back(std::move(*rotated));
  }
  return keys;
}

SigningKeyRing SigningKeyRing::FromKeys(std::vector<SigningKey> keys) { return SigningKeyRing(std::move(keys)); }

const SigningKey* SigningKeyRing::Find(std::string_view kid) const {
  for (const auto& k : keys_)
    if (k.kid == kid) return &k;
  return nullptr;
}

boost::json::object SigningKeyRing::Jwks() const {
  boost::json::array keys;
  for (const auto& k : keys_) keys.push_back(PublishedJwk(k));
  return {{"keys", std::move(keys)}};
}

boost::json::object PublishedJwk(const SigningKey& key) {
  boost::json::object jwk = PublicJwk(key.key);
  jwk["kid"] = key.kid;
  jwk["alg"] = "EdDSA";
  jwk["use"] = "sig";
  return jwk;
}

}  // namespace ap::crypto
