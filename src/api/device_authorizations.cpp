#include "api/device_authorizations.hpp"

namespace ap::api {

bool DeviceAuthorizations::Put(const std::string& device_code_hash, DeviceAuthorization device) {
  std::lock_guard lock(mutex_);
  UnixSeconds now = device.expires_at - kLifetimeSeconds;
  std::erase_if(devices_, [now](const auto& e) { return e.second.expires_at < now; });
  if (devices_.size() >= kMaxDevices) return false;
  devices_[device_code_hash] = std::move(device);
  return true;
}

size_t DeviceAuthorizations::Size() {
  std::lock_guard lock(mutex_);
  return devices_.size();
}

std::optional<std::pair<std::string, DeviceAuthorization>> DeviceAuthorizations::FindWaiting(
    const std::string& user_code, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  for (const auto& [hash, device] : devices_)
    if (device.user_code == user_code && device.state == DeviceAuthorization::State::kWaiting &&
        device.grant_id.empty() && device.expires_at >= now)
      return std::make_pair(hash, device);
  return std::nullopt;
}

void DeviceAuthorizations::AttachGrant(const std::string& device_code_hash, const std::string& grant_id) {
  std::lock_guard lock(mutex_);
  if (auto it = devices_.find(device_code_hash); it != devices_.end()) it->second.grant_id = grant_id;
}

std::optional<int64_t> DeviceAuthorizations::AskedLifetime(const std::string& grant_id) {
  std::lock_guard lock(mutex_);
  for (const auto& [hash, device] : devices_)
    if (device.grant_id == grant_id && device.state == DeviceAuthorization::State::kWaiting)
      return device.lifetime_seconds;
  return std::nullopt;
}

bool DeviceAuthorizations::Decide(const std::string& grant_id, bool approved) {
  std::lock_guard lock(mutex_);
  for (auto& [hash, device] : devices_)
    if (device.grant_id == grant_id && device.state == DeviceAuthorization::State::kWaiting) {
      device.state = approved ? DeviceAuthorization::State::kApproved : DeviceAuthorization::State::kDenied;
      return true;
    }
  return false;
}

DevicePoll DeviceAuthorizations::Poll(const std::string& device_code_hash, const std::string& client_id,
                                      UnixSeconds now, std::string& grant_id, int64_t& interval) {
  std::lock_guard lock(mutex_);
  auto it = devices_.find(device_code_hash);
  if (it == devices_.end() || it->second.client_id != client_id) return DevicePoll::kUnknown;
  DeviceAuthorization& d = it->second;
  interval = d.interval;
  if (d.state == DeviceAuthorization::State::kUsed) return DevicePoll::kUsed;
  if (d.expires_at < now) return DevicePoll::kExpired;
  bool too_early = d.last_poll != 0 && now - d.last_poll < d.interval;
  d.last_poll = now;
  if (too_early) {
    d.interval += 5;
    interval = d.interval;
    return DevicePoll::kSlowDown;
  }
  switch (d.state) {
    case DeviceAuthorization::State::kApproved:
      d.state = DeviceAuthorization::State::kUsed;
      grant_id = d.grant_id;
      return DevicePoll::kApproved;
    case DeviceAuthorization::State::kDenied:
      return DevicePoll::kDenied;
    default:
      return DevicePoll::kPending;
  }
}

}  // namespace ap::api
