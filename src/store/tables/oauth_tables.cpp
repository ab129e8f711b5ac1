#include "store/tables/oauth_tables.hpp"

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

#define AP_CLIENT_COLUMNS                                                                               \
  "id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, created_at, " \
  "self_registered, registered_by, device_grant"
const std::string kInsertClient =
    "INSERT INTO clients (" AP_CLIENT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const std::string kSelectClient = "SELECT " AP_CLIENT_COLUMNS " FROM clients WHERE id = ?";
const std::string kSelectClients = "SELECT " AP_CLIENT_COLUMNS " FROM clients ORDER BY created_at, id";
#undef AP_CLIENT_COLUMNS
const std::string kCountSelfRegistered = "SELECT COUNT(*) FROM clients WHERE self_registered = 1";
const std::string kDeleteClient = "DELETE FROM clients WHERE id = ? RETURNING id";
const std::string kUpdateClient =
    "UPDATE clients SET name = ?, home_url = ?, logo_url = ?, redirect_uris = ?, device_grant = ? WHERE id = ? "
    "RETURNING id";
const std::string kInsertCode =
    "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at, "
    "resources) VALUES (?, ?, ?, ?, ?, ?, ?)";
const std::string kRedeemCode =
    "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL "
    "RETURNING code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at, resources";
const std::string kCodeGrant = "SELECT grant_id FROM authorization_codes WHERE code_hash = ?";
const std::string kSelectCode =
    "SELECT code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at, resources "
    "FROM authorization_codes WHERE code_hash = ?";
#define AP_REFRESH_COLUMNS "token_hash, family_id, grant_id, client_id, created_at, jkt, resources"
const std::string kInsertRefresh = "INSERT INTO refresh_tokens (" AP_REFRESH_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?)";
const std::string kUseRefresh =
    "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL "
    "RETURNING " AP_REFRESH_COLUMNS;
const std::string kSelectRefresh = "SELECT " AP_REFRESH_COLUMNS " FROM refresh_tokens WHERE token_hash = ?";
#undef AP_REFRESH_COLUMNS
const std::string kRefreshFamilies =
    "SELECT family_id, MIN(client_id), MIN(created_at), MAX(used_at), MAX(revoked_at), COUNT(*) FROM refresh_tokens "
    "WHERE grant_id = ? GROUP BY family_id ORDER BY MIN(created_at) DESC, family_id LIMIT ?";
const std::string kRevokeFamily =
    "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL";
const std::string kPruneCodes = "DELETE FROM authorization_codes WHERE expires_at < ?";
// Used (replaced) or revoked before ?1, or of a grant that ended before ?1 or is gone.
const std::string kPruneRefresh =
    "DELETE FROM refresh_tokens WHERE used_at < ?1 OR revoked_at < ?1"
    " OR grant_id IN (SELECT id FROM grants WHERE revoked_at < ?1 OR denied_at < ?1 OR expires_at < ?1)"
    " OR NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id)";

// Redirect URIs are stored one per line (a URI has no line break).
std::string JoinLines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : "\n") + item;
  return out;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t nl = text.find('\n', start);
    items.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return items;
}

ClientRecord ReadClient(const Query& q) {
  return ClientRecord{q.Text(0),     q.Text(1),     q.Text(2),     q.Text(3), SplitLines(q.Text(4)),
                      q.Int(5) != 0, q.Text(6),     q.Int(7) != 0, q.Int(8),  q.Int(9) != 0,
                      q.Text(10),    q.Int(11) != 0};
}

RefreshTokenRecord ReadRefresh(const Query& q) {
  return RefreshTokenRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4), q.Text(5), q.Text(6)};
}

}  // namespace

Status OAuthTables::CreateClient(const ClientRecord& c) {
  Query q(db_.Prepare(kInsertClient));
  q.Bind(c.id).Bind(c.name).Bind(c.home_url).Bind(c.logo_url).Bind(JoinLines(c.redirect_uris));
  q.Bind(int64_t{c.confidential}).Bind(c.secret_hash).Bind(int64_t{c.dpop_required}).Bind(c.created_at);
  q.Bind(int64_t{c.self_registered}).Bind(c.registered_by).Bind(int64_t{c.device_grant});
  int rc = q.Step();
  if (rc == kConstraint) return MakeError(Errc::kBadRequest, "Client '" + c.id + "' already exists");
  if (rc != kDone) return db_.DbError("create client");
  return {};
}

Result<ClientRecord> OAuthTables::GetClient(std::string_view id) {
  Query q(db_.Prepare(kSelectClient));
  q.Bind(id);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such client");
  if (rc != kRow) return db_.DbError("read client");
  return ReadClient(q);
}

Result<std::vector<ClientRecord>> OAuthTables::ListClients() {
  Query q(db_.Prepare(kSelectClients));
  std::vector<ClientRecord> clients;
  int rc;
  while ((rc = q.Step()) == kRow) clients.push_back(ReadClient(q));
  if (rc != kDone) return db_.DbError("list clients");
  return clients;
}

Result<int64_t> OAuthTables::CountSelfRegisteredClients() {
  Query q(db_.Prepare(kCountSelfRegistered));
  if (q.Step() != kRow) return db_.DbError("count clients");
  return q.Int(0);
}

Status OAuthTables::DeleteClient(std::string_view id) {
  Query q(db_.Prepare(kDeleteClient));
  q.Bind(id);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such client");
  if (rc != kRow || q.Step() != kDone) return db_.DbError("remove client");
  return {};
}

Status OAuthTables::UpdateClient(const ClientRecord& c) {
  Query q(db_.Prepare(kUpdateClient));
  q.Bind(c.name).Bind(c.home_url).Bind(c.logo_url).Bind(JoinLines(c.redirect_uris)).Bind(int64_t{c.device_grant});
  q.Bind(c.id);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such client");
  if (rc != kRow || q.Step() != kDone) return db_.DbError("update client");
  return {};
}

Status OAuthTables::CreateAuthorizationCode(const AuthorizationCodeRecord& c) {
  Query q(db_.Prepare(kInsertCode));
  q.Bind(c.code_hash).Bind(c.client_id).Bind(c.redirect_uri).Bind(c.code_challenge).Bind(c.grant_id);
  q.Bind(c.expires_at).Bind(c.resources);
  if (q.Step() != kDone) return db_.DbError("store authorization code");
  return {};
}

Result<OAuthStore::Redeemed> OAuthTables::RedeemAuthorizationCode(std::string_view code_hash, UnixSeconds now) {
  Query take(db_.Prepare(kRedeemCode));
  take.Bind(now).Bind(code_hash);
  int rc = take.Step();
  if (rc == kRow) {
    AuthorizationCodeRecord code{take.Text(0), take.Text(1), take.Text(2), take.Text(3),
                                 take.Text(4), take.Int(5),  take.Text(6)};
    if (take.Step() != kDone) return db_.DbError("redeem code");
    return Redeemed{std::move(code), std::nullopt};
  }
  if (rc != kDone) return db_.DbError("redeem code");
  Query used(db_.Prepare(kCodeGrant));
  used.Bind(code_hash);
  rc = used.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such code");
  if (rc != kRow) return db_.DbError("redeem code");
  return Redeemed{std::nullopt, used.Text(0)};
}

Result<AuthorizationCodeRecord> OAuthTables::GetAuthorizationCode(std::string_view code_hash) {
  Query q(db_.Prepare(kSelectCode));
  q.Bind(code_hash);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such code");
  if (rc != kRow) return db_.DbError("read code");
  return AuthorizationCodeRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Int(5), q.Text(6)};
}

Status OAuthTables::CreateRefreshToken(const RefreshTokenRecord& t) {
  Query q(db_.Prepare(kInsertRefresh));
  q.Bind(t.token_hash).Bind(t.family_id).Bind(t.grant_id).Bind(t.client_id).Bind(t.created_at).Bind(t.jkt);
  q.Bind(t.resources);
  if (q.Step() != kDone) return db_.DbError("store refresh token");
  return {};
}

Result<OAuthStore::RefreshUse> OAuthTables::UseRefreshToken(std::string_view token_hash, UnixSeconds now,
                                                            const RefreshSuccessor& next) {
  return db_.InTransaction([&]() -> Result<RefreshUse> {
    Query take(db_.Prepare(kUseRefresh));
    take.Bind(now).Bind(token_hash);
    int rc = take.Step();
    if (rc == kRow) {
      RefreshTokenRecord used = ReadRefresh(take);
      if (take.Step() != kDone) return db_.DbError("use refresh token");
      RefreshTokenRecord successor = used;
      successor.token_hash = next.token_hash;
      successor.created_at = now;
      successor.jkt = next.jkt;
      if (auto stored = CreateRefreshToken(successor); !stored) return stored.error();
      return RefreshUse{std::move(used), std::nullopt};
    }
    if (rc != kDone) return db_.DbError("use refresh token");
    auto existing = GetRefreshToken(token_hash);
    if (!existing) return existing.error();
    return RefreshUse{std::nullopt, std::move(*existing)};
  });
}

Result<RefreshTokenRecord> OAuthTables::GetRefreshToken(std::string_view token_hash) {
  Query q(db_.Prepare(kSelectRefresh));
  q.Bind(token_hash);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such refresh token");
  if (rc != kRow) return db_.DbError("read refresh token");
  return ReadRefresh(q);
}

Result<std::vector<RefreshFamilyRecord>> OAuthTables::ListRefreshFamilies(std::string_view grant_id, int64_t limit) {
  Query q(db_.Prepare(kRefreshFamilies));
  q.Bind(grant_id).Bind(limit);
  std::vector<RefreshFamilyRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow)
    out.push_back(RefreshFamilyRecord{q.Text(0), q.Text(1), q.Int(2), q.OptInt(3), q.OptInt(4), q.Int(5)});
  if (rc != kDone) return db_.DbError("list refresh families");
  return out;
}

Status OAuthTables::RevokeRefreshFamily(std::string_view family_id, UnixSeconds now) {
  Query q(db_.Prepare(kRevokeFamily));
  q.Bind(now).Bind(family_id);
  if (q.Step() != kDone) return db_.DbError("revoke refresh tokens");
  return {};
}

Result<int64_t> OAuthTables::PruneEndedTokens(UnixSeconds before) {
  return db_.InTransaction([&]() -> Result<int64_t> {
    int64_t pruned = 0;
    for (const std::string* sql : {&kPruneCodes, &kPruneRefresh}) {
      Query q(db_.Prepare(*sql));
      q.Bind(before);
      if (q.Step() != kDone) return db_.DbError("prune ended tokens");
      pruned += db_.Changes();
    }
    return pruned;
  });
}

}  // namespace ap::store::tables
