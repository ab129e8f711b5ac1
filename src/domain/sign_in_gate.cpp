#include "domain/sign_in_gate.hpp"

#include "domain/keyed_throttle.hpp"

namespace ap::domain {

SignInGate::Pass::~Pass() {
  if (gate_) gate_->Leave(key_);
}

SignInGate::Pass SignInGate::Enter(std::string_view address) {
  Pass pass;
  std::string key = AddressKey(address);
  std::lock_guard lock(mutex_);
  if (in_flight_.contains(key)) {
    pass.verdict = Verdict::kAddressBusy;
  } else if (in_flight_.size() >= max_in_flight_) {
    pass.verdict = Verdict::kFull;
  } else {
    in_flight_.insert(key);
    pass.gate_ = this;
    pass.key_ = std::move(key);
  }
  return pass;
}

size_t SignInGate::InFlight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

void SignInGate::Leave(const std::string& key) {
  std::lock_guard lock(mutex_);
  in_flight_.erase(key);
}

}  // namespace ap::domain
