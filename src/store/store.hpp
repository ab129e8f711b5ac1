#pragma once
// The Store: every table group behind its own small interface, plus the broker's settings, on
// SQLite or PostgreSQL (store/tables on a sql::Connection); callers only see these interfaces.
// Methods block on I/O: call them from the store's worker thread (RunBlocking), never from an I/O
// thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "store/change_store.hpp"
#include "store/flow_store.hpp"
#include "store/grant_store.hpp"
#include "store/identity_store.hpp"
#include "store/key_store.hpp"
#include "store/metering_store.hpp"
#include "store/oauth_store.hpp"
#include "store/record_store.hpp"
#include "store/signing_key_store.hpp"

namespace ap::store {

class Store {
 public:
  virtual ~Store() = default;

  // The table groups; same thread rules as the Store.
  virtual GrantStore& Grants() = 0;
  virtual MeteringStore& Metering() = 0;
  virtual IdentityStore& Identity() = 0;
  virtual OAuthStore& OAuth() = 0;
  virtual KeyStore& Keys() = 0;
  virtual ActivityStore& Activity() = 0;
  virtual AuditStore& Audit() = 0;
  virtual ChangeStore& Changes() = 0;
  virtual FlowStore& Flows() = 0;
  virtual SigningKeyStore& SigningKeys() = 0;

  // The schema version the database is at, and the newest this aipassport knows.
  virtual Result<int64_t> SchemaVersion() = 0;
  virtual int64_t KnownSchemaVersion() const = 0;

  virtual Result<std::optional<std::string>> GetSetting(std::string_view key) = 0;
  virtual Status PutSetting(std::string_view key, std::string_view value) = 0;
  // Sets the value only if the key has none: of brokers starting at once, one sets it. True when
  // this call set it.
  virtual Result<bool> AddSettingIfAbsent(std::string_view key, std::string_view value) = 0;
};

}  // namespace ap::store
