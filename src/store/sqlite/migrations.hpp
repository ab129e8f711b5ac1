#pragma once
// SQLite's schema migrations. Append new ones; never edit one that has shipped.

#include <span>

#include "store/sql/migrate.hpp"

namespace ap::store::sqlite {

using sql::Migration;

std::span<const Migration> Migrations();

}  // namespace ap::store::sqlite
