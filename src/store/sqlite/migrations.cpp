#include "store/sqlite/migrations.hpp"

namespace ap::store::sqlite {
namespace {

constexpr Migration kMigrations[] = {
    {1, "grant requests, grants, settings", R"sql(
CREATE TABLE grant_requests (
  id TEXT PRIMARY KEY,
  app_name TEXT NOT NULL,
  app_url TEXT NOT NULL,
  scope_json TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL REFERENCES grant_requests(id),
  app_name TEXT NOT NULL,
  app_url TEXT NOT NULL,
  reason TEXT NOT NULL,
  scope_json TEXT NOT NULL,
  max_requests INTEGER,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  approved_at INTEGER,
  denied_at INTEGER,
  revoked_at INTEGER,
  usage_count INTEGER NOT NULL DEFAULT 0,
  usage_budget_cents INTEGER NOT NULL DEFAULT 0,
  notes TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  request_secret_hash TEXT NOT NULL
);
CREATE INDEX grants_by_created_at ON grants(created_at DESC);
CREATE INDEX grants_by_status ON grants(status);
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql"},
    {2, "usage per grant, day and model", R"sql(
CREATE TABLE usage (
  grant_id TEXT NOT NULL REFERENCES grants(id),
  day TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  cached_input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  audio_milliseconds INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (grant_id, day, model)
);
)sql"},
    {3, "owners and their sessions", R"sql(
CREATE TABLE owners (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_owner ON sessions(owner_id);
)sql"},
    {4, "grants belong to owners", R"sql(
ALTER TABLE grants ADD COLUMN owner_id TEXT REFERENCES owners(id);
CREATE INDEX grants_by_owner ON grants(owner_id);
)sql"},
    {5, "OAuth clients and authorization codes", R"sql(
CREATE TABLE clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  home_url TEXT NOT NULL,
  logo_url TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,
  confidential INTEGER NOT NULL,
  secret_hash TEXT NOT NULL,
  dpop_required INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE authorization_codes (
  code_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
)sql"},
    {6, "refresh tokens", R"sql(
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
)sql"},
    {7, "metering: spend in micro-USD, budget leases, nodes, events", R"sql(
ALTER TABLE grants RENAME COLUMN usage_budget_cents TO spent_micros;
UPDATE grants SET spent_micros = spent_micros * 10000;
ALTER TABLE grants ADD COLUMN budget_micros INTEGER;
UPDATE grants SET budget_micros = json_extract(scope_json, '$.maxBudgetCents') * 10000
  WHERE json_extract(scope_json, '$.maxBudgetCents') IS NOT NULL;
ALTER TABLE grants ADD COLUMN lost_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN lost_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
CREATE TABLE leases (
  grant_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  micros INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  PRIMARY KEY (grant_id, node_id)
);
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  seen_at INTEGER NOT NULL
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  grant_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX events_by_grant ON events(grant_id, id);
)sql"},
    {8, "refresh tokens bound to a DPoP key", R"sql(
ALTER TABLE refresh_tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
)sql"},
    {9, "owners' provider keys, sealed; grants bound to a key by label", R"sql(
CREATE TABLE provider_keys (
  id TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  label TEXT NOT NULL,
  hint TEXT NOT NULL,
  sealed BLOB NOT NULL,
  wrapped_data_key BLOB NOT NULL,
  master_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  UNIQUE (owner_id, provider, label)
);
ALTER TABLE grants ADD COLUMN key_label TEXT;
UPDATE grants SET key_label = 'environment' WHERE status <> 'pending';
)sql"},
    {10, "the record: activity per call, the hash-chained audit trail", R"sql(
CREATE TABLE activity (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  grant_id TEXT NOT NULL,
  app_name TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  capability TEXT NOT NULL,
  status INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  ttft_ms INTEGER,
  streamed INTEGER NOT NULL,
  refusal TEXT NOT NULL
);
CREATE INDEX activity_by_at ON activity(at, id);
CREATE INDEX activity_by_grant ON activity(grant_id, at, id);
CREATE INDEX activity_by_owner ON activity(owner_id, at, id);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  owner_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  kind TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_by_owner ON audit(owner_id, seq);
CREATE INDEX audit_by_grant ON audit(grant_id, kind, seq);
)sql"},
    {11, "unverified requests and self-registered clients", R"sql(
ALTER TABLE grants ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN self_registered INTEGER NOT NULL DEFAULT 0;
CREATE INDEX grants_waiting_unverified ON grants(created_at) WHERE status = 'pending' AND verified = 0;
)sql"},
    {13, "indexes that page the grant lists by (created_at, id)", R"sql(
DROP INDEX grants_by_created_at;
DROP INDEX grants_by_owner;
CREATE INDEX grants_newest ON grants(created_at, id);
CREATE INDEX grants_by_owner_newest ON grants(owner_id, created_at, id);
CREATE INDEX grants_undecided_newest ON grants(created_at, id) WHERE owner_id IS NULL AND status = 'pending';
)sql"},
    {14, "each access token's last use; a grant's refresh tokens by grant", R"sql(
CREATE TABLE token_uses (
  token_id TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  first_used_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  calls INTEGER NOT NULL
);
CREATE INDEX token_uses_by_grant ON token_uses(grant_id, last_used_at);
CREATE INDEX token_uses_by_last_use ON token_uses(last_used_at);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens(grant_id);
)sql"},
    // 12 was never used; 15 belongs to another change.
    {16, "the change feed every broker on the database follows", R"sql(
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL
);
CREATE INDEX changes_by_at ON changes(at);
)sql"},
    {17,
     "what a flow needs between its steps, shared by every broker: OAuth requests waiting for consent, device "
     "authorizations, DPoP proofs seen, failed sign-ins",
     R"sql(
CREATE TABLE pending_authorizations (
  grant_id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  state TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  lifetime_seconds INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX pending_authorizations_by_expiry ON pending_authorizations(expires_at);
CREATE TABLE device_authorizations (
  device_code_hash TEXT PRIMARY KEY,
  user_code_hash TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope_json TEXT NOT NULL,
  lifetime_seconds INTEGER NOT NULL,
  reason TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  decision TEXT NOT NULL,
  poll_interval INTEGER NOT NULL,
  last_poll INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX device_authorizations_by_user_code ON device_authorizations(user_code_hash);
CREATE INDEX device_authorizations_by_grant ON device_authorizations(grant_id);
CREATE INDEX device_authorizations_by_expiry ON device_authorizations(expires_at);
CREATE TABLE dpop_proofs (
  proof_hash TEXT PRIMARY KEY,
  forget_at INTEGER NOT NULL
);
CREATE INDEX dpop_proofs_by_forget_at ON dpop_proofs(forget_at);
CREATE TABLE login_failures (
  throttle_key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_at INTEGER NOT NULL
);
CREATE INDEX login_failures_by_last_at ON login_failures(last_at);
)sql"},
    {18, "the signing key ring, shared by every broker: private keys sealed under the master key", R"sql(
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  public_jwk TEXT NOT NULL,
  sealed BLOB NOT NULL,
  wrapped_data_key BLOB NOT NULL,
  master_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql"},
    {19, "the resources (RFC 8707) an OAuth flow asked for, carried to its codes and refresh tokens", R"sql(
ALTER TABLE pending_authorizations ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_authorizations ADD COLUMN resources TEXT NOT NULL DEFAULT '';
)sql"},
    {20, "delegation (RFC 8693): a child grant names its parent and its whole chain of ancestors", R"sql(
ALTER TABLE grants ADD COLUMN parent_grant_id TEXT;
ALTER TABLE grants ADD COLUMN ancestors TEXT NOT NULL DEFAULT '';
CREATE INDEX grants_by_parent ON grants(parent_grant_id) WHERE parent_grant_id IS NOT NULL;
)sql"},
    {21,
     "activity names its grant and owner by a number from activity_ids: narrower rows and indexes, less to write per "
     "call",
     R"sql(
CREATE TABLE activity_ids (
  n INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE
);
INSERT INTO activity_ids (id) SELECT grant_id FROM activity UNION SELECT owner_id FROM activity;
-- The new table's indexes are there before its rows come in, in the order they were written: a
-- large table costs time, not memory (temp_store is MEMORY, so building an index afterwards would
-- sort all of it in memory).
DROP INDEX activity_by_at;
DROP INDEX activity_by_grant;
DROP INDEX activity_by_owner;
CREATE TABLE activity_numbered (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  grant_n INTEGER NOT NULL,
  app_name TEXT NOT NULL,
  owner_n INTEGER NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  capability TEXT NOT NULL,
  status INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  ttft_ms INTEGER,
  streamed INTEGER NOT NULL,
  refusal TEXT NOT NULL
);
CREATE INDEX activity_by_at ON activity_numbered(at, id);
CREATE INDEX activity_by_grant ON activity_numbered(grant_n, at, id);
CREATE INDEX activity_by_owner ON activity_numbered(owner_n, at, id);
INSERT INTO activity_numbered (id, at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens,
  output_tokens, cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal)
SELECT a.id, a.at, g.n, a.app_name, o.n, a.provider, a.model, a.capability, a.status, a.input_tokens, a.output_tokens,
  a.cached_input_tokens, a.cost_micros, a.latency_ms, a.ttft_ms, a.streamed, a.refusal
FROM activity a JOIN activity_ids g ON g.id = a.grant_id JOIN activity_ids o ON o.id = a.owner_id ORDER BY a.id;
-- Ids go on from the last one handed out, even if the newest rows were deleted.
DELETE FROM sqlite_sequence WHERE name = 'activity_numbered';
INSERT INTO sqlite_sequence (name, seq) SELECT 'activity_numbered', seq FROM sqlite_sequence WHERE name = 'activity';
DROP TABLE activity;
ALTER TABLE activity_numbered RENAME TO activity;
)sql"},
    {22, "an app registered on /apps names the owner who registered it: only they may change or remove it", R"sql(
ALTER TABLE clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT '';
)sql"},
    {23, "an app starts the device flow only if allowed to; those registered before keep it", R"sql(
ALTER TABLE clients ADD COLUMN device_grant INTEGER NOT NULL DEFAULT 0;
UPDATE clients SET device_grant = 1;
)sql"},
    {24, "a DPoP proof names its key, so that one key's share of the proofs is bounded across brokers", R"sql(
ALTER TABLE dpop_proofs ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
CREATE INDEX dpop_proofs_by_jkt ON dpop_proofs(jkt, forget_at);
)sql"},
    {25, "a grant names the OAuth app that asked for it, so that removing the app revokes it", R"sql(
ALTER TABLE grants ADD COLUMN client_id TEXT;
-- Those made before: the app their code, refresh tokens, pending sign-in, device code or tokens' use name.
UPDATE grants SET client_id = COALESCE(
  (SELECT c.client_id FROM authorization_codes c WHERE c.grant_id = grants.id LIMIT 1),
  (SELECT r.client_id FROM refresh_tokens r WHERE r.grant_id = grants.id LIMIT 1),
  (SELECT p.client_id FROM pending_authorizations p WHERE p.grant_id = grants.id),
  (SELECT d.client_id FROM device_authorizations d WHERE d.grant_id = grants.id LIMIT 1),
  (SELECT t.client_id FROM token_uses t WHERE t.grant_id = grants.id AND t.client_id <> '' LIMIT 1))
WHERE ancestors = '';
CREATE INDEX grants_by_client ON grants(client_id) WHERE client_id IS NOT NULL;
)sql"},
    {26, "requests nobody decided are deleted once lapsed: found by their end, their request rows by grant", R"sql(
CREATE INDEX grants_by_request ON grants(request_id);
CREATE INDEX grants_pending_by_end ON grants(expires_at, id) WHERE status = 'pending';
)sql"},
    {27, "an unverified request names the address it came from, so that one address's share of them is bounded",
     R"sql(
ALTER TABLE grant_requests ADD COLUMN requested_from TEXT NOT NULL DEFAULT '';
CREATE INDEX grant_requests_by_address ON grant_requests(requested_from, created_at);
)sql"},
    {28,
     "a lease names the last take and return of it, a node its last settlement: a write whose answer was lost is "
     "applied once",
     R"sql(
ALTER TABLE leases ADD COLUMN last_take INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN last_take_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN last_take_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN last_return INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN last_settlement INTEGER NOT NULL DEFAULT 0;
CREATE INDEX leases_by_node ON leases(node_id);
)sql"},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

}  // namespace ap::store::sqlite
