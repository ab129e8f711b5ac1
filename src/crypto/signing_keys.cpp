#include "crypto/signing_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/array.hpp>
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

Result<SigningKeyRing> SigningKeyRing::LoadOrCreate(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / kKeyFile;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return FileError(path, "cannot read");
    Ed25519Key key = Ed25519Key::Generate();
    if (auto written = WriteFileAtomically(path, key.PrivatePem(), 0600); !written) return written.error();
    return FromKeys({WithKid(std::move(key))});
  }
  if ((st.st_mode & 077) != 0)
    return MakeError(Errc::kInternal, "the signing key " + path.string() +
                                          " is readable by other users; run: chmod 600 " + path.string());
  std::ifstream in(path);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in) return FileError(path, "cannot read");
  auto key = Ed25519Key::FromPrivatePem(pem.str());
  if (!key) return MakeError(Errc::kInternal, path.string() + ": " + key.error().message);
  return FromKeys({WithKid(std::move(*key))});
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
