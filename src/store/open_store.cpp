#include "store/open_store.hpp"

#include <algorithm>
#include <vector>

#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::store {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite://";

// Where `url` holds a password: from the first ':' after "user" in the authority up to its last
// '@' (a password may hold '/', '@' or '?' that a parser would split differently), and in
// password=... query parameters.
std::vector<std::pair<size_t, size_t>> PasswordSpans(std::string_view url) {
  std::vector<std::pair<size_t, size_t>> spans;
  if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    size_t start = scheme + 3;
    size_t at = url.rfind('@');
    size_t colon = url.find(':', start);
    if (at != std::string_view::npos && at > start && colon < at) spans.push_back({colon + 1, at});
  }
  for (size_t key = url.find("password="); key != std::string_view::npos; key = url.find("password=", key + 1)) {
    size_t end = url.find_first_of("& ", key + 9);
    spans.push_back({key + 9, end == std::string_view::npos ? url.size() : end});
  }
  std::sort(spans.begin(), spans.end());
  return spans;
}

}  // namespace

std::string RedactDatabaseUrl(std::string_view url) {
  std::vector<std::pair<size_t, size_t>> merged;  // spans may overlap: one "***" for each run
  for (auto span : PasswordSpans(url)) {
    if (!merged.empty() && span.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, span.second);
    else
      merged.push_back(span);
  }
  std::string out(url);
  for (auto it = merged.rbegin(); it != merged.rend(); ++it) out.replace(it->first, it->second - it->first, "***");
  return out;
}

std::string ScrubDatabasePassword(std::string message, std::string_view url) {
  for (auto [from, to] : PasswordSpans(url)) {
    std::string password(url.substr(from, to - from));
    if (password.empty()) continue;
    for (size_t at = message.find(password); at != std::string::npos; at = message.find(password, at))
      message.replace(at, password.size(), "***");
  }
  return message;
}

Result<DatabaseTarget> ParseDatabaseUrl(std::string_view url, const std::filesystem::path& default_sqlite_file) {
  if (url.empty()) return DatabaseTarget{Backend::kSqlite, default_sqlite_file.string()};
  if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
    return DatabaseTarget{Backend::kPostgres, std::string(url)};
  if (url.starts_with(kSqliteScheme)) {
    std::string_view path = url.substr(kSqliteScheme.size());
    if (!path.starts_with("/") || path.size() < 2)
      return MakeError(Errc::kBadRequest, "database_url '" + RedactDatabaseUrl(url) +
                                              "': a SQLite URL is sqlite:/// and an absolute path "
                                              "(sqlite:///var/lib/aipassport/aipassport.db)");
    return DatabaseTarget{Backend::kSqlite, std::string(path)};
  }
  return MakeError(Errc::kBadRequest, "database_url '" + RedactDatabaseUrl(url) +
                                          "': expected postgresql://user:password@host:port/database or "
                                          "sqlite:///absolute/path/file.db");
}

Result<std::unique_ptr<Store>> OpenStore(const DatabaseTarget& target) {
  if (target.backend == Backend::kPostgres) {
    auto store = OpenPostgresStore(target.location);
    // libpq may quote a malformed part of the URL: never the password.
    if (!store)
      return MakeError(store.error().code, RedactDatabaseUrl(target.location) + ": " +
                                               ScrubDatabasePassword(store.error().message, target.location));
    return store;
  }
  return OpenSqliteStore(target.location);
}

}  // namespace ap::store
