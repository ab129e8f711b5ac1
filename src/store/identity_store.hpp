#pragma once
// The owners who sign in, and their browser sessions. Methods block on I/O: call them on the store
// thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/key_store.hpp"

namespace ap::store {

// A person who owns grants and signs in to approve them.
struct OwnerRecord {
  std::string id;
  std::string username;
  std::string password_hash;  // argon2id string
  UnixSeconds created_at = 0;
};

// A signed-in browser. Only the SHA-256 of the session id (the cookie) is stored.
struct SessionRecord {
  std::string id_hash;
  std::string owner_id;
  std::string csrf_token;  // sent back with every form the session posts
  UnixSeconds created_at = 0;
  UnixSeconds last_seen_at = 0;
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // kBadRequest "already exists" when the username is taken.
  virtual Status CreateOwner(const OwnerRecord& owner) = 0;
  // kNotFound when there is no such owner.
  virtual Result<OwnerRecord> GetOwnerByName(std::string_view username) = 0;
  virtual Result<OwnerRecord> GetOwner(std::string_view id) = 0;
  // By username.
  virtual Result<std::vector<OwnerRecord>> ListOwners() = 0;
  // Sets a new password hash and ends every session of the owner; kNotFound if unknown.
  virtual Status SetOwnerPassword(std::string_view username, std::string_view password_hash) = 0;
  // Removes the owner in one transaction: their approved grants, and the requests their sign-ins
  // started that still wait, are revoked (a change each, so every
  // broker refuses them at once), their provider keys deleted, their sessions ended. The row stays
  // under a name no one can take or sign in with, so the grants and the record still name them; it
  // is no longer listed. kNotFound if unknown. Returns the ids of the grants revoked and the keys
  // deleted (their id, provider, label and hint), for the audit trail.
  struct RemovedOwner {
    std::vector<std::string> revoked_grant_ids;
    std::vector<ProviderKeyRecord> deleted_keys;
  };
  virtual Result<RemovedOwner> DeleteOwner(std::string_view username) = 0;

  // Creates the session if its owner's password hash is still `checked_hash`, the one the password
  // was checked against: kUnauthorized if the password changed or the owner was removed meanwhile
  // (whose sessions ended then; a sign-in checking the old password must not start one after).
  virtual Status CreateSession(const SessionRecord& session, std::string_view checked_hash) = 0;
  // kNotFound when there is no such session.
  virtual Result<SessionRecord> GetSession(std::string_view id_hash) = 0;
  virtual Status TouchSession(std::string_view id_hash, UnixSeconds now) = 0;
  virtual Status DeleteSession(std::string_view id_hash) = 0;
  // Deletes the sessions last seen before `idle_before` or started before `started_before` (ended
  // ones, whose cookies are refused anyway); returns how many went.
  virtual Result<int64_t> DeleteEndedSessions(UnixSeconds idle_before, UnixSeconds started_before) = 0;
};

}  // namespace ap::store
