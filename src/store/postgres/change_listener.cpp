#include "store/postgres/change_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "store/open_store.hpp"
#include "store/postgres/libpq.hpp"

namespace ap::store::postgres {

struct ChangeListener::Session {
  struct Close {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  std::unique_ptr<PGconn, Close> conn;
  std::string schema;  // whose changes ring: AppendChange's payload
  std::string error;  // why it could not listen (libpq's words, the password scrubbed)
};

namespace {

constexpr int kRetryMilliseconds = 1000;
// A connection silent this long is asked whether it still lives (PQconsumeInput notices a close).
constexpr int kCheckMilliseconds = 10000;

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::unique_ptr<ChangeListener::Session> ChangeListener::Listen(const std::string& url) {
  auto session = std::make_unique<ChangeListener::Session>();
  if (auto loaded = LoadLibPq(); !loaded) {
    session->error = loaded.error().message;
    return session;
  }
  session->conn.reset(Connect(url));
  PGconn* conn = session->conn.get();
  if (!conn) {
    session->error = "out of memory";
    return session;
  }
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    session->error = ScrubDatabasePassword(Trimmed(PQerrorMessage(conn)), url);
    session->conn.reset();
    return session;
  }
  std::string listen = std::string("LISTEN ") + kChangeChannel + "; SELECT COALESCE(current_schema(), '')";
  PGresult* result = PQexec(conn, listen.c_str());  // the last statement's result
  bool listening = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1;
  if (listening)
    session->schema = PQgetvalue(result, 0, 0);
  else
    session->error = ScrubDatabasePassword(Trimmed(PQresultErrorMessage(result)), url);
  PQclear(result);
  if (!listening) session->conn.reset();
  return session;
}

Result<std::unique_ptr<ChangeListener>> ChangeListener::Start(const std::string& url, std::function<void()> ring) {
  auto session = Listen(url);
  if (!session->conn) return MakeError(Errc::kUnavailable, "cannot listen for changes on PostgreSQL: " + session->error);
  return std::unique_ptr<ChangeListener>(new ChangeListener(url, std::move(ring), std::move(session)));
}

ChangeListener::ChangeListener(std::string url, std::function<void()> ring, std::unique_ptr<Session> session)
    : url_(std::move(url)), ring_(std::move(ring)), session_(std::move(session)) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ap-listen");  // for top -H and perf
    Run();
  });
}

ChangeListener::~ChangeListener() {
  uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void ChangeListener::Run() {
  for (;;) {
    if (!session_ || !session_->conn) {
      pollfd stop{stop_fd_, POLLIN, 0};
      if (::poll(&stop, 1, kRetryMilliseconds) > 0) return;
      session_ = Listen(url_);
      if (session_->conn) ring_();
      continue;
    }
    PGconn* conn = session_->conn.get();
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int ready = ::poll(fds, 2, kCheckMilliseconds);
    if (ready < 0 && errno == EINTR) continue;
    if (fds[1].revents != 0) return;
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
      session_.reset();
      continue;
    }
    bool rung = false;
    while (PGnotify* note = PQnotifies(conn)) {
      // A broker of an older version notifies with no payload: it may be of this schema.
      rung = rung || session_->schema == note->extra || *note->extra == '\0';
      PQfreemem(note);
    }
    if (rung) ring_();
  }
}

}  // namespace ap::store::postgres
