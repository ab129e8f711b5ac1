#include "metering/meter.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <tuple>
#include <utility>

#include "core/ids.hpp"
#include "core/money.hpp"

namespace ap::metering {
using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {

// A bucket of `capacity` that refills evenly over a minute.
struct Bucket {
  double level = 0;  // may go below zero: a call that used more than it was charged
  bool started = false;
  Clock::time_point at;

  void Refill(int64_t capacity, Clock::time_point now) {
    if (!started) {
      started = true;
      level = static_cast<double>(capacity);
      at = now;
    }
    double seconds = std::chrono::duration<double>(now - at).count();
    level = std::min(static_cast<double>(capacity), level + seconds * static_cast<double>(capacity) / 60.0);
    at = now;
  }
  // Milliseconds until `amount` is in the bucket.
  int64_t WaitMs(double amount, int64_t capacity) const {
    if (level >= amount) return 0;
    return static_cast<int64_t>(std::ceil((amount - level) * 60000.0 / static_cast<double>(capacity)));
  }
  int64_t FullInMs(int64_t capacity) const { return WaitMs(static_cast<double>(capacity), capacity); }
};

int RetryAfterSeconds(int64_t ms) { return static_cast<int>(std::max<int64_t>(1, (ms + 999) / 1000)); }

}  // namespace

// A grant's per-minute and concurrency limits as this broker applies them: its share of each.
struct Limits {
  std::optional<int64_t> rate;
  std::optional<int64_t> tokens;
  int64_t concurrent = 0;
};

// The longest of the durations noted in the last 5 to 10 seconds: how long top-ups can take now
// (the store thread's queue and the store's answer), remembered for a while, since a store thread
// behind on a busy core is slow again and again, not only at the moment it was measured.
class SlowestRecently {
 public:
  void Note(Clock::duration d, Clock::time_point now) {
    if (now - window_start_ >= kWindow) {
      previous_ = now - window_start_ < 2 * kWindow ? current_ : Clock::duration::zero();
      current_ = Clock::duration::zero();
      window_start_ = now;
    }
    current_ = std::max(current_, d);
  }
  // The longest noted in this window and the one before, as far as either is less than 10 s old;
  // zero once nothing was noted for that long. Under the account's lock, as Note is.
  Clock::duration Get(Clock::time_point now) const {
    if (now - window_start_ >= 2 * kWindow) return Clock::duration::zero();
    if (now - window_start_ >= kWindow) return current_;
    return std::max(current_, previous_);
  }

 private:
  static constexpr Clock::duration kWindow = std::chrono::seconds(5);
  Clock::duration current_{}, previous_{};
  Clock::time_point window_start_;
};

// A top-up the store failed after this long (it waited for a locked row, or for a store that does
// not answer) is held against the grant's next ones for kStoreRefusalHeld; one that failed at once
// (a busy store) costs nothing to ask again.
constexpr Clock::duration kSlowRefusal = std::chrono::milliseconds(100);
constexpr Clock::duration kStoreRefusalHeld = std::chrono::seconds(1);

struct Account {
  std::mutex mutex;
  std::string grant_id;
  std::vector<std::string> ancestors;  // the grant's (delegation): a change to any of them recalls the lease
  int64_t lease_micros = 0;  // leased from the store and not reserved by a call
  int64_t lease_requests = 0;
  int64_t reserved_micros = 0;  // taken from the lease by calls in flight
  int64_t reserved_requests = 0;
  // How many times a change to the grant recalled the lease (Meter::ReturnLeasesOf). What a call
  // admitted before the last recall does not use is leased under the old limits: it goes back to
  // the store (`recalled`, with the next top-up or return), never to the lease.
  int64_t recalls = 0;
  store::Lease recalled;
  int64_t in_flight = 0;
  Bucket requests;
  Bucket tokens;
  Clock::time_point last_used;
  // How fast calls use the lease: counted since the last top-up.
  int64_t admitted_since_top_up = 0;
  Clock::time_point last_top_up;
  // The lease as the last top-up left it (0 when it got nothing or failed): once calls have used
  // three quarters of it, one early top-up goes to the store while they go on with the rest.
  int64_t topped_micros = 0;
  int64_t topped_requests = 0;
  int top_ups_in_flight = 0;  // early or not: an early one starts only when none is on its way
  // What the calls waiting for a top-up need between them, not yet lent by the store: the next
  // top-up to run asks for all of it, so that a burst of calls after a pause takes one transaction,
  // not one each. Each waiting call is numbered; those after `waits_unlent` and up to `waits_lent`
  // had their need lent. This relies on top-ups running one at a time, as the store thread runs them.
  store::Lease waiting_need;
  int64_t waits_counted = 0;
  int64_t waits_lent = 0;
  int64_t waits_unlent = 0;
  SlowestRecently top_up_time;  // from being asked for to being in the lease
  // A top-up the store failed slowly (its row locked by a broker stopped mid-transaction, the store
  // away): the grant's top-ups fail with `store_refusal` until `store_refused_until`, without going
  // to the store, so that its waiting calls do not hold the store thread up one after another.
  Clock::time_point store_refused_until;
  Error store_refusal;
  // Writes to the grant's lease whose answer was lost (their connection dropped as they committed,
  // say): the take is looked up, the return sent again with its id, before the next top-up or
  // return of the lease (ResolveDoubts); until then the store counts both as held by this broker.
  store::WriteId take_in_doubt = 0;
  store::WriteId return_in_doubt = 0;
  store::Lease doubtful_return;
  store::WriteId doubtful_return_from = 0;
  // The grant's last take the store applied for this account: the lease its returns come from.
  store::WriteId last_take = 0;
};

// ---- Ticket ----

Ticket::Ticket(Ticket&& other) noexcept { *this = std::move(other); }

Ticket& Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    account_ = std::move(other.account_);
    micros_ = other.micros_;
    requests_ = other.requests_;
    recalls_ = other.recalls_;
    tokens_ = other.tokens_;
    budget_leased_ = other.budget_leased_;
    paced_ = std::move(other.paced_);
    paced_count_ = std::exchange(other.paced_count_, 0);
    other.account_.reset();
  }
  return *this;
}

Ticket::~Ticket() { Release(); }

namespace {

// Puts what a call reserved and did not use back, under the account's lock: into the lease, or
// for the store where the lease was recalled since the call was admitted. A debt (a call that cost
// more than it reserved) stays with the lease: the store has it already.
void GiveBack(Account& a, int64_t admitted_at_recall, int64_t micros, int64_t requests) {
  bool recalled = a.recalls != admitted_at_recall;
  (recalled && micros > 0 ? a.recalled.micros : a.lease_micros) += micros;
  (recalled ? a.recalled.requests : a.lease_requests) += requests;
}

}  // namespace

int64_t Ticket::LeasedMicros() const { return budget_leased_ ? micros_ : 0; }

void Ticket::ReleasePace(std::optional<int64_t> tokens_used) {
  size_t count = std::exchange(paced_count_, 0);
  for (size_t i = 0; i < count; ++i) {
    Paced& paced = paced_[i];
    std::lock_guard lock(paced.account->mutex);
    if (paced.tokens > 0) paced.account->tokens.level += static_cast<double>(paced.tokens - tokens_used.value_or(0));
    if (paced.slot) --paced.account->in_flight;
    paced.account.reset();
  }
}

void Ticket::Release() {
  ReleasePace(std::nullopt);
  if (!account_) return;
  std::lock_guard lock(account_->mutex);
  GiveBack(*account_, recalls_, LeasedMicros(), requests_);
  account_->reserved_micros -= LeasedMicros();
  account_->reserved_requests -= requests_;
  account_->tokens.level += static_cast<double>(tokens_);
  --account_->in_flight;
  account_.reset();
}

void Ticket::Settle(int64_t cost_micros, int64_t tokens_used) {
  ReleasePace(tokens_used);
  if (!account_) return;
  if (cost_micros < 0 || cost_micros > kMaxMicros) cost_micros = micros_;
  std::lock_guard lock(account_->mutex);
  GiveBack(*account_, recalls_, budget_leased_ ? micros_ - cost_micros : 0, 0);  // what the reservation did not use
  account_->reserved_micros -= LeasedMicros();
  account_->reserved_requests -= requests_;
  if (tokens_ > 0) account_->tokens.level += static_cast<double>(tokens_ - tokens_used);
  --account_->in_flight;
  account_->last_used = Clock::now();
  account_.reset();
}

// ---- Meter ----

Meter::Meter(store::Store& store, http::BlockingPool& store_pool, MeterOptions options)
    : store_(store), store_pool_(store_pool), options_(std::move(options)) {}

std::pair<std::shared_ptr<Account>, std::unique_lock<std::mutex>> Meter::LockedAccount(const store::GrantRecord& g) {
  std::lock_guard lock(mutex_);
  auto& slot = accounts_[g.id];
  if (!slot) {
    slot = std::make_shared<Account>();
    slot->grant_id = g.id;
    slot->ancestors = g.ancestors;
    if (!g.ancestors.empty()) ++children_;
  }
  std::unique_lock account_lock(slot->mutex);
  slot->last_used = Clock::now();
  return {slot, std::move(account_lock)};
}

int64_t Meter::InFlight(const std::string& grant_id) {
  std::shared_ptr<Account> account;
  {
    std::lock_guard lock(mutex_);
    auto it = accounts_.find(grant_id);
    if (it == accounts_.end()) return 0;
    account = it->second;
  }
  std::lock_guard account_lock(account->mutex);
  return account->in_flight;
}

namespace {

// The per-minute checks at `now`, and the slot in flight. Fills `headers` (with the grant's own
// limits).
Status TakeRateAndSlot(Account& a, const domain::Scope& scope, const Limits& mine, const Ask& ask, RateHeaders& headers,
                       Clock::time_point now) {
  int64_t concurrent = mine.concurrent;
  if (mine.rate) a.requests.Refill(*mine.rate, now);
  if (mine.tokens) a.tokens.Refill(*mine.tokens, now);
  auto fill_headers = [&] {
    if (scope.rate_limit) {
      headers.limit_requests = *scope.rate_limit;
      headers.remaining_requests = std::max<int64_t>(0, static_cast<int64_t>(std::floor(a.requests.level)));
      headers.reset_requests_ms = *mine.rate > 0 ? a.requests.FullInMs(*mine.rate) : 60000;
    }
    if (scope.max_tokens_per_minute) {
      headers.limit_tokens = *scope.max_tokens_per_minute;
      headers.remaining_tokens = std::max<int64_t>(0, static_cast<int64_t>(std::floor(a.tokens.level)));
      headers.reset_tokens_ms = *mine.tokens > 0 ? a.tokens.FullInMs(*mine.tokens) : 60000;
    }
  };
  fill_headers();
  if (a.in_flight >= concurrent) {
    Error e = MakeError(Errc::kRateLimited,
                        "Too many calls in flight for this grant (at most " + std::to_string(concurrent) + " at once)");
    e.retry_after_seconds = 1;
    return e;
  }
  if (mine.rate && (*mine.rate == 0 || a.requests.level < 1)) {
    Error e = MakeError(Errc::kRateLimited,
                        "Rate limit reached: " + std::to_string(*scope.rate_limit) + " requests per minute");
    e.retry_after_seconds = *mine.rate == 0 ? 60 : RetryAfterSeconds(a.requests.WaitMs(1, *mine.rate));
    return e;
  }
  if (mine.tokens) {
    // A call larger than the whole minute's allowance waits for a full bucket, then may go.
    double needed = std::min<double>(static_cast<double>(ask.tokens), static_cast<double>(*mine.tokens));
    if (*mine.tokens == 0 || a.tokens.level < needed) {
      Error e = MakeError(Errc::kRateLimited,
                          "Rate limit reached: " + std::to_string(*scope.max_tokens_per_minute) + " tokens per minute");
      e.retry_after_seconds = *mine.tokens == 0 ? 60 : RetryAfterSeconds(a.tokens.WaitMs(needed, *mine.tokens));
      return e;
    }
  }
  if (mine.rate) a.requests.level -= 1;
  if (mine.tokens) a.tokens.level -= static_cast<double>(ask.tokens);
  ++a.in_flight;
  fill_headers();
  return {};
}

// A lease lasts kLeaseHorizon at the rate calls took the last one: a busy grant goes to the store a
// few times a second, not every few calls, and holds little more than it is about to use. When the
// store is slow to answer, a lease lasts kTopUpsPerLease top-ups instead (up to kLongestLeaseHorizon):
// its last quarter, when the next top-up starts, then outlasts two of them (while they take up to
// a quarter of a second), so a busy grant's calls find the next lease taken ahead of them.
constexpr Clock::duration kLeaseHorizon = std::chrono::milliseconds(250);
constexpr Clock::duration kLongestLeaseHorizon = std::chrono::seconds(2);
constexpr int kTopUpsPerLease = 8;
constexpr int64_t kFewestLeaseCalls = 4;
constexpr int64_t kMostLeaseCalls = 65536;
// What a child grant with no request cap of its own counts as left of it (its ancestors' caps, if
// any, bound the lease in the store).
constexpr int64_t kMaxLeaseRequests = kMostLeaseCalls * 4;

// How many calls the next lease should pay for, from how many the account admitted since its last
// top-up; starts the count again.
int64_t LeaseCalls(Account& a, Clock::time_point now) {
  auto since = now - a.last_top_up;
  int64_t admitted = std::exchange(a.admitted_since_top_up, 0);
  a.last_top_up = now;
  if (since <= Clock::duration::zero() || since > std::chrono::seconds(10)) return kFewestLeaseCalls;
  Clock::duration horizon = std::clamp(kTopUpsPerLease * a.top_up_time.Get(now), kLeaseHorizon, kLongestLeaseHorizon);
  double per_horizon =
      static_cast<double>(admitted) * static_cast<double>(horizon.count()) / static_cast<double>(since.count());
  return static_cast<int64_t>(std::clamp(std::ceil(per_horizon), double{kFewestLeaseCalls}, double{kMostLeaseCalls}));
}

// What a call must find in the lease to start: on a budgeted grant at least one micro-USD, so a
// spent budget admits nothing, not even a free call.
int64_t LeastMicros(const Ask& ask) { return std::max<int64_t>(ask.need_micros, 1); }

// A child grant (delegation) always leases, in both dimensions: even where it sets no limit of its
// own, its ancestors may (now or after the owner changes them), and the store cuts its leases from
// theirs.
bool LeasesBudget(const store::GrantRecord& g) { return g.SpendsAgainstABudget(); }
bool LeasesRequests(const store::GrantRecord& g) { return g.max_requests.has_value() || !g.ancestors.empty(); }

// Takes the call's reservation out of the local lease, if it holds enough (`whole`: all the call may
// use). Returns the micros reserved.
std::optional<int64_t> TakeFromLease(Account& a, const store::GrantRecord& g, const Ask& ask, bool whole) {
  bool budgeted = LeasesBudget(g);
  bool capped = LeasesRequests(g);
  if (budgeted && a.lease_micros < (whole ? std::max(ask.up_to_micros, LeastMicros(ask)) : LeastMicros(ask)))
    return std::nullopt;
  if (capped && a.lease_requests < 1) return std::nullopt;
  int64_t micros = budgeted ? std::min(a.lease_micros, ask.up_to_micros) : ask.up_to_micros;
  if (budgeted) a.lease_micros -= micros;
  if (capped && ask.counted) a.lease_requests -= 1;
  return micros;
}

// What an account gives back to the store.
struct Unused {
  std::shared_ptr<Account> account;
  store::Lease lease;
};

// Moves what the account's lease holds and no call reserved into `unused`, to give back to the
// store (ReturnToStore), also when it is nothing but the account has writes in doubt to resolve; under
// the account's lock. Returns whether it did. The next call tops the lease up again.
bool TakeUnreserved(const std::shared_ptr<Account>& account, std::vector<Unused>& unused) {
  Account& a = *account;
  store::Lease back{std::max<int64_t>(a.lease_micros, 0) + a.recalled.micros, a.lease_requests + a.recalled.requests};
  bool doubts = a.take_in_doubt != 0 || a.return_in_doubt != 0;
  if ((back.micros <= 0 && back.requests <= 0) && !doubts) return false;
  a.recalled = {};
  unused.push_back({account, back});
  a.lease_micros = std::min<int64_t>(a.lease_micros, 0);  // a debt stays: the store has it already
  a.lease_requests = 0;
  return true;
}

// Whether a failed take may have been applied all the same: any failure but the store's refusal.
bool MayHaveBeenApplied(const Error& e) {
  return e.code != Errc::kLimitReached && e.code != Errc::kBudgetExceeded && e.code != Errc::kUnauthorized &&
         e.code != Errc::kNotFound;
}

// On the store thread, whose one thread runs the account's store work one job at a time: learns
// what the account's writes in doubt did, before any other write to its lease (the store remembers
// only the last take and return of each). What a take in doubt lent goes back with the next return
// (the calls it was for were refused); a return in doubt is sent again with its id. Fails while
// either is still in doubt.
Status ResolveDoubts(store::Store& store, const std::string& node_id, Account& account) {
  store::WriteId take, give, given_from;
  store::Lease given;
  {
    std::lock_guard lock(account.mutex);
    take = account.take_in_doubt;
    give = account.return_in_doubt;
    given = account.doubtful_return;
    given_from = account.doubtful_return_from;
  }
  if (take != 0) {
    auto taken = store.Metering().LeaseTaken(account.grant_id, node_id, take);
    if (!taken) return taken.error();
    std::lock_guard lock(account.mutex);
    account.take_in_doubt = 0;
    if (*taken) {
      account.last_take = take;
      account.recalled.micros = AddMicros(account.recalled.micros, (*taken)->micros);
      account.recalled.requests += (*taken)->requests;
    }
  }
  if (give != 0) {
    if (auto sent = store.Metering().ReturnLease(account.grant_id, node_id, given, give, given_from); !sent)
      return sent;
    std::lock_guard lock(account.mutex);
    account.return_in_doubt = 0;
    account.doubtful_return = {};
  }
  return {};
}

// On the store thread: gives back to the store `unused` and what the account holds for it
// (`recalled`), once the account's doubts are resolved. Unresolved, all of it stays with the
// account (in `recalled`), to go back with its next return. Fails when a write is left in doubt.
Status ReturnToStore(store::Store& store, const std::string& node_id, Account& account, store::Lease unused = {}) {
  Status resolved = ResolveDoubts(store, node_id, account);
  store::WriteId from;
  {
    std::lock_guard lock(account.mutex);
    unused.micros = AddMicros(unused.micros, std::exchange(account.recalled.micros, 0));
    unused.requests += std::exchange(account.recalled.requests, 0);
    if (!resolved) account.recalled = unused;
    if (!resolved || (unused.micros <= 0 && unused.requests <= 0)) return resolved;
    from = account.last_take;
  }
  store::WriteId write = RandomNumberId();
  Status returned = store.Metering().ReturnLease(account.grant_id, node_id, unused, write, from);
  if (returned) return returned;
  std::lock_guard lock(account.mutex);
  account.return_in_doubt = write;
  account.doubtful_return = unused;
  account.doubtful_return_from = from;
  return returned;
}

// Whether calls have used three quarters of what the last top-up left in the lease, in either
// dimension it holds, and no top-up is on its way: then it is time for the next one.
bool WantsEarlyTopUp(const Account& a) {
  if (a.top_ups_in_flight > 0) return false;
  bool micros_low = a.topped_micros > 0 && a.lease_micros < a.topped_micros / 4;
  bool requests_low = a.topped_requests > 0 && a.lease_requests < a.topped_requests / 4;
  return micros_low || requests_low;
}

}  // namespace

// What a top-up is planned from, taken from the grant and the call where it is asked for, so that
// the store thread plans it when it runs, from what the lease holds then.
struct TopUpBasis {
  bool budgeted = false;
  bool capped = false;
  int64_t share_micros = 0;  // this broker's part of the budget left
  int64_t share_requests = 0;
  int64_t up_to_micros = 0;  // the call's
  // What the call that found the lease short needs from the store, as the lease stood then (none
  // for an early top-up), and its number among the waiting calls (0 for an early top-up). Each
  // waiting call adds to the lease (calls racing for it could otherwise use up their rounds): its
  // top-up asks the store for at least `need`, unless an earlier one already lent it what it needed.
  store::Lease need;
  int64_t wait = 0;
};

namespace {

// What to ask the store for: enough for the call (`need`, nothing when the top-up is early), for
// every call waiting (`waiting`), and for the calls of the next lease horizon at the recent rate
// (`want`). Under the account's lock.
std::pair<store::Lease, store::Lease> PlanTopUp(Account& account, const TopUpBasis& basis,
                                                const store::Lease& waiting) {
  store::Lease need, want;
  int64_t calls = LeaseCalls(account, Clock::now());
  // However busy, a broker takes no more than its part of what is left for the calls to come (by
  // this broker's view of the grant, which may be behind; the store never leases past what it
  // has), so its peers are not refused while the budget lasts. The calls waiting now get what they
  // may use, as each would have asked for its own.
  if (basis.budgeted) {
    int64_t fewest = MulMicros(kFewestLeaseCalls, basis.up_to_micros);
    int64_t busy = std::min(MulMicros(calls, basis.up_to_micros), std::max(fewest, basis.share_micros));
    need.micros = basis.need.micros;
    want.micros = std::max({need.micros, waiting.micros, busy - account.lease_micros});
  }
  if (basis.capped) {
    int64_t busy = std::min(calls, std::max(2 * kFewestLeaseCalls, basis.share_requests));
    need.requests = basis.need.requests;
    want.requests =
        std::max({need.requests, waiting.requests, std::max(2 * kFewestLeaseCalls, busy) - account.lease_requests});
  }
  return {need, want};
}

// After a top-up that asked for what the calls numbered up to `waits_asked` need between them
// (`waiting`) and got `lent` (null: the store refused or failed): they are lent when all of it was.
// Else (what is left is running out, or the store failed) each of those not lent before asks for
// at least its own need, as it would have without the others: what was not lent is not asked for
// again on their behalf, so a call that gives up leaves nothing behind. A refused top-up never
// stands for the others, even where they needed nothing from it (uncounted calls, which still need
// the cap not used up): each must learn the refusal. Under the account's lock.
void NoteLent(Account& account, const store::Lease& waiting, const store::Lease* lent, int64_t waits_asked) {
  if (lent && lent->micros >= waiting.micros && lent->requests >= waiting.requests)
    account.waits_lent = std::max(account.waits_lent, waits_asked);
  else
    account.waits_unlent = std::max(account.waits_unlent, waits_asked);
}

// What the lease holds after a top-up that added `micros` and `requests`, in each dimension it added
// to: the early top-up's mark.
void NoteTopped(Account& account, int64_t micros, int64_t requests) {
  account.topped_micros = micros > 0 ? account.lease_micros : 0;
  account.topped_requests = requests > 0 ? account.lease_requests : 0;
}

// On the store thread: tops the lease up and puts what the store lent in the account, so a call
// refused after it sees it. It needs no meter: an early top-up may still be queued on the store
// thread when its meter is gone (a test's).
Status TopUpOnStoreThread(store::Store& store, const std::string& node_id, Account& account,
                          const std::string& grant_id, const TopUpBasis& basis, Clock::time_point asked_at) {
  std::optional<Error> held;  // the store's last refusal, still held, or why the doubts stay
  {
    std::lock_guard lock(account.mutex);
    if (Clock::now() < account.store_refused_until) held = account.store_refusal;
  }
  // What calls gave back after a recall goes to the store first, so the top-up leases under the new
  // limits; and before that, what earlier writes in doubt did. No take goes out while one is still
  // in doubt (the store keeps only a lease's last take, and its answer to the lookup would be lost).
  // A doubt that took the store long to leave unresolved is held against the grant's next calls, as
  // a slow refusal is.
  if (!held) {
    Clock::time_point started = Clock::now();
    Status returned = ReturnToStore(store, node_id, account);
    std::lock_guard lock(account.mutex);
    if (account.take_in_doubt != 0 || account.return_in_doubt != 0) {
      held = returned ? MakeError(Errc::kUnavailable, "The grant's last lease could not be confirmed yet; retry")
                      : returned.error();
      if (Clock::now() - started >= kSlowRefusal) {
        account.store_refused_until = Clock::now() + kStoreRefusalHeld;
        account.store_refusal = *held;
      }
    }
  }
  store::Lease need, want, waiting;
  int64_t waits_asked = 0;
  {
    std::lock_guard lock(account.mutex);
    if (basis.wait > account.waits_unlent && basis.wait <= account.waits_lent) {  // an earlier top-up lent it
      --account.top_ups_in_flight;
      return {};
    }
    waiting = std::exchange(account.waiting_need, {});
    waits_asked = account.waits_counted;
    std::tie(need, want) = PlanTopUp(account, basis, waiting);
    if (want.micros == 0 && want.requests == 0) {  // nothing to ask for: the lease holds enough
      --account.top_ups_in_flight;
      // The next early top-up is due when calls have used three quarters of the lease as it stands,
      // not at the next call.
      NoteTopped(account, account.lease_micros, account.lease_requests);
      return {};
    }
  }
  Clock::time_point sent = Clock::now();
  store::WriteId write = RandomNumberId();
  Result<store::Lease> lease =
      held ? Result<store::Lease>(*held) : store.Metering().TakeLease(grant_id, node_id, need, want, write);
  std::lock_guard lock(account.mutex);
  --account.top_ups_in_flight;
  if (!held && !lease && MayHaveBeenApplied(lease.error())) account.take_in_doubt = write;
  Clock::time_point now = Clock::now();
  if (!held && !lease && now - sent >= kSlowRefusal &&
      (lease.error().code == Errc::kUnavailable || lease.error().code == Errc::kStorageUnavailable)) {
    account.store_refused_until = now + kStoreRefusalHeld;
    account.store_refusal = lease.error();
  }
  account.top_up_time.Note(now - asked_at, now);
  NoteLent(account, waiting, lease ? &*lease : nullptr, waits_asked);
  if (!lease) {
    account.topped_micros = account.topped_requests = 0;  // no early top-up until one succeeds
    return lease.error();
  }
  account.lease_micros += lease->micros;
  account.lease_requests += lease->requests;
  if (lease->micros > 0 || lease->requests > 0) account.last_take = write;  // a take that lent nothing wrote nothing
  NoteTopped(account, lease->micros, lease->requests);
  return {};
}

// Counts the call as waiting for a top-up, with what it takes from a lease that holds enough (all
// it may use, not the least a stream starts with: else the first waiting stream could take what
// was asked for the others; at least a micro-USD, as a free call needs), whatever the lease holds
// now; under the account's lock.
void NoteWaiting(Account& account, TopUpBasis& basis, const Ask& ask) {
  if (basis.budgeted)
    account.waiting_need.micros = AddMicros(account.waiting_need.micros, std::max(ask.up_to_micros, LeastMicros(ask)));
  if (basis.capped && ask.counted) account.waiting_need.requests += 1;
  basis.wait = ++account.waits_counted;
}

}  // namespace

TopUpBasis Meter::BasisFor(const domain::Grant& grant, const Ask& ask, const Account* short_of) const {
  const store::GrantRecord& g = grant.record;
  TopUpBasis basis;
  basis.budgeted = LeasesBudget(g);
  basis.capped = LeasesRequests(g);
  if (basis.budgeted)
    basis.share_micros = ShareOf(
        g.budget_micros ? std::max<int64_t>(0, LeftOf(*g.budget_micros, {g.spent_micros, g.lost_micros})) : kMaxMicros);
  if (basis.capped)
    basis.share_requests =
        ShareOf(g.max_requests ? std::max<int64_t>(0, LeftOf(*g.max_requests, {g.usage_count, g.lost_requests}))
                               : kMaxLeaseRequests);
  basis.up_to_micros = ask.up_to_micros;
  if (short_of && basis.budgeted) basis.need.micros = std::max<int64_t>(0, LeastMicros(ask) - short_of->lease_micros);
  if (short_of && basis.capped) basis.need.requests = short_of->lease_requests < 1 ? 1 : 0;
  return basis;
}

awaitable<Status> Meter::TopUp(std::shared_ptr<Account> account, const domain::Grant& grant, const Ask& ask) {
  TopUpBasis basis;
  {
    std::lock_guard lock(account->mutex);
    ++account->top_ups_in_flight;
    basis = BasisFor(grant, ask, account.get());
    NoteWaiting(*account, basis, ask);
  }
  auto take = [&store = store_, node = options_.node_id, account, id = grant.record.id, basis,
               asked_at = Clock::now()]() { return TopUpOnStoreThread(store, node, *account, id, basis, asked_at); };
  co_return co_await http::RunBlocking(store_pool_, std::move(take));
}

// Starts the next top-up while the lease still holds a quarter of the last one, so that a busy
// grant's calls do not wait for the store when it runs dry. Its failure is only a missed top-up:
// the call that finds the lease empty asks again, and learns why. With the account's lock held
// (the admission's own), so a call takes the lock once.
void Meter::TopUpEarly(const std::shared_ptr<Account>& account, const domain::Grant& grant, const Ask& ask) {
  if (!WantsEarlyTopUp(*account)) return;
  ++account->top_ups_in_flight;
  http::PostBlocking(store_pool_, [&store = store_, node = options_.node_id, account, id = grant.record.id,
                                   basis = BasisFor(grant, ask, nullptr), asked_at = Clock::now()]() {
    (void)TopUpOnStoreThread(store, node, *account, id, basis, asked_at);
  });
}

void Meter::SetPeers(int64_t count, int64_t rank) {
  count = std::clamp<int64_t>(count, 1, int64_t{1} << 30);
  rank = std::clamp<int64_t>(rank, 0, count - 1);
  peers_and_rank_ = count << 32 | rank;
}

int64_t Meter::ShareOf(int64_t limit) const {
  int64_t packed = peers_and_rank_;
  int64_t count = packed >> 32, rank = packed & 0xffffffff;
  return limit / count + (rank < limit % count ? 1 : 0);
}

Limits Meter::LimitsFor(const domain::Scope& scope) const {
  Limits mine;
  if (scope.rate_limit) mine.rate = ShareOf(*scope.rate_limit);
  if (scope.max_tokens_per_minute) mine.tokens = ShareOf(*scope.max_tokens_per_minute);
  // The broker's own default is a per-broker safety valve; a grant's figure is shared.
  mine.concurrent = scope.max_concurrent ? ShareOf(*scope.max_concurrent) : options_.max_concurrent;
  return mine;
}

namespace {

// The ask as admission takes it: at least what the call needs is reserved.
Ask Normalized(Ask ask) {
  ask.up_to_micros = std::max(ask.up_to_micros, ask.need_micros);
  return ask;
}

}  // namespace

// Takes a request, the ask's tokens and a slot from each ancestor's limits it sets (only those it
// sets: the broker's default at-once figure is per grant), one account's lock at a time; on a
// refusal gives back what it took. The grant's own limits are taken after.
Status Meter::TakeAncestorsPace(std::span<const domain::Grant* const> ancestors, const Ask& ask, Ticket& ticket) {
  for (const domain::Grant* ancestor : ancestors.first(std::min(ancestors.size(), ticket.paced_.size()))) {
    const domain::Scope& scope = ancestor->scope;
    if (!scope.rate_limit && !scope.max_tokens_per_minute && !scope.max_concurrent) continue;
    Limits limits = LimitsFor(scope);
    if (!scope.max_concurrent) limits.concurrent = INT64_MAX;
    RateHeaders theirs;  // the app is told its own grant's figures
    auto [account, account_lock] = LockedAccount(ancestor->record);
    if (auto taken = TakeRateAndSlot(*account, scope, limits, ask, theirs, account->last_used); !taken) {
      account_lock.unlock();
      ticket.ReleasePace(std::nullopt);
      Error refused = taken.error();
      refused.message += " (the limit of the grant this one was delegated from, shared by every grant below it)";
      return refused;
    }
    // TakeRateAndSlot took a slot too: of an ancestor that sets no calls at once, it is given back,
    // so that its own calls meet the broker's default with none of its children's counted.
    bool slot = scope.max_concurrent.has_value();
    if (!slot) --account->in_flight;
    ticket.paced_[ticket.paced_count_++] = {account, scope.max_tokens_per_minute ? ask.tokens : 0, slot};
  }
  return {};
}

std::optional<Status> Meter::AdmitAtOnce(const domain::Grant& grant, Ask asked, RateHeaders& headers, Ticket& ticket,
                                         std::span<const domain::Grant* const> ancestors) {
  if (asked.need_micros < 0 || asked.up_to_micros < 0 || asked.need_micros > kMaxMicros ||
      asked.up_to_micros > kMaxMicros || asked.tokens < 0)
    return MakeError(Errc::kBadRequest, "This call's cost cannot be reckoned; it was not sent");
  // The caller's ticket outlives the account's lock here: once it holds the account, dropping it
  // gives the slot and the tokens back, under that lock.
  assert(!ticket.account_);
  Ask ask = Normalized(asked);
  if (!ancestors.empty())
    if (auto paced = TakeAncestorsPace(ancestors, ask, ticket); !paced) return paced;
  // One hold of the account's lock for the rate, the slot and the lease, as a call usually needs.
  auto [account, account_lock] = LockedAccount(grant.record);
  // The account's last use is now: the moment it was locked (a clock read a call less).
  if (auto admitted = TakeRateAndSlot(*account, grant.scope, LimitsFor(grant.scope), ask, headers, account->last_used);
      !admitted) {
    account_lock.unlock();
    ticket.ReleasePace(std::nullopt);
    return admitted.error();
  }
  ticket.account_ = account;
  ticket.tokens_ = grant.scope.max_tokens_per_minute ? ask.tokens : 0;
  // A stream the lease holds less than all it may use for waits for the store: started with what
  // the lease happens to hold, it would be sent with an output limit that small, however much of
  // the budget is left.
  if (TakeLeased(account, grant, ask, ticket, true)) return Status{};
  return std::nullopt;
}

awaitable<Status> Meter::AdmitFurther(const domain::Grant& grant, Ask asked, Ticket& ticket) {
  assert(ticket.account_);  // AdmitAtOnce took the rate and the slot
  std::shared_ptr<Account> account = ticket.account_;
  Ask ask = Normalized(asked);
  // Calls racing for the same lease may each top it up and still lose it to another: a few rounds.
  Clock::time_point waited_from = Clock::now();
  bool admitted = false;
  Status topped;
  for (int round = 0; round < 8 && !admitted && topped; ++round) {
    topped = co_await TopUp(account, grant, ask);
    std::lock_guard account_lock(account->mutex);
    admitted = TakeLeased(account, grant, ask, ticket, false);  // topped up by this call or another meanwhile
  }
  if (options_.on_lease_wait)
    options_.on_lease_wait(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - waited_from).count());
  if (admitted) co_return Status{};
  if (!topped) co_return topped.error();
  co_return MakeError(Errc::kUnavailable, "The grant is too busy right now; retry");
}

awaitable<Result<Ticket>> Meter::Admit(const domain::Grant& grant, Ask ask, RateHeaders& headers,
                                       std::span<const domain::Grant* const> ancestors) {
  Ticket ticket;
  std::optional<Status> admitted = AdmitAtOnce(grant, ask, headers, ticket, ancestors);
  if (!admitted) admitted = co_await AdmitFurther(grant, ask, ticket);
  if (!*admitted) co_return admitted->error();
  co_return std::move(ticket);
}

bool Meter::TakeLeased(const std::shared_ptr<Account>& account, const domain::Grant& grant, const Ask& ask,
                       Ticket& ticket, bool whole) {
  auto micros = TakeFromLease(*account, grant.record, ask, whole);
  if (!micros) return false;
  ticket.micros_ = *micros;
  ticket.budget_leased_ = LeasesBudget(grant.record);
  ticket.requests_ = LeasesRequests(grant.record) && ask.counted ? 1 : 0;
  ticket.recalls_ = account->recalls;
  account->reserved_micros += ticket.LeasedMicros();
  account->reserved_requests += ticket.requests_;
  ++account->admitted_since_top_up;
  TopUpEarly(account, grant, ask);
  return true;
}

HeldLeases Meter::Held() {
  HeldLeases held;
  std::lock_guard lock(mutex_);
  for (const auto& [id, account] : accounts_) {
    std::lock_guard account_lock(account->mutex);
    held.micros += std::max<int64_t>(account->lease_micros, 0) + account->reserved_micros + account->recalled.micros +
                   account->doubtful_return.micros;
    held.requests += account->lease_requests + account->reserved_requests + account->recalled.requests +
                     account->doubtful_return.requests;
  }
  return held;
}

void Meter::ReturnIdleLeases(Clock::duration idle) { ReturnLeases(Clock::now() - idle, false); }

void Meter::ReturnUnreservedLeases() { ReturnLeases(Clock::time_point::max(), true); }

void Meter::ReturnLeasesOf(std::string_view grant_id) {
  std::vector<Unused> unused;
  auto recall = [&unused](const std::shared_ptr<Account>& a) {
    std::lock_guard account_lock(a->mutex);
    TakeUnreserved(a, unused);
    ++a->recalls;
  };
  {
    std::lock_guard lock(mutex_);
    if (grant_id.empty()) {
      for (auto& [id, account] : accounts_) recall(account);
    } else {
      // The grant's own account at once; the others only where some grant below another is in use
      // (a burst of changes, a tree revoked, then costs a lookup each, not a walk of every account).
      if (auto own = accounts_.find(std::string(grant_id)); own != accounts_.end()) recall(own->second);
      if (children_ > 0)
        for (auto& [id, account] : accounts_)
          if (std::find(account->ancestors.begin(), account->ancestors.end(), grant_id) != account->ancestors.end())
            recall(account);
    }
  }
  for (const auto& [account, lease] : unused) (void)ReturnToStore(store_, options_.node_id, *account, lease);
}

void Meter::ReturnLeases(Clock::time_point unused_since, bool busy_too) {
  std::vector<Unused> unused;
  std::vector<std::string> forgotten;  // leased from, by accounts that go: their empty leases go too
  {
    std::lock_guard lock(mutex_);
    for (auto it = accounts_.begin(); it != accounts_.end();) {
      Account& a = *it->second;
      std::lock_guard account_lock(a.mutex);
      bool idle = a.in_flight == 0 && a.last_used < unused_since;
      bool returning = (idle || busy_too) && TakeUnreserved(it->second, unused);
      // Its buckets go only once they would be full again (a minute without calls and no debt):
      // dropping them sooner would hand a grant that paused a fresh minute's allowance. One giving
      // something back stays for a later round: what the store does not take stays with it.
      bool forgettable = idle && !returning && a.top_ups_in_flight == 0 &&
                         a.last_used < Clock::now() - std::chrono::minutes(1) && a.requests.level >= 0 &&
                         a.tokens.level >= 0;
      if (forgettable && !a.ancestors.empty()) --children_;
      if (forgettable) forgotten.push_back(a.grant_id);
      it = forgettable ? accounts_.erase(it) : std::next(it);
    }
  }
  for (const auto& [account, lease] : unused) (void)ReturnToStore(store_, options_.node_id, *account, lease);
  // No write to them is in doubt (else the account would have stayed): the store need not keep them.
  for (const auto& grant_id : forgotten) (void)store_.Metering().DropEmptyLease(grant_id, options_.node_id);
}

std::string FormatResetTime(int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t seconds = (ms + 999) / 1000;
  if (seconds < 60) return std::to_string(seconds) + "s";
  return std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s";
}

}  // namespace ap::metering
