#pragma once
// The vault's master key: 32 random bytes that never enter the database. Every provider key's
// data key is wrapped under it, and the audit trail's chain key is derived from it.
// It comes from AIPASSPORT_MASTER_KEY (base64) or a file holding the same text.
// Thread-safety: immutable once loaded.

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ap::vault {

inline constexpr size_t kKeyBytes = 32;
using KeyBytes = std::array<unsigned char, kKeyBytes>;

class MasterKey {
 public:
  explicit MasterKey(const KeyBytes& bytes) : bytes_(bytes) {}
  ~MasterKey();
  MasterKey(const MasterKey&) = default;
  MasterKey& operator=(const MasterKey&) = default;

  const KeyBytes& Bytes() const { return bytes_; }
  // A fingerprint naming the key (it reveals nothing of it): the store records which master key
  // wraps its data keys, so a wrong one is recognised before anything is decrypted.
  std::string Id() const;
  // A key for one purpose ("audit-chain"), derived so that knowing it reveals nothing of the
  // master key or of keys derived for other purposes.
  KeyBytes Derive(std::string_view purpose) const;

 private:
  KeyBytes bytes_;
};

// Where the master key comes from: the environment's value when set, the file otherwise.
struct MasterKeySource {
  std::optional<std::string> base64;  // AIPASSPORT_MASTER_KEY
  std::filesystem::path file;         // vault.master_key_file
};

// The key from `source`. When neither the variable nor the file exists and `create_file` is set,
// writes a new random key to the file (mode 0600) and sets `*created`. Every failure names the
// source and what is wrong with it, never the key's bytes.
Result<MasterKey> LoadMasterKey(const MasterKeySource& source, bool create_file, bool* created = nullptr);
// Parses the base64 text of a key (the file's content, the variable's value); `source` names it in errors.
Result<MasterKey> ParseMasterKey(std::string_view text, std::string_view source);
// A new random key, and the text a key file holds for it.
MasterKey NewMasterKey();
std::string MasterKeyText(const MasterKey& key);

}  // namespace ap::vault
