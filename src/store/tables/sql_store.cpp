#include "store/tables/sql_store.hpp"

#include "store/tables/change_tables.hpp"
#include "store/tables/flow_tables.hpp"
#include "store/tables/grant_tables.hpp"
#include "store/tables/identity_tables.hpp"
#include "store/tables/key_tables.hpp"
#include "store/tables/metering_tables.hpp"
#include "store/tables/oauth_tables.hpp"
#include "store/tables/record_tables.hpp"
#include "store/tables/signing_key_tables.hpp"

namespace ap::store {
namespace {

using sql::kDone;
using sql::kRow;
using sql::Query;

const std::string kGetSetting = "SELECT value FROM settings WHERE key = ?";
const std::string kAddSetting = "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING";
const std::string kPutSetting =
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

class SqlStore final : public Store {
 public:
  SqlStore(std::unique_ptr<sql::Connection> db, int64_t known_version)
      : db_(std::move(db)),
        known_version_(known_version),
        grants_(*db_),
        metering_(*db_, grants_),
        identity_(*db_),
        oauth_(*db_),
        keys_(*db_),
        activity_(*db_),
        audit_(*db_),
        changes_(*db_),
        flows_(*db_),
        signing_keys_(*db_) {}

  GrantStore& Grants() override { return grants_; }
  MeteringStore& Metering() override { return metering_; }
  IdentityStore& Identity() override { return identity_; }
  OAuthStore& OAuth() override { return oauth_; }
  KeyStore& Keys() override { return keys_; }
  ActivityStore& Activity() override { return activity_; }
  AuditStore& Audit() override { return audit_; }
  ChangeStore& Changes() override { return changes_; }
  FlowStore& Flows() override { return flows_; }
  SigningKeyStore& SigningKeys() override { return signing_keys_; }

  Result<int64_t> SchemaVersion() override { return sql::SchemaVersion(*db_); }
  int64_t KnownSchemaVersion() const override { return known_version_; }

  Result<std::optional<std::string>> GetSetting(std::string_view key) override {
    Query q(db_->Prepare(kGetSetting));
    q.Bind(key);
    int rc = q.Step();
    if (rc == kDone) return std::optional<std::string>();
    if (rc != kRow) return db_->DbError("read setting");
    return std::optional<std::string>(q.Text(0));
  }

  Result<bool> AddSettingIfAbsent(std::string_view key, std::string_view value) override {
    Query q(db_->Prepare(kAddSetting));
    q.Bind(key).Bind(value);
    if (q.Step() != kDone) return db_->DbError("write setting");
    return db_->Changes() == 1;
  }

  Status PutSetting(std::string_view key, std::string_view value) override {
    Query q(db_->Prepare(kPutSetting));
    q.Bind(key).Bind(value);
    if (q.Step() != kDone) return db_->DbError("write setting");
    return {};
  }

 private:
  std::unique_ptr<sql::Connection> db_;
  int64_t known_version_;
  tables::GrantTables grants_;
  tables::MeteringTables metering_;
  tables::IdentityTables identity_;
  tables::OAuthTables oauth_;
  tables::KeyTables keys_;
  tables::ActivityTables activity_;
  tables::AuditTables audit_;
  tables::ChangeTables changes_;
  tables::FlowTables flows_;
  tables::SigningKeyTables signing_keys_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqlStore(std::unique_ptr<sql::Connection> db,
                                            std::span<const sql::Migration> migrations) {
  if (auto migrated = sql::Migrate(*db, migrations); !migrated) return migrated.error();
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(db), migrations.back().version));
}

}  // namespace ap::store
