#include "store/open_store.hpp"

#include <vector>

#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::store {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite://";

// Where `url` holds a password: after "user:" in the authority, and in password=... parameters.
std::vector<std::pair<size_t, size_t>> PasswordSpans(std::string_view url) {
  std::vector<std::pair<size_t, size_t>> spans;
  if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    size_t start = scheme + 3;
    size_t at = url.find('@', start);
    size_t colon = url.find(':', start);
    if (at != std::string_view::npos && url.find('/', start) > at && colon < at) spans.push_back({colon + 1, at});
  }
  for (size_t key = url.find("password="); key != std::string_view::npos; key = url.find("password=", key + 1)) {
    size_t end = url.find_first_of("& ", key + 9);
    spans.push_back({key + 9, end == std::string_view::npos ? url.size() : end});
  }
  return spans;
}

}  // namespace

std::string RedactDatabaseUrl(std::string_view url) {
  std::string out(url);
  auto spans = PasswordSpans(url);
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) out.replace(it->first, it->second - it->first, "***");
  return out;
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
    if (!store) {
      std::string message = store.error().message;
      // libpq may quote a malformed part of the URL: never the password.
      for (auto [from, to] : PasswordSpans(target.location)) {
        std::string password = target.location.substr(from, to - from);
        if (password.empty()) continue;
        for (size_t at = message.find(password); at != std::string::npos; at = message.find(password, at))
          message.replace(at, password.size(), "***");
      }
      return MakeError(store.error().code, RedactDatabaseUrl(target.location) + ": " + message);
    }
    return store;
  }
  return OpenSqliteStore(target.location);
}

}  // namespace ap::store
