#pragma once
// Admits calls against a grant's limits before they go upstream, and gives back what they did not
// use after. In order: calls in flight at once, requests and tokens per minute (token buckets),
// then the budget and request cap.
//
// Several brokers on one database split a grant's per-minute limits and its maxConcurrent between
// them by rank among the live brokers (SetPeers): with 3 brokers and 60 requests a minute, each
// admits 20; 61 gives one broker 21. A broker whose share is 0 refuses. The README says where this
// is looser for a moment (the heartbeat after a broker joins; a token ask larger than a share).
//
// Budgets and caps hold across crashes and several brokers with leases (DESIGN.md): this broker
// takes a slice of a grant's remaining budget and requests from the store, spends it in memory,
// and gives back what it did not use when the grant goes idle or the broker stops. The store
// counts a lease as used until it is settled or returned, and a lease whose broker vanished as
// lost for good, so a crash can make a grant stricter, never looser.
// Thread-safety: all methods may be called from any thread.

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "domain/grant.hpp"
#include "http/executor.hpp"
#include "store/store.hpp"

namespace ap::metering {

struct Account;
struct Limits;
struct TopUpBasis;

// What a call may use at most, and the least it needs to start. Each call also takes one request
// from the per-minute rate and, when counted, from the cap. Amounts are from 0 to kMaxMicros; an
// ask outside that is refused. A grant with a budget admits no call, counted or not, once nothing
// of it is left; one with a cap none once its requests are used up.
struct Ask {
  int64_t need_micros = 0;   // refused when even this does not fit
  int64_t up_to_micros = 0;  // reserved when it fits; a stream may start with less
  int64_t tokens = 0;        // counted against tokens per minute
  bool counted = true;       // takes a request from the grant's cap
};

// The grant's per-minute limits as OpenAI's x-ratelimit-* headers say them.
struct RateHeaders {
  std::optional<int64_t> limit_requests, remaining_requests;
  int64_t reset_requests_ms = 0;
  std::optional<int64_t> limit_tokens, remaining_tokens;
  int64_t reset_tokens_ms = 0;
};

class Meter;

// What this broker holds of the store's leases: not yet reserved plus reserved by calls in flight.
struct HeldLeases {
  int64_t micros = 0;
  int64_t requests = 0;
};

// One admitted call. Settle it with what it cost; one dropped unsettled gives everything back.
class Ticket {
 public:
  Ticket() = default;
  Ticket(Ticket&& other) noexcept;
  Ticket& operator=(Ticket&& other) noexcept;
  ~Ticket();

  int64_t ReservedMicros() const { return micros_; }
  // Whether the reservation came out of this broker's lease of the grant's budget, and the request
  // out of its lease of the cap: then the store takes what the call cost out of those leases when
  // it settles the call. A grant that limited neither when the call was admitted leased nothing
  // for it, even if it has a budget or a cap by the time the call ends.
  bool BudgetLeased() const { return budget_leased_; }
  bool RequestLeased() const { return requests_ > 0; }
  // Records what the call cost and used: the rest of the reservation goes back to the lease (to the
  // store, where the lease was recalled since the call was admitted). A cost
  // outside 0..kMaxMicros (a bug upstream of here) is charged as the whole reservation.
  void Settle(int64_t cost_micros, int64_t tokens_used);

 private:
  friend class Meter;
  void Release();
  // Gives back what the call took of its grant's ancestors' limits (`tokens_used` of the tokens
  // it took from each, or none when it was not settled).
  void ReleasePace(std::optional<int64_t> tokens_used);
  int64_t LeasedMicros() const;  // of the reservation
  // An ancestor's account the call took a request (and tokens, and a slot) of: delegation shares the pace.
  struct Paced {
    std::shared_ptr<Account> account;
    int64_t tokens = 0;
    bool slot = false;  // only of an ancestor that sets calls at once (maxConcurrent)
  };
  std::array<Paced, domain::kMaxDelegationDepth> paced_{};
  size_t paced_count_ = 0;
  std::shared_ptr<Account> account_;
  int64_t micros_ = 0;
  int64_t requests_ = 0;
  int64_t tokens_ = 0;
  int64_t recalls_ = 0;  // the account's recalls when the call was admitted
  bool budget_leased_ = false;
};

struct MeterOptions {
  std::string node_id;          // this broker, as its leases are named in the store
  int64_t max_concurrent = 32;  // calls in flight per grant when the grant sets no lower figure
  // Told how long a call waited for the store to top up its grant's lease, in microseconds, each
  // time one did (the metrics); called on the call's thread.
  std::function<void(int64_t)> on_lease_wait;
};

class Meter {
 public:
  Meter(store::Store& store, http::BlockingPool& store_pool, MeterOptions options);

  // Admits one call, or says why not (kRateLimited with retry_after_seconds, kBudgetExceeded,
  // kLimitReached). `headers` gets the grant's rate figures either way.
  boost::asio::awaitable<Result<Ticket>> Admit(const domain::Grant& grant, Ask ask, RateHeaders& headers,
                                               std::span<const domain::Grant* const> ancestors = {});
  // Admit in two steps, so that most calls need no coroutine for it: AdmitAtOnce decides without
  // waiting where it can (the grant's lease holds the call), `ticket` (empty) taking what it
  // admits, and returns nothing when the lease must be topped up from the store first; AdmitFurther
  // (given the same grant, ask and ticket) then waits for that. Dropping the ticket gives back what
  // either took.
  // `ancestors`: the grant's ancestors (delegation) as this broker knows them, its parent first.
  // Their per-minute and at-once limits hold for them and every grant below them together: a call
  // takes a request, its tokens and a slot from each that sets one, besides its own grant's.
  std::optional<Status> AdmitAtOnce(const domain::Grant& grant, Ask ask, RateHeaders& headers, Ticket& ticket,
                                    std::span<const domain::Grant* const> ancestors = {});
  boost::asio::awaitable<Status> AdmitFurther(const domain::Grant& grant, Ask ask, Ticket& ticket);

  // The grant's calls this broker has admitted and not yet settled or dropped.
  int64_t InFlight(const std::string& grant_id);
  // The leases this broker holds now, over every grant (for the metrics).
  HeldLeases Held();
  // Gives back the unreserved leases of grants without a call for `idle`; on the store thread.
  void ReturnIdleLeases(std::chrono::steady_clock::duration idle);
  // Gives back every unreserved lease (a clean stop); what calls still hold stays leased.
  void ReturnUnreservedLeases();
  // Gives back the unreserved leases of the grant and of every grant below it (delegation), or of
  // all grants for an empty id; on the store thread. For a change to the grant: a lease taken under
  // its old limits (a budget since lowered, a parent's budget since set) must not outlive them, so
  // the next call leases again under the new ones. What calls in flight reserved stays theirs.
  void ReturnLeasesOf(std::string_view grant_id);
  const std::string& NodeId() const { return options_.node_id; }
  // The calls in flight a grant that sets no maxConcurrent may have at once.
  int64_t DefaultMaxConcurrent() const { return options_.max_concurrent; }
  // How many brokers share the grants' per-minute and concurrency limits now, and this one's rank
  // among them (0-based); from the heartbeat.
  void SetPeers(int64_t count, int64_t rank);
  // This broker's part of a limit shared by its peers.
  int64_t ShareOf(int64_t limit) const;

 private:
  // The grant's account (made if new), locked and marked in use, so that ReturnIdleLeases does not
  // drop it before the call takes what it needs.
  std::pair<std::shared_ptr<Account>, std::unique_lock<std::mutex>> LockedAccount(const store::GrantRecord& g);
  Limits LimitsFor(const domain::Scope& scope) const;
  void ReturnLeases(std::chrono::steady_clock::time_point unused_since, bool busy_too);
  // `short_of`: the account of the call that found the lease short, under its lock; null for an
  // early top-up.
  TopUpBasis BasisFor(const domain::Grant& grant, const Ask& ask, const Account* short_of) const;
  boost::asio::awaitable<Status> TopUp(std::shared_ptr<Account> account, const domain::Grant& grant, const Ask& ask);
  // Takes the call's reservation and request out of the grant's lease into `ticket`, under the
  // account's lock; false when the lease is short of them. `whole`: all the call may use, not only
  // the least it starts with (a stream starts with less only once the store was asked for the rest).
  bool TakeLeased(const std::shared_ptr<Account>& account, const domain::Grant& grant, const Ask& ask, Ticket& ticket,
                  bool whole);
  Status TakeAncestorsPace(std::span<const domain::Grant* const> ancestors, const Ask& ask, Ticket& ticket);
  void TopUpEarly(const std::shared_ptr<Account>& account, const domain::Grant& grant, const Ask& ask);

  store::Store& store_;
  http::BlockingPool& store_pool_;
  MeterOptions options_;
  std::atomic<int64_t> peers_and_rank_{int64_t{1} << 32};  // count << 32 | rank: read as one
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Account>> accounts_;
  size_t children_ = 0;  // accounts of grants with ancestors (delegation)
};

// "1s", "6m0s", "250ms": how OpenAI writes its reset times.
std::string FormatResetTime(int64_t milliseconds);

}  // namespace ap::metering
