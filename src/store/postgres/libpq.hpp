#pragma once
// libpq is loaded when the first PostgreSQL connection opens, not when the broker starts: a broker
// on SQLite never maps it, nor the twenty libraries it brings (GnuTLS, Kerberos, LDAP, SASL...),
// about 3.5 MB of resident memory (issue 13's idle RSS). The PQ functions this store calls are
// defined in libpq.cpp, hidden inside the binary, and forward to the library once it is loaded;
// the code that calls them includes <libpq-fe.h> and calls them as usual.

#include <string>

#include "core/error.hpp"

struct pg_conn;  // libpq's PGconn

namespace ap::store::postgres {

// PQconnectdb, with bounds on the client's side of the connection that libpq leaves unset: a
// server that never answers a connection (5 s), and a connection whose peer went away without a
// word (a partition, a failover to another address) noticed within about 30 s by TCP keepalives
// and the kernel's limit on unacknowledged data, rather than after the system's two hours; until
// then the store thread waits in libpq. The URL's own settings of these win.
pg_conn* Connect(const std::string& url);

// Loads libpq (libpq.so.5) once, from any thread. The error names what is missing. Every PQ
// function loads it too, so this is only the way to be told why it cannot be.
Status LoadLibPq();

}  // namespace ap::store::postgres
