#include "store/tables/record_tables.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

// What a call's row is written with; the table adds its id. A row names its grant and its owner by
// a number from activity_ids, which maps each id to one: two integers where the ids (36 characters
// each) made every row and its indexes by grant and by owner several times wider, and a row cost
// SQLite some 30% more CPU (3.0 against 2.3 us, most of it writing the log's pages).
constexpr const char* kActivityRowColumns =
    "at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens, output_tokens, "
    "cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal";
const std::string kActivityColumns =
    "id, at, (SELECT i.id FROM activity_ids i WHERE i.n = activity.grant_n) AS grant_id, app_name, "
    "(SELECT i.id FROM activity_ids i WHERE i.n = activity.owner_n) AS owner_id, provider, model, capability, status, "
    "input_tokens, output_tokens, cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal";
// The number of the id bound to `param`, NULL when no row has it.
std::string NumberOf(const char* param) {
  return std::string("(SELECT i.n FROM activity_ids i WHERE i.id = ") + param + ")";
}
const std::string kAddActivityId = "INSERT INTO activity_ids (id) VALUES (?) ON CONFLICT (id) DO NOTHING";
const std::string kActivityIdNumber = "SELECT n FROM activity_ids WHERE id = ?";
// Every filter is optional: a NULL parameter lets every row through. The filters that pick an index
// (grant, owner, cursor) are written only when set, each variant its own statement, because SQLite
// plans a statement once: "?2 IS NULL OR grant_n = ..." would walk every row by time, a grant with
// few calls among a million rows costing the whole table.
std::string ActivitySql(const ActivityQuery& query) {
  std::string sql = "SELECT " + kActivityColumns + " FROM activity WHERE 1 = 1";
  if (query.grant_id)
    sql += " AND grant_n = " + NumberOf("?2");
  else if (query.owner_id)
    sql += " AND owner_n = " + NumberOf("?1");
  if (query.grant_id && query.owner_id) sql += " AND owner_n = " + NumberOf("?1");
  if (query.before)
    sql += " AND (at, id) > (?8, ?9)";
  else if (query.after)
    sql += " AND (at, id) < (?8, ?9)";
  return sql +
         " AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4)"
         " AND (?5 IS NULL OR app_name = ?5) AND (?6 IS NULL OR model = ?6) AND (?7 IS NULL OR status = ?7)" +
         (query.before ? " ORDER BY at, id LIMIT ?10" : " ORDER BY at DESC, id DESC LIMIT ?10");
}
// A token's first call sets its row; later ones move its last use forward (batches may arrive out
// of order from several brokers, hence MIN and MAX).
const std::string kTouchToken =
    "INSERT INTO token_uses (token_id, grant_id, client_id, issued_at, expires_at, first_used_at, last_used_at, calls) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (token_id) DO UPDATE SET "
    "first_used_at = CASE WHEN token_uses.first_used_at < excluded.first_used_at "
    "THEN token_uses.first_used_at ELSE excluded.first_used_at END, "
    "last_used_at = CASE WHEN token_uses.last_used_at > excluded.last_used_at "
    "THEN token_uses.last_used_at ELSE excluded.last_used_at END, calls = token_uses.calls + excluded.calls";
const std::string kListTokenUses =
    "SELECT token_id, grant_id, client_id, issued_at, expires_at, first_used_at, last_used_at, calls FROM token_uses "
    "WHERE grant_id = ? ORDER BY last_used_at DESC, token_id LIMIT ?";
const std::string kPruneTokenUsesSqlite =
    "DELETE FROM token_uses WHERE rowid IN (SELECT rowid FROM token_uses WHERE last_used_at < ? LIMIT ?)";
const std::string kPruneTokenUsesPostgres =
    "DELETE FROM token_uses WHERE ctid = ANY(ARRAY(SELECT ctid FROM token_uses WHERE last_used_at < ? LIMIT ?))";
// The rows SumActivity sums: ?1 owner, ?2 grant, ?3 from, ?4 to, ?5 app, ?6 model, ?7 status.
const std::string kSummedRows =
    "FROM activity WHERE (?1 IS NULL OR owner_n = " + NumberOf("?1") +
    ") AND (?2 IS NULL OR grant_n = " + NumberOf("?2") +
    ")"
    " AND at >= ?3 AND (?4 IS NULL OR at < ?4)"
    " AND (?5 IS NULL OR app_name = ?5) AND (?6 IS NULL OR model = ?6) AND (?7 IS NULL OR status = ?7)";
// ?8 the bucket's length, ?9 how many models keep their name (those that cost most, then were
// called most); the rest are summed under a NULL model. The alias is not `model`: PostgreSQL would
// group by the column of that name instead.
const std::string kSumActivity =
    "WITH top_models AS (SELECT model " + kSummedRows +
    " GROUP BY model ORDER BY SUM(cost_micros) DESC, COUNT(*) DESC, model LIMIT ?9) "
    "SELECT (at - ?3) / ?8 AS bucket, app_name, CASE WHEN model IN (SELECT model FROM top_models) THEN model END "
    "AS model_shown, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_micros) " +
    kSummedRows + " GROUP BY bucket, app_name, model_shown ORDER BY bucket";
// The oldest rows, found by the index on (at, id), deleted by where they are: SQLite's id is its
// rowid; PostgreSQL's ctid, as "(at, id) IN (...)" made it read the whole table (93 ms a page of
// 300,000 rows against 2 ms).
const std::string kPruneActivitySqlite =
    "DELETE FROM activity WHERE id IN (SELECT id FROM activity WHERE at < ? ORDER BY at, id LIMIT ?)";
const std::string kPruneActivityPostgres =
    "DELETE FROM activity WHERE ctid = ANY(ARRAY(SELECT ctid FROM activity WHERE at < ? ORDER BY at, id LIMIT ?))";

constexpr const char* kAuditColumns = "seq, at, owner_id, actor, kind, grant_id, detail, prev_hash, hash";
const std::string kInsertAudit = std::string("INSERT INTO audit (") + kAuditColumns +
                                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
// As for activity: the filters that pick an index are written only when set.
std::string AuditSql(const AuditQuery& query) {
  std::string sql = std::string("SELECT ") + kAuditColumns + " FROM audit WHERE 1 = 1";
  if (query.owner_id) sql += " AND owner_id = ?1";
  if (query.grant_id) sql += " AND grant_id = ?3";
  if (query.before_seq) sql += " AND seq < ?6";
  if (query.after_seq) sql += " AND seq > ?8";
  return sql + " AND (?2 IS NULL OR kind = ?2) AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR at < ?5)" +
         (query.oldest_first ? " ORDER BY seq LIMIT ?7" : " ORDER BY seq DESC LIMIT ?7");
}
const char* const kLockAudit = "SELECT pg_advisory_xact_lock(7272002)";
const char* const kSyncFully = "PRAGMA synchronous = FULL";  // SQLite only
const char* const kSyncNormally = "PRAGMA synchronous = NORMAL";
const std::string kGetHead = "SELECT value FROM settings WHERE key = 'audit.head'";
const std::string kSetHead =
    "INSERT INTO settings (key, value) VALUES ('audit.head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// The head as the settings table holds it: "<seq> <hash> <mac>".
std::string HeadText(const AuditHead& head) { return std::to_string(head.seq) + " " + head.hash + " " + head.mac; }

std::optional<AuditHead> ParseHead(const std::string& text) {
  size_t first = text.find(' ');
  size_t second = first == std::string::npos ? std::string::npos : text.find(' ', first + 1);
  if (second == std::string::npos) return std::nullopt;
  AuditHead head;
  try {
    head.seq = std::stoll(text.substr(0, first));
  } catch (...) {
    return std::nullopt;
  }
  head.hash = text.substr(first + 1, second - first - 1);
  head.mac = text.substr(second + 1);
  return head;
}

}  // namespace

Result<std::optional<int64_t>> ActivityTables::NumberOf(const std::string& id) {
  if (auto kept = numbers_.find(id); kept != numbers_.end()) return std::optional<int64_t>(kept->second);
  Query q(db_.Prepare(kActivityIdNumber));
  q.Bind(id);
  int rc = q.Step();
  if (rc == kDone) return std::optional<int64_t>();
  if (rc != kRow) return db_.DbError("read an id's number for activity");
  if (numbers_.size() >= kMaxNumbersKept) numbers_.clear();
  return std::optional<int64_t>(numbers_[id] = q.Int(0));
}

Result<int64_t> ActivityTables::Numbered(const std::string& id) {
  auto number = NumberOf(id);
  if (!number) return number.error();
  if (!*number) return MakeError(Errc::kInternal, "an id numbered for activity is not there");
  return **number;
}

// Read first, and added only when missing: PostgreSQL draws a number from the sequence for every
// INSERT, also one that ON CONFLICT then drops.
Status ActivityTables::AddNumber(const std::string& id) {
  auto known = NumberOf(id);
  if (!known) return known.error();
  if (*known) return {};
  Query add(db_.Prepare(kAddActivityId));
  add.Bind(id);
  if (add.Step() != kDone) return db_.DbError("number an id for activity");
  if (auto number = Numbered(id); !number) return number.error();
  return {};
}

// In a transaction of its own and in one order (sorted), before the batch, which then only reads
// them. On PostgreSQL two brokers numbering the same new ids then wait for each other only briefly,
// never for a whole batch, and never each for the other (numbered inside the batches, in the
// batches' orders, they deadlocked). On SQLite transactions take turns whole anyway.
Status ActivityTables::NumberNewIds(std::span<const ActivityRecord> rows) {
  // Read on a connection made again, the numbers may be of a server failed over from, which lost
  // them (and may hand them to other ids).
  if (numbered_on_ != db_.Reconnects()) numbers_.clear();
  numbered_on_ = db_.Reconnects();
  std::vector<std::string> fresh;
  for (const auto& r : rows)
    for (const std::string* id : {&r.grant_id, &r.owner_id})
      if (!numbers_.contains(*id)) fresh.push_back(*id);
  if (fresh.empty()) return {};
  std::sort(fresh.begin(), fresh.end());
  fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
  Status numbered = db_.InTransaction([&]() -> Status {
    for (const std::string& id : fresh)
      if (auto added = AddNumber(id); !added) return added;
    return {};
  });
  if (!numbered) numbers_.clear();  // the numbers the transaction handed out went with it
  return numbered;
}

Result<size_t> ActivityTables::AddActivityInSlices(std::span<const ActivityRecord> rows, size_t slice,
                                                   const std::function<bool()>& go_on) {
  if (rows.empty()) return size_t{0};
  if (slice == 0) return MakeError(Errc::kBadRequest, "activity is written in slices of at least one row");
  // A transaction that made the connection again (NumberNewIds reads nothing when every id is
  // known) numbers the ids anew and tries once more.
  for (bool again = true;; again = false) {
    if (auto numbered = NumberNewIds(rows); !numbered) return numbered.error();
    bool renumber = false;
    auto written = WriteActivity(rows, slice, go_on, renumber);
    if (!renumber || !again) return written;
  }
}

Result<size_t> ActivityTables::WriteActivity(std::span<const ActivityRecord> rows, size_t slice,
                                             const std::function<bool()>& go_on, bool& renumber) {
  return db_.InTransaction([&]() -> Result<size_t> {
    if (numbered_on_ != db_.Reconnects()) {
      renumber = true;
      return MakeError(Errc::kUnavailable, "the database connection was made again: activity not recorded yet");
    }
    size_t written = 0;
    do {
      auto part = rows.subspan(written, std::min(slice, rows.size() - written));
      if (auto inserted = InsertRows(part); !inserted) return inserted.error();
      written += part.size();
    } while (written < rows.size() && go_on());
    if (auto touched = TouchTokens(rows.first(written)); !touched) return touched.error();
    return written;
  });
}

Status ActivityTables::InsertRows(std::span<const ActivityRecord> rows) {
  sql::Values& values = rows_values_;
  values.Clear();
  values.Reserve(rows.size() * sql::ColumnCount(kActivityRowColumns));
  for (const auto& r : rows) {
    auto grant_n = Numbered(r.grant_id);
    if (!grant_n) return grant_n.error();
    auto owner_n = Numbered(r.owner_id);
    if (!owner_n) return owner_n.error();
    values.Bind(r.at).Bind(*grant_n).Bind(r.app_name).Bind(*owner_n).Bind(r.provider).Bind(r.model);
    values.Bind(r.capability).Bind(int64_t{r.status}).Bind(r.input_tokens).Bind(r.output_tokens);
    values.Bind(r.cached_input_tokens).Bind(r.cost_micros).Bind(r.latency_ms).Bind(r.ttft_ms);
    values.Bind(int64_t{r.streamed ? 1 : 0}).Bind(r.refusal);
  }
  if (db_.AppendRows("activity", kActivityRowColumns, values) != kDone) return db_.DbError("record activity");
  return {};
}

// One write per token, however many of its calls the rows hold, in the tokens' order: two brokers
// on PostgreSQL touching the same tokens lock them in the same order.
Status ActivityTables::TouchTokens(std::span<const ActivityRecord> rows) {
  std::map<std::string, TokenUseRecord> tokens;
  for (const auto& r : rows) {
    if (r.token_id.empty()) continue;
    auto [it, fresh] = tokens.try_emplace(r.token_id);
    TokenUseRecord& t = it->second;
    if (fresh)
      t = TokenUseRecord{r.token_id, r.grant_id, r.client_id, r.token_issued_at, r.token_expires_at, r.at, r.at, 0};
    t.first_used_at = std::min(t.first_used_at, r.at);
    t.last_used_at = std::max(t.last_used_at, r.at);
    ++t.calls;
  }
  for (const auto& [id, t] : tokens) {
    Query q(db_.Prepare(kTouchToken));
    q.Bind(t.token_id).Bind(t.grant_id).Bind(t.client_id).Bind(t.issued_at).Bind(t.expires_at);
    q.Bind(t.first_used_at).Bind(t.last_used_at).Bind(t.calls);
    if (q.Step() != kDone) return db_.DbError("record a token's use");
  }
  return {};
}

Result<std::vector<TokenUseRecord>> ActivityTables::ListTokenUses(std::string_view grant_id, int64_t limit) {
  Query q(db_.Prepare(kListTokenUses));
  q.Bind(grant_id).Bind(limit);
  std::vector<TokenUseRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow)
    out.push_back(TokenUseRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3), q.Int(4), q.Int(5), q.Int(6), q.Int(7)});
  if (rc != kDone) return db_.DbError("list token uses");
  return out;
}

Result<std::vector<ActivityRecord>> ActivityTables::ListActivity(const ActivityQuery& query) {
  Query q(db_.Prepare(ActivitySql(query)));
  q.Bind(query.owner_id).Bind(query.grant_id).Bind(query.from).Bind(query.to).Bind(query.app_name).Bind(query.model);
  q.Bind(query.status ? std::optional<int64_t>(*query.status) : std::nullopt);
  std::optional<RecordCursor> cursor = query.before ? query.before : query.after;
  q.Bind(cursor ? std::optional<int64_t>(cursor->at) : std::nullopt);
  q.Bind(cursor ? std::optional<int64_t>(cursor->id) : std::nullopt);
  q.Bind(query.limit);
  std::vector<ActivityRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) {
    ActivityRecord r;
    r.id = q.Int(0);
    r.at = q.Int(1);
    r.grant_id = q.Text(2);
    r.app_name = q.Text(3);
    r.owner_id = q.Text(4);
    r.provider = q.Text(5);
    r.model = q.Text(6);
    r.capability = q.Text(7);
    r.status = static_cast<int>(q.Int(8));
    r.input_tokens = q.Int(9);
    r.output_tokens = q.Int(10);
    r.cached_input_tokens = q.Int(11);
    r.cost_micros = q.Int(12);
    r.latency_ms = q.Int(13);
    r.ttft_ms = q.OptInt(14);
    r.streamed = q.Int(15) != 0;
    r.refusal = q.Text(16);
    out.push_back(std::move(r));
  }
  if (rc != kDone) return db_.DbError("list activity");
  if (query.before) std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<ActivityTotal>> ActivityTables::SumActivity(const ActivityQuery& query, int64_t bucket_ms,
                                                               int64_t named_models) {
  if (!query.from || bucket_ms <= 0 || named_models < 0)
    return MakeError(Errc::kBadRequest, "sum activity: needs a start, a bucket and a number of models");
  Query q(db_.Prepare(kSumActivity));
  q.Bind(query.owner_id).Bind(query.grant_id).Bind(query.from).Bind(query.to).Bind(query.app_name).Bind(query.model);
  q.Bind(query.status ? std::optional<int64_t>(*query.status) : std::nullopt);
  q.Bind(bucket_ms).Bind(named_models);
  std::vector<ActivityTotal> out;
  int rc;
  while ((rc = q.Step()) == kRow) {
    ActivityTotal t;
    t.bucket = *query.from + q.Int(0) * bucket_ms;
    t.app_name = q.Text(1);
    auto model = q.OptText(2);
    t.other_models = !model;
    t.model = model.value_or("");
    t.calls = q.Int(3);
    t.input_tokens = q.Int(4);
    t.output_tokens = q.Int(5);
    t.cost_micros = q.Int(6);
    out.push_back(std::move(t));
  }
  if (rc != kDone) return db_.DbError("sum activity");
  return out;
}

Result<ActivityStore::Pruned> ActivityTables::PruneActivity(UnixMillis before, int64_t limit) {
  Pruned pruned;
  bool postgres = db_.dialect() == sql::Dialect::kPostgres;
  Query q(db_.Prepare(postgres ? kPruneActivityPostgres : kPruneActivitySqlite));
  q.Bind(before).Bind(limit);
  if (q.Step() != kDone) return db_.DbError("prune activity");
  pruned.rows = db_.Changes();
  Query tokens(db_.Prepare(postgres ? kPruneTokenUsesPostgres : kPruneTokenUsesSqlite));
  tokens.Bind(before).Bind(limit);
  if (tokens.Step() != kDone) return db_.DbError("prune token uses");
  pruned.token_uses = db_.Changes();
  return pruned;
}

Result<AuditStore::Trail> AuditTables::ReadTrail() {
  if (auto begun = db_.BeginSnapshot(); !begun) return begun.error();  // writers go on meanwhile
  Trail trail;
  AuditQuery all;
  all.limit = 0;
  all.oldest_first = true;
  auto records = ListAudit(all);
  auto head = records ? GetAuditHead() : Result<std::optional<AuditHead>>(records.error());
  db_.Exec("COMMIT");
  if (!records) return records.error();
  if (!head) return head.error();
  trail.records = std::move(*records);
  trail.head = std::move(*head);
  return trail;
}

Result<std::optional<AuditHead>> AuditTables::GetAuditHead() {
  Query q(db_.Prepare(kGetHead));
  int rc = q.Step();
  if (rc == kDone) return std::optional<AuditHead>();
  if (rc != kRow) return db_.DbError("read the audit head");
  auto head = ParseHead(q.Text(0));
  // A head that cannot be read is kept as one that matches nothing, so verification reports it.
  if (!head) return std::optional<AuditHead>(AuditHead{-1, "", ""});
  return head;
}

Status AuditTables::AppendAudit(const AuditLinker& link) {
  // On SQLite (synchronous = NORMAL) a power cut can undo the last commits; the audit mark beside
  // the database (record/audit_mark.hpp) is kept on disk after each append, and would then take
  // the undone records for a cut. An append is synced whole before it is done.
  bool sqlite = db_.dialect() == sql::Dialect::kSqlite;
  if (sqlite)
    if (auto full = db_.Exec(kSyncFully); !full) return full;
  Status appended = AppendAuditInTransaction(link);
  if (sqlite)
    if (auto normal = db_.Exec(kSyncNormally); !normal && appended) return normal;
  return appended;
}

Status AuditTables::AppendAuditInTransaction(const AuditLinker& link) {
  return db_.InTransaction([&]() -> Status {
    if (db_.dialect() == sql::Dialect::kPostgres)  // one appender at a time across brokers
      if (auto locked = db_.Exec(kLockAudit); !locked) return locked;
    auto head = GetAuditHead();
    if (!head) return head.error();
    auto linked = link(*head);
    if (!linked) return linked.error();
    for (const auto& r : linked->first) {
      Query q(db_.Prepare(kInsertAudit));
      q.Bind(r.seq).Bind(r.at).Bind(r.owner_id).Bind(r.actor).Bind(r.kind).Bind(r.grant_id).Bind(r.detail);
      q.Bind(r.prev_hash).Bind(r.hash);
      if (q.Step() != kDone) return db_.DbError("append to the audit trail");
    }
    Query set(db_.Prepare(kSetHead));
    set.Bind(HeadText(linked->second));
    if (set.Step() != kDone) return db_.DbError("record the audit head");
    return {};
  });
}

Result<std::vector<AuditRecord>> AuditTables::ListAudit(const AuditQuery& query) {
  Query q(db_.Prepare(AuditSql(query)));
  q.Bind(query.owner_id).Bind(query.kind).Bind(query.grant_id).Bind(query.from).Bind(query.to).Bind(query.before_seq);
  q.Bind(query.limit > 0 ? query.limit : std::numeric_limits<int64_t>::max()).Bind(query.after_seq);
  std::vector<AuditRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow)
    out.push_back(AuditRecord{q.Int(0), q.Int(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5), q.Text(6), q.Text(7),
                              q.Text(8)});
  if (rc != kDone) return db_.DbError("list the audit trail");
  return out;
}

}  // namespace ap::store::tables
