#pragma once
// The OAuthStore on SQL (SQLite or PostgreSQL): the clients, authorization_codes and refresh_tokens tables.
// Thread-safety: one thread at a time (the store worker).

#include "store/oauth_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

class OAuthTables final : public OAuthStore {
 public:
  explicit OAuthTables(Connection& db) : db_(db) {}

  Status CreateClient(const ClientRecord& client) override;
  Result<ClientRecord> GetClient(std::string_view id) override;
  Result<std::vector<ClientRecord>> ListClients() override;
  Result<int64_t> CountSelfRegisteredClients() override;
  Status DeleteClient(std::string_view id) override;
  Status UpdateClient(const ClientRecord& client) override;
  Status CreateAuthorizationCode(const AuthorizationCodeRecord& code) override;
  Result<Redeemed> RedeemAuthorizationCode(std::string_view code_hash, UnixSeconds now) override;
  Result<AuthorizationCodeRecord> GetAuthorizationCode(std::string_view code_hash) override;
  Status CreateRefreshToken(const RefreshTokenRecord& token) override;
  Result<RefreshUse> UseRefreshToken(std::string_view token_hash, UnixSeconds now,
                                     const RefreshSuccessor& next) override;
  Result<RefreshTokenRecord> GetRefreshToken(std::string_view token_hash) override;
  Result<std::vector<RefreshFamilyRecord>> ListRefreshFamilies(std::string_view grant_id, int64_t limit) override;
  Status RevokeRefreshFamily(std::string_view family_id, UnixSeconds now) override;
  Result<int64_t> PruneEndedTokens(UnixSeconds before) override;

 private:
  Connection& db_;
};

}  // namespace ap::store::tables
