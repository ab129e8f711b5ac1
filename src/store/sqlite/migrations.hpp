#pragma once
// Versioned schema migrations. Append new ones; never edit one that has shipped.

#include <span>

namespace ap::store::sqlite {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

std::span<const Migration> Migrations();

}  // namespace ap::store::sqlite
