#pragma once
// Wakes a broker's change follower as soon as another connection commits a change: PostgreSQL's
// LISTEN/NOTIFY on a connection of its own, waited on by a thread of its own. It is only a bell:
// the change table stays the truth and the follower still polls it, so a lost notification (the
// connection broke; the database restarted) delays a change by one poll, never loses it. Nothing on
// a call's path sends or waits for a notification.
// Thread-safety: the bell is rung from the listener's thread; construct and destroy on one thread.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/error.hpp"

namespace ap::store::postgres {

// The channel AppendChange notifies in the change's transaction (delivered when it commits), with
// the schema the change was made in as the payload; a listener rings only for its own schema (and
// for none: a broker of a version before the payload).
inline constexpr const char* kChangeChannel = "aipassport_changes";

class ChangeListener {
 public:
  // Listens on `url` (a libpq URI) and calls `ring` after each notification, and once after each
  // (re)connection (changes may have been committed while it was away). A connection that breaks
  // is made again every second. Fails only when the first connection cannot be made.
  static Result<std::unique_ptr<ChangeListener>> Start(const std::string& url, std::function<void()> ring);
  ~ChangeListener();
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

 private:
  struct Session;
  // A connection listening on the channel, or one without a connection saying why not.
  static std::unique_ptr<Session> Listen(const std::string& url);
  ChangeListener(std::string url, std::function<void()> ring, std::unique_ptr<Session> session);
  void Run();

  std::string url_;
  std::function<void()> ring_;
  std::unique_ptr<Session> session_;
  int stop_fd_ = -1;  // an eventfd: written to stop the thread at once
  std::thread thread_;
};

}  // namespace ap::store::postgres
