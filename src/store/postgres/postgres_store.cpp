#include "store/postgres/postgres_store.hpp"

#include "store/postgres/connection.hpp"
#include "store/postgres/migrations.hpp"
#include "store/tables/sql_store.hpp"

namespace ap::store {

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  auto connection = postgres::Connection::Open(url);
  if (!connection) return connection.error();
  return OpenSqlStore(std::move(*connection), postgres::Migrations());
}

}  // namespace ap::store
