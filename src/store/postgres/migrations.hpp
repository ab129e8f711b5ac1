#pragma once
// PostgreSQL's schema migrations. Append new ones; never edit one that has shipped.

#include <span>

#include "store/sql/migrate.hpp"

namespace ap::store::postgres {

std::span<const sql::Migration> Migrations();

}  // namespace ap::store::postgres
