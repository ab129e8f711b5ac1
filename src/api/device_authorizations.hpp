#pragma once
// Device authorization requests (RFC 8628) while they wait: the device polls with its device code
// (kept as SHA-256), the person types the user code on /device and decides on the consent screen.
// Kept in memory for their short life (ten minutes); a restart makes the device ask again. At most
// kMaxDevices at once: lapsed ones make room, live ones are never dropped to make room.
// Thread-safety: all methods may be called from any thread.

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/time.hpp"

namespace ap::api {

struct DeviceAuthorization {
  std::string client_id;
  std::string user_code;   // normalised: 8 letters, no dash
  std::string scope_json;  // what the device asked for
  int64_t lifetime_seconds = 3600;
  std::string reason;
  std::string grant_id;  // once the person entered the code
  enum class State { kWaiting, kApproved, kDenied, kUsed } state = State::kWaiting;
  int64_t interval = 5;
  UnixSeconds last_poll = 0;
  UnixSeconds expires_at = 0;
};

enum class DevicePoll { kUnknown, kExpired, kSlowDown, kPending, kDenied, kApproved, kUsed };

class DeviceAuthorizations {
 public:
  static constexpr int64_t kLifetimeSeconds = 600;
  static constexpr size_t kMaxDevices = 2000;  // each at most ~25 kB (scope and reason are bounded)

  // Keeps a new request; false when kMaxDevices live ones already wait (the caller answers 503).
  bool Put(const std::string& device_code_hash, DeviceAuthorization device);
  size_t Size();
  // The device code hash and request for a user code still waiting for its person.
  std::optional<std::pair<std::string, DeviceAuthorization>> FindWaiting(const std::string& user_code, UnixSeconds now);
  void AttachGrant(const std::string& device_code_hash, const std::string& grant_id);
  // The lifetime the device asked for, if a device waits for this grant.
  std::optional<int64_t> AskedLifetime(const std::string& grant_id);
  // Records the owner's decision; false if no device waits for this grant.
  bool Decide(const std::string& grant_id, bool approved);
  // One poll: enforces the interval (each poll too early adds 5 s to it) and hands an approved
  // grant out once. `grant_id` is set for kApproved.
  DevicePoll Poll(const std::string& device_code_hash, const std::string& client_id, UnixSeconds now,
                  std::string& grant_id, int64_t& interval);

 private:
  std::mutex mutex_;
  std::map<std::string, DeviceAuthorization> devices_;  // by device code hash
};

}  // namespace ap::api
