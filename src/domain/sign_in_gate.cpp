#include "domain/sign_in_gate.hpp"

#include "domain/keyed_throttle.hpp"

namespace ap::domain {

SignInGate::Pass::Pass(Pass&& other) noexcept
    : verdict(other.verdict), gate_(other.gate_), key_(std::move(other.key_)), checking_(other.checking_) {
  other.gate_ = nullptr;
}

SignInGate::Pass::~Pass() {
  if (gate_) gate_->Leave(*this);
}

SignInGate::Pass SignInGate::Enter(std::string_view address) {
  Pass pass;
  std::string key = AddressKey(address);
  std::lock_guard lock(mutex_);
  if (in_flight_.contains(key)) {
    pass.verdict = Verdict::kAddressBusy;
  } else if (in_flight_.size() >= max_addresses_) {
    pass.verdict = Verdict::kFull;
  } else {
    in_flight_.insert(key);
    pass.gate_ = this;
    pass.key_ = std::move(key);
  }
  return pass;
}

SignInGate::Verdict SignInGate::TakeCheck(Pass& pass, bool failed) {
  if (!pass.gate_) return Verdict::kFull;
  if (!failed) return Verdict::kPassed;
  std::lock_guard lock(mutex_);
  if (pass.checking_) return Verdict::kPassed;
  if (checking_ >= max_checks_) return Verdict::kFull;
  ++checking_;
  pass.checking_ = true;
  return Verdict::kPassed;
}

void SignInGate::EndCheck(Pass& pass) {
  std::lock_guard lock(mutex_);
  if (!pass.checking_) return;
  pass.checking_ = false;
  --checking_;
}

size_t SignInGate::InFlight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

size_t SignInGate::Checking() const {
  std::lock_guard lock(mutex_);
  return checking_;
}

void SignInGate::Leave(const Pass& pass) {
  std::lock_guard lock(mutex_);
  in_flight_.erase(pass.key_);
  if (pass.checking_) --checking_;
}

}  // namespace ap::domain
