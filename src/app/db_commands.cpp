#include "app/db_commands.hpp"

#include <cstdio>

#include "app/broker.hpp"
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

}  // namespace ap::app
