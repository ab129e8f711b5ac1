// The PQ functions the store calls, forwarding to libpq loaded on first use (see libpq.hpp). Their
// definitions here are hidden, so they never stand in for libpq's own inside libpq. <stdio.h>,
// which libpq-fe.h includes, comes first, so that only libpq's declarations are hidden.
#include <cstdio>

#pragma GCC visibility push(hidden)
#include <libpq-fe.h>
#pragma GCC visibility pop

#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include "store/postgres/libpq.hpp"

namespace ap::store::postgres {
namespace {

#define AP_LIBPQ_FUNCTIONS(X) \
  X(PQconnectdb)              \
  X(PQconnectdbParams)        \
  X(PQstatus)                 \
  X(PQfinish)                 \
  X(PQreset)                  \
  X(PQsocket)                 \
  X(PQerrorMessage)           \
  X(PQsetNoticeProcessor)     \
  X(PQexec)                   \
  X(PQprepare)                \
  X(PQexecPrepared)           \
  X(PQgetResult)              \
  X(PQresultStatus)           \
  X(PQresultErrorMessage)     \
  X(PQresultErrorField)       \
  X(PQntuples)                \
  X(PQgetvalue)               \
  X(PQgetlength)              \
  X(PQgetisnull)              \
  X(PQcmdStatus)              \
  X(PQcmdTuples)              \
  X(PQclear)                  \
  X(PQputCopyData)            \
  X(PQputCopyEnd)             \
  X(PQconsumeInput)           \
  X(PQnotifies)               \
  X(PQfreemem)

struct LibPq {
#define AP_LIBPQ_POINTER(name) decltype(&::name) name = nullptr;
  AP_LIBPQ_FUNCTIONS(AP_LIBPQ_POINTER)
#undef AP_LIBPQ_POINTER
  std::string error;  // why it could not be loaded; empty once it is
};

LibPq Load() {
  LibPq lib;
  // Never closed: the library stays for the life of the process, as a linked one would.
  void* handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    lib.error = std::string("PostgreSQL needs libpq 5 (Debian's libpq5): ") + (why ? why : "not found");
    return lib;
  }
#define AP_LIBPQ_RESOLVE(name)                                                                 \
  lib.name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name));                        \
  if (!lib.name) {                                                                             \
    lib.error = "the libpq found (libpq.so.5) has no " #name ": it is too old for this broker"; \
    return lib;                                                                                \
  }
  AP_LIBPQ_FUNCTIONS(AP_LIBPQ_RESOLVE)
#undef AP_LIBPQ_RESOLVE
  return lib;
}

const LibPq& Lib() {
  static const LibPq lib = Load();
  return lib;
}

// The loaded library, for a PQ function. Only a connection opened through it reaches one, so a
// library that could not be loaded is a bug in the caller.
const LibPq& Loaded() {
  const LibPq& lib = Lib();
  if (!lib.error.empty()) throw std::logic_error(lib.error);
  return lib;
}

}  // namespace

Status LoadLibPq() {
  const LibPq& lib = Lib();
  if (!lib.error.empty()) return MakeError(Errc::kUnavailable, lib.error);
  return {};
}

pg_conn* Connect(const std::string& url) {
  // The URL comes last: with expand_dbname, its settings apply where it stands, over those before.
  static constexpr const char* kKeywords[] = {
      "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "dbname",          nullptr};
  const char* values[] = {"5", "1", "10", "5", "3", "30000", url.c_str(), nullptr};
  return PQconnectdbParams(kKeywords, values, 1);
}

}  // namespace ap::store::postgres

using ap::store::postgres::Loaded;

extern "C" {
PGconn* PQconnectdb(const char* conninfo) { return Loaded().PQconnectdb(conninfo); }
PGconn* PQconnectdbParams(const char* const* keywords, const char* const* values, int expand_dbname) {
  return Loaded().PQconnectdbParams(keywords, values, expand_dbname);
}
ConnStatusType PQstatus(const PGconn* conn) { return Loaded().PQstatus(conn); }
void PQfinish(PGconn* conn) { Loaded().PQfinish(conn); }
void PQreset(PGconn* conn) { Loaded().PQreset(conn); }
int PQsocket(const PGconn* conn) { return Loaded().PQsocket(conn); }
char* PQerrorMessage(const PGconn* conn) { return Loaded().PQerrorMessage(conn); }
PQnoticeProcessor PQsetNoticeProcessor(PGconn* conn, PQnoticeProcessor proc, void* arg) {
  return Loaded().PQsetNoticeProcessor(conn, proc, arg);
}
PGresult* PQexec(PGconn* conn, const char* query) { return Loaded().PQexec(conn, query); }
PGresult* PQprepare(PGconn* conn, const char* name, const char* query, int n, const Oid* types) {
  return Loaded().PQprepare(conn, name, query, n, types);
}
PGresult* PQexecPrepared(PGconn* conn, const char* name, int n, const char* const* values, const int* lengths,
                         const int* formats, int result_format) {
  return Loaded().PQexecPrepared(conn, name, n, values, lengths, formats, result_format);
}
PGresult* PQgetResult(PGconn* conn) { return Loaded().PQgetResult(conn); }
ExecStatusType PQresultStatus(const PGresult* res) { return Loaded().PQresultStatus(res); }
char* PQresultErrorMessage(const PGresult* res) { return Loaded().PQresultErrorMessage(res); }
char* PQresultErrorField(const PGresult* res, int code) { return Loaded().PQresultErrorField(res, code); }
int PQntuples(const PGresult* res) { return Loaded().PQntuples(res); }
char* PQgetvalue(const PGresult* res, int row, int field) { return Loaded().PQgetvalue(res, row, field); }
int PQgetlength(const PGresult* res, int row, int field) { return Loaded().PQgetlength(res, row, field); }
int PQgetisnull(const PGresult* res, int row, int field) { return Loaded().PQgetisnull(res, row, field); }
char* PQcmdStatus(PGresult* res) { return Loaded().PQcmdStatus(res); }
char* PQcmdTuples(PGresult* res) { return Loaded().PQcmdTuples(res); }
void PQclear(PGresult* res) { Loaded().PQclear(res); }
int PQputCopyData(PGconn* conn, const char* buffer, int bytes) { return Loaded().PQputCopyData(conn, buffer, bytes); }
int PQputCopyEnd(PGconn* conn, const char* error) { return Loaded().PQputCopyEnd(conn, error); }
int PQconsumeInput(PGconn* conn) { return Loaded().PQconsumeInput(conn); }
PGnotify* PQnotifies(PGconn* conn) { return Loaded().PQnotifies(conn); }
void PQfreemem(void* ptr) { Loaded().PQfreemem(ptr); }
}
