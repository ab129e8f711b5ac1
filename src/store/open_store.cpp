#include "store/open_store.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
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

// The URI scheme `url` starts with (RFC 3986: a letter, then letters, digits, '+', '-' or '.', then
// ':'), if it does.
std::optional<std::string_view> SchemeOf(std::string_view url) {
  size_t colon = url.find(':');
  if (colon == 0 || colon == std::string_view::npos || !std::isalpha(static_cast<unsigned char>(url[0])))
    return std::nullopt;
  for (char c : url.substr(0, colon))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return std::nullopt;
  return url.substr(0, colon);
}

// `text` with its %XX escapes decoded (a malformed one kept as it is).
std::string PercentDecoded(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
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
  auto scrub = [&](std::string_view secret) {
    for (size_t at = message.find(secret); at != std::string::npos; at = message.find(secret, at))
      message.replace(at, secret.size(), "***");
  };
  for (auto [from, to] : PasswordSpans(url)) {
    std::string_view password = url.substr(from, to - from);
    if (password.empty()) continue;
    scrub(password);
    if (password.find('%') != std::string_view::npos) scrub(PercentDecoded(password));
    // libpq splits a password that holds an unencoded '/', '@', ':', '?' or '#' and may quote a
    // piece ("invalid integer value "Xy7Qk" for connection option "port""): each piece of three
    // characters or more is scrubbed too.
    for (size_t start = 0; start < password.size();) {
      size_t end = std::min(password.find_first_of("/@:?#&=", start), password.size());
      if (end - start >= 3 && end - start < password.size()) scrub(password.substr(start, end - start));
      start = end + 1;
    }
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
  // Without "://" the password cannot be told from the rest (postgresql:/user:pw@host, or a libpq
  // keyword string, password=... host=...): only a scheme is named, if it starts with one.
  std::string shown = url.find("://") != std::string_view::npos ? "'" + RedactDatabaseUrl(url) + "'"
                      : SchemeOf(url)                           ? "starting '" + std::string(*SchemeOf(url)) + ":'"
                                                                : std::string("that is not a URL");
  return MakeError(Errc::kBadRequest, "database_url " + shown +
                                          ": expected postgresql://user:password@host:port/database or "
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
