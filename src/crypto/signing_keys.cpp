#include "crypto/signing_keys.hpp"

#include <fcntl.h>
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

}  // namespace

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return FileError(tmp, "cannot create");
  ::fchmod(fd, mode);
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return FileError(tmp, "cannot write");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return FileError(path, "cannot rename to");
  int dir = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

namespace {

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
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
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

Result<SigningKeyRing> SigningKeyRing::LoadOrCreate(const std::filesystem::path& dir, int64_t now,
                                                    RotationTimes times) {
  std::filesystem::path first = dir / kKeyFile;
  if (::access(first.c_str(), F_OK) != 0) {
    if (errno != ENOENT) return FileError(first, "cannot read");
    Ed25519Key key = Ed25519Key::Generate();
    if (auto written = WriteFileAtomically(first, key.PrivatePem(), 0600); !written) return written.error();
  }
  std::vector<SigningKey> keys;
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
  return FromKeys(Choose(std::move(keys), now, times));
}

Result<SigningKey> SigningKeyRing::AddKey(const std::filesystem::path& dir, int64_t now) {
  std::filesystem::path rotated = dir / kRotatedDir;
  std::error_code ec;
  std::filesystem::create_directories(rotated, ec);
  if (ec) return MakeError(Errc::kInternal, "cannot create " + rotated.string() + ": " + ec.message());
  ::chmod(rotated.c_str(), 0700);
  std::filesystem::path path = rotated / (std::to_string(now) + ".pem");
  if (::access(path.c_str(), F_OK) == 0)
    return MakeError(Errc::kBadRequest, "a key was added this very second; wait one");
  Ed25519Key key = Ed25519Key::Generate();
  if (auto written = WriteFileAtomically(path, key.PrivatePem(), 0600); !written) return written.error();
  SigningKey k = WithKid(std::move(key));
  k.created_at = now;
  return k;
}

SigningKeyRing SigningKeyRing::FromKeys(std::vector<SigningKey> keys) { return SigningKeyRing(std::move(keys)); }

const SigningKey* SigningKeyRing::Find(std::string_view kid) const {
  for (const auto& k : keys_)
    if (k.kid == kid) return &k;
  return nullptr;
}

boost::json::object SigningKeyRing::Jwks() const {
  boost::json::array keys;
  for (const auto& k : keys_) {
    boost::json::object jwk = PublicJwk(k.key);
    jwk["kid"] = k.kid;
    jwk["alg"] = "EdDSA";
    jwk["use"] = "sig";
    keys.push_back(std::move(jwk));
  }
  return {{"keys", std::move(keys)}};
}

}  // namespace ap::crypto
