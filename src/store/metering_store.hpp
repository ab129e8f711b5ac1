#pragma once
// What grants spend: the leases running brokers hold, the settled usage per day and model, the
// brokers' heartbeats, and the grants' events (thresholds crossed, leases lost). Methods block on
// I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// What one grant used on one UTC day with one model.
struct UsageRecord {
  std::string grant_id;
  std::string day;  // "2026-11-28"
  std::string model;
  int64_t requests = 0;
  int64_t input_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t audio_milliseconds = 0;
  int64_t cost_micros = 0;
  // Only when settling: what of `cost_micros` and `requests` did not come out of the settling
  // node's leases, from calls admitted while their grant leased nothing in that dimension (it had no
  // budget or no cap then, and may have one now). Settlement takes the rest out of the node's leases.
  int64_t unleased_micros = 0;
  int64_t unleased_requests = 0;
};

// A slice of a grant's remaining budget and requests that one node may spend without asking the
// store again. Until the node settles or returns it, it counts as used.
struct Lease {
  int64_t micros = 0;
  int64_t requests = 0;
};

// A grant's settled spend before and after one settlement (for threshold alerts).
struct SpendChange {
  std::string grant_id;
  int64_t before_micros = 0;
  int64_t after_micros = 0;
  std::optional<int64_t> budget_micros;
};

// Something that happened to a grant, for the owner's audit trail.
struct EventRecord {
  std::string grant_id;
  UnixSeconds at = 0;
  std::string kind;    // "budget_threshold", "lease_lost"
  std::string detail;  // JSON text
  int64_t id = 0;      // set by the store
};

// Names one write of a node's leases or usage. A write whose connection dropped as it committed may
// or may not have been applied: its id lets the broker learn which (LeaseTaken), or try it again
// and have it applied at most once (ReturnLease, Settle). Ids are random (core/ids.hpp
// RandomNumberId): a node's writes never share one, whatever broker ran under its id before.
using WriteId = int64_t;

class MeteringStore {
 public:
  virtual ~MeteringStore() = default;

  // Gives `node_id` at least `need` and at most `want` more of an approved grant's remaining
  // budget and requests (what neither settled, lost nor leased), in one transaction. A dimension
  // the grant does not limit is not leased (0). kLimitReached / kBudgetExceeded when `need` does
  // not fit; kUnauthorized when the grant is not approved.
  // A child grant (delegation) leases from its whole chain at once: every ancestor must be approved,
  // the lease fits what each of them has left, and each of them counts it as leased (and, once
  // settled, as spent). A child leases every dimension, limited anywhere in its chain or not.
  // The lease remembers `write` and what it lent, until the node's next take from the grant.
  virtual Result<Lease> TakeLease(std::string_view grant_id, std::string_view node_id, Lease need, Lease want,
                                  WriteId write) = 0;
  // What TakeLease `write`, the node's last take from the grant, lent, if it was applied; nullopt
  // if it was not (or the lease is gone: lost with its node, so counted as spent already).
  virtual Result<std::optional<Lease>> LeaseTaken(std::string_view grant_id, std::string_view node_id,
                                                  WriteId write) = 0;
  // Gives back the unused part of a lease (of the grant's ancestors' too), the lease the node's take
  // `from_take` of the grant left. A return with the id of the node's last return to the grant was
  // applied already, and is not applied again; nor is one to a lease that is gone, or was made
  // anew by a take of a child of the grant since (the node's leases were lost: counted as spent).
  virtual Status ReturnLease(std::string_view grant_id, std::string_view node_id, Lease unused, WriteId write,
                             WriteId from_take) = 0;
  // Deletes the node's lease of the grant if it is empty. An emptied lease is kept until then (or
  // until its node's leases go), for a return whose answer was lost: made anew by a take, it
  // would not know that return. Call it once no return to it is in doubt.
  virtual Status DropEmptyLease(std::string_view grant_id, std::string_view node_id) = 0;
  // Settles answered calls in one transaction: adds each row to its grant's row for that day and
  // model, adds the rows' requests and cost to the grant and its ancestors, and takes what of them
  // was leased out of the node's leases of each. A `batch` the node settled last was applied
  // already: nothing is applied again, and no changes are returned.
  // Returns each touched grant's spend before and after.
  virtual Result<std::vector<SpendChange>> Settle(std::string_view node_id, WriteId batch,
                                                  const std::vector<UsageRecord>& rows) = 0;
  // What a heartbeat did beyond noting this node alive.
  struct Beat {
    int64_t lost = 0;  // leases of gone nodes that now count as spent
    // Why the leases of a gone node could not be taken now (its rows locked by a broker paused in a
    // transaction, say): they are taken at a later heartbeat.
    std::optional<Error> deferred;
  };
  // Notes that `node_id` is alive at `now`, in a transaction of its own: it fails only when that
  // does. Nodes not seen since `stale_before` are gone: their leases become lost (counted as used),
  // an event says so, each node in its own transaction, so that one whose rows are locked (on
  // PostgreSQL, waited for a tenth of a second at most) neither undoes this node's heartbeat (its
  // peers would take it for gone) nor holds up the others.
  virtual Result<Beat> Heartbeat(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) = 0;
  // The nodes seen since `seen_since`, by id: the brokers sharing the per-minute limits now.
  virtual Result<std::vector<std::string>> LiveNodes(UnixSeconds seen_since) = 0;
  // The database's clock: what every broker on it times its heartbeats by, so that one whose own
  // clock is off neither takes a live broker for gone nor is taken for the only one alive.
  virtual Result<UnixSeconds> DatabaseNow() = 0;
  // Removes the node (a clean stop). What it still holds belonged to calls the stop cut short: it
  // becomes lost, as for a node that vanished.
  virtual Status RetireNode(std::string_view node_id, UnixSeconds now) = 0;
  virtual Status AddEvent(const EventRecord& event) = 0;
  // Oldest first, at most `limit`, those after the event with id `after_id` (each has `id` set).
  virtual Result<std::vector<EventRecord>> ListEvents(std::string_view grant_id, int64_t after_id, int64_t limit) = 0;
  // Newest first, at most `limit`, those before the event with id `before_id` when given.
  virtual Result<std::vector<EventRecord>> ListRecentEvents(std::string_view grant_id,
                                                            std::optional<int64_t> before_id, int64_t limit) = 0;
  // The grant's rows, by day then model, at most `limit`, those after (`day`, `model`) of `after`.
  virtual Result<std::vector<UsageRecord>> ListUsage(std::string_view grant_id, const std::optional<UsageRecord>& after,
                                                     int64_t limit) = 0;
  // The grant's rows from UTC day `from_day` ("2026-11-28") on, by day then model, at most `limit`.
  virtual Result<std::vector<UsageRecord>> ListUsageFrom(std::string_view grant_id, std::string_view from_day,
                                                         int64_t limit) = 0;
  // The sum of all the grant's rows (grant_id set, day and model empty).
  virtual Result<UsageRecord> TotalUsage(std::string_view grant_id) = 0;
};

}  // namespace ap::store
