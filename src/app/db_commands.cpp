#include "app/db_commands.hpp"

#include <cstdio>
#include <filesystem>

#include "app/broker.hpp"
#include "store/copy.hpp"
#include "store/open_store.hpp"

namespace ap::app {

int MigrateDatabase(const Config& config) {
  auto store = OpenConfiguredStore(config);
  if (!store) {
    std::fprintf(stderr, "aipassport: %s\n", store.error().message.c_str());
    return 1;
  }
  auto version = (*store)->SchemaVersion();
  if (!version) {
    std::fprintf(stderr, "aipassport: %s\n", version.error().message.c_str());
    return 1;
  }
  std::string where = config.database_url.empty() ? (config.data_dir / "aipassport.db").string()
                                                  : store::RedactDatabaseUrl(config.database_url);
  std::printf("%s is at schema version %lld, the newest this aipassport knows\n", where.c_str(),
              static_cast<long long>(*version));
  return 0;
}

int CopyDatabase(const std::string& from_url, const std::string& to_url, bool to_on_command_line) {
  // Either URL must name a database explicitly: no data directory default here.
  auto from = from_url.empty() ? Result<store::DatabaseTarget>(MakeError(Errc::kBadRequest, "--from is required"))
                               : store::ParseDatabaseUrl(from_url, "");
  auto to = to_url.empty() ? Result<store::DatabaseTarget>(MakeError(
                                 Errc::kBadRequest, "give the database to copy into: --to, or AIPASSPORT_DATABASE_URL"))
                           : store::ParseDatabaseUrl(to_url, "");
  for (const auto* bad : {&from, &to})
    if (!*bad) {
      std::fprintf(stderr, "aipassport: %s\n", bad->error().message.c_str());
      return 2;
    }
  std::error_code ec;
  if (from->backend == store::Backend::kSqlite && !std::filesystem::exists(from->location, ec)) {
    std::fprintf(stderr, "aipassport: no database at %s (check --from)\n", from->location.c_str());
    return 2;
  }
  if (from->backend == to->backend && from->location == to->location) {
    std::fprintf(stderr, "aipassport: --from and --to name the same database\n");
    return 2;
  }
  bool password_on_command_line = store::RedactDatabaseUrl(from_url) != from_url ||
                                  (to_on_command_line && store::RedactDatabaseUrl(to_url) != to_url);
  if (password_on_command_line)
    std::fprintf(stderr,
                 "aipassport: warning: a password on the command line can be read by every user of this host while "
                 "the copy runs, and stays in your shell's history: give the URL in AIPASSPORT_DATABASE_URL instead, "
                 "or the password in PGPASSWORD or ~/.pgpass\n");
  std::printf("copying %s into %s\n", store::RedactDatabaseUrl(from_url).c_str(), store::RedactDatabaseUrl(to_url).c_str());
  auto copied = store::CopyDatabase(*from, *to, [](const std::string& table) {
    std::printf("  %s...\n", table.c_str());
    std::fflush(stdout);
  });
  if (!copied) {
    std::fprintf(stderr, "aipassport: nothing was copied: %s\n", copied.error().message.c_str());
    return 1;
  }
  std::printf("copied and verified (rows in both databases):\n");
  for (const auto& table : *copied) std::printf("  %-20s %lld\n", table.name.c_str(), static_cast<long long>(table.rows));
  std::printf("point the brokers at %s (database_url) and start them\n", store::RedactDatabaseUrl(to_url).c_str());
  return 0;
}

}  // namespace ap::app
