#include "vault/master_key.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "crypto/hash.hpp"

namespace ap::vault {
namespace {

void InitSodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium cannot be initialised");
}

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

std::string_view AsText(const KeyBytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Result<MasterKey> WriteNewKeyFile(const std::filesystem::path& file) {
  MasterKey key = NewMasterKey();
  std::string text = MasterKeyText(key) + "\n";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kUnavailable, "cannot create the master key file " + file.string());
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(text.data(), text.size());
  if (!written) {
    std::filesystem::remove(file);
    return MakeError(Errc::kUnavailable, "cannot write the master key file " + file.string());
  }
  // The file's name must survive a crash too: the keys sealed under it are unreadable without it.
  std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return key;
}

}  // namespace

MasterKey::~MasterKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

std::string MasterKey::Id() const {
  KeyBytes id = Derive("key-id");
  std::string hex = crypto::Sha256Hex(AsText(id));
  sodium_memzero(id.data(), id.size());
  return hex.substr(0, 16);
}

KeyBytes MasterKey::Derive(std::string_view purpose) const {
  std::string mac = crypto::HmacSha256(AsText(bytes_), std::string("aipassport vault: ") + std::string(purpose));
  KeyBytes out{};
  std::copy(mac.begin(), mac.end(), out.begin());
  sodium_memzero(mac.data(), mac.size());
  return out;
}

MasterKey NewMasterKey() {
  InitSodium();
  KeyBytes bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  MasterKey key(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

std::string MasterKeyText(const MasterKey& key) {
  InitSodium();
  std::string text(sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(text.data(), text.size(), key.Bytes().data(), kKeyBytes, sodium_base64_VARIANT_ORIGINAL);
  text.resize(text.size() - 1);  // the terminating NUL
  return text;
}

Result<MasterKey> ParseMasterKey(std::string_view text, std::string_view source) {
  InitSodium();
  text = Trimmed(text);
  KeyBytes bytes{};
  size_t length = 0;
  const char* end = nullptr;
  int rc = sodium_base642bin(bytes.data(), bytes.size(), text.data(), text.size(), nullptr, &length, &end,
                             sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || length != kKeyBytes || end != text.data() + text.size()) {
    sodium_memzero(bytes.data(), bytes.size());
    return MakeError(Errc::kValidation, std::string(source) +
                                            " does not hold a master key: expected 32 bytes in base64 "
                                            "(make one with: head -c 32 /dev/urandom | base64)");
  }
  MasterKey key(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

Result<MasterKey> LoadMasterKey(const MasterKeySource& source, bool create_file, bool* created) {
  if (created) *created = false;
  if (source.base64) return ParseMasterKey(*source.base64, "AIPASSPORT_MASTER_KEY");
  std::error_code ec;
  if (!std::filesystem::exists(source.file, ec)) {
    if (!create_file)
      return MakeError(Errc::kUnavailable, "the master key file " + source.file.string() +
                                               " is missing (set vault.master_key_file or AIPASSPORT_MASTER_KEY)");
    auto key = WriteNewKeyFile(source.file);
    if (key && created) *created = true;
    return key;
  }
  struct stat info {};
  if (::stat(source.file.c_str(), &info) == 0 && (info.st_mode & 0077) != 0)
    return MakeError(Errc::kValidation, "the master key file " + source.file.string() +
                                            " can be read by others; make it private: chmod 600 " +
                                            source.file.string());
  std::ifstream in(source.file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return MakeError(Errc::kUnavailable, "cannot read the master key file " + source.file.string());
  std::string content = text.str();
  auto key = ParseMasterKey(content, "the master key file " + source.file.string());
  sodium_memzero(content.data(), content.size());
  return key;
}

}  // namespace ap::vault
