#pragma once
// libpq is loaded when the first PostgreSQL connection opens, not when the broker starts: a broker
// on SQLite never maps it, nor the twenty libraries it brings (GnuTLS, Kerberos, LDAP, SASL...),
// about 3.5 MB of resident memory (issue 13's idle RSS). The PQ functions this store calls are
// defined in libpq.cpp, hidden inside the binary, and forward to the library once it is loaded;
// the code that calls them includes <libpq-fe.h> and calls them as usual.

#include "core/error.hpp"

namespace ap::store::postgres {

// Loads libpq (libpq.so.5) once, from any thread. The error names what is missing. Every PQ
// function loads it too, so this is only the way to be told why it cannot be.
Status LoadLibPq();

}  // namespace ap::store::postgres
