#include "app/users.hpp"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cstdio>
#include <iostream>

#include "api/audit_events.hpp"
#include "api/grant_changes.hpp"
#include "app/admin_token.hpp"
#include "app/broker.hpp"
#include "app/failure.hpp"
#include "app/record_commands.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"
#include "crypto/password.hpp"

namespace ap::app {
namespace {

Status CheckUsername(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '@';
  });
  if (!ok) return MakeError(Errc::kValidation, "a username is 1-64 letters, digits, '.', '-', '_' or '@'");
  return {};
}

// The name of an owner that is `name` in any case ("Alice" or "alice" for "alice"), or empty.
Result<std::string> NameTakenInAnyCase(store::Store& store, const std::string& name) {
  auto owners = store.Identity().ListOwners();
  if (!owners) return owners.error();
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& o : *owners)
    if (lower(o.username) == lower(name)) return o.username;
  return std::string();
}

// An owner account changed by the CLI (usernames are checked to plain characters, safe in JSON).
record::AuditEvent OwnerEvent(std::string_view kind, const store::OwnerRecord& owner) {
  return record::AuditEvent{std::string(kind), "cli", owner.id, "", "{\"username\":\"" + owner.username + "\"}"};
}

// A removed owner's events: each grant revoked and each key deleted, as an app's removal records its
// grants, then owner.removed counting them and naming the first 100 grants.
std::vector<record::AuditEvent> RemovalEvents(store::Store& store, const store::OwnerRecord& owner,
                                              const store::IdentityStore::RemovedOwner& removed) {
  std::vector<record::AuditEvent> events;
  boost::json::object because{{"because", "owner " + owner.username + " removed"}};
  for (const auto& id : removed.revoked_grant_ids) {
    if (auto grant = store.Grants().GetGrant(id))
      events.push_back(api::GrantEvent(api::audit_kind::kGrantRevoked, "cli", *grant, because));
    else  // unread, the grant is still named
      events.push_back(record::AuditEvent{std::string(api::audit_kind::kGrantRevoked), "cli", owner.id, id,
                                          boost::json::serialize(because)});
  }
  for (const auto& key : removed.deleted_keys)
    events.push_back(api::KeyEvent(api::audit_kind::kKeyRemoved, "cli", key));
  boost::json::object detail{{"username", owner.username},
                             {"deletedKeys", static_cast<int64_t>(removed.deleted_keys.size())}};
  api::NoteRevokedGrants(detail, removed.revoked_grant_ids);
  events.push_back(record::AuditEvent{std::string(api::audit_kind::kOwnerRemoved), "cli", owner.id, "",
                                      boost::json::serialize(detail)});
  return events;
}

}  // namespace

std::string ReadLineQuietly(const char* prompt) {
  std::fprintf(stderr, "%s", prompt);
  termios before{};
  tcgetattr(STDIN_FILENO, &before);
  termios quiet = before;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::string line;
  std::getline(std::cin, line);
  tcsetattr(STDIN_FILENO, TCSANOW, &before);
  std::fprintf(stderr, "\n");
  return line;
}

namespace {

// The new password: the first line of stdin, or typed twice on the terminal.
Result<std::string> ReadPassword(bool from_stdin) {
  if (from_stdin) {
    std::string line;
    if (!std::getline(std::cin, line)) return MakeError(Errc::kBadRequest, "no password on stdin");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  if (!isatty(STDIN_FILENO))
    return MakeError(Errc::kBadRequest, "stdin is not a terminal: give the password with --password-stdin");
  std::string first = ReadLineQuietly("New password: ");
  std::string second = ReadLineQuietly("Repeat it: ");
  if (first != second) return MakeError(Errc::kBadRequest, "the two passwords differ");
  return first;
}

Result<std::string> NewPasswordHash(bool from_stdin) {
  auto password = ReadPassword(from_stdin);
  if (!password) return password.error();
  return crypto::HashPassword(*password);
}

}  // namespace

int ManageUsers(const Config& config, const UserCommand& command) {
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error());
  auto store = OpenConfiguredStore(config);
  if (!store) return Fail(store.error());
  if (command.action == "list") {
    auto owners = (*store)->Identity().ListOwners();
    if (!owners) return Fail(owners.error());
    for (const auto& o : *owners)
      std::printf("%s\t(since %s)\n", o.username.c_str(), FormatIso8601(o.created_at).c_str());
    if (owners->empty()) std::printf("no owners yet: aipassport user add NAME\n");
    return 0;
  }
  if (auto ok = CheckUsername(command.username); !ok) return Fail(ok.error());
  if (command.action == "remove") {
    if (command.username == kOperatorName)
      return Misused("the operator's account cannot be removed: the owner token acts for it");
    auto owner = (*store)->Identity().GetOwnerByName(command.username);
    if (!owner) return Fail(owner.error());
    auto audit_key = AuditKey(config, **store);  // before anything changes, as for passwd
    if (!audit_key) return Fail(audit_key.error());
    auto removed = (*store)->Identity().DeleteOwner(command.username);
    if (!removed) return Fail(removed.error());
    if (auto ok = RecordAuditEvents(config, *audit_key, **store, RemovalEvents(**store, *owner, *removed)); !ok)
      return Fail("the owner was removed, but the audit trail did not take it: " + ok.error().message);
    std::printf("removed %s: their grants are revoked, their provider keys deleted and their sessions ended\n",
                command.username.c_str());
    return 0;
  }
  if (command.action == "add" || command.action == "passwd") {
    std::optional<store::OwnerRecord> existing;
    if (command.action == "passwd") {
      auto owner = (*store)->Identity().GetOwnerByName(command.username);
      if (!owner) return Fail(owner.error());
      existing = *owner;
    }
    if (command.action == "add") {  // before the password is asked for
      auto taken = NameTakenInAnyCase(**store, command.username);
      if (!taken) return Fail(taken.error());
      if (!taken->empty())
        return Misused(*taken == command.username ? "an owner named '" + *taken + "' already exists"
                                                  : "an owner named '" + *taken +
                                                        "' exists: names differing only in case would be mistaken for "
                                                        "each other");
    }
    // Before anything changes: a change the audit trail could not take is not made.
    auto audit_key = AuditKey(config, **store);
    if (!audit_key) return Fail(audit_key.error());
    auto hash = NewPasswordHash(command.password_stdin);
    if (!hash) return Fail(hash.error());
    if (command.action == "add") {
      store::OwnerRecord owner{RandomUuid(), command.username, *hash, SystemClock()()};
      if (auto ok = (*store)->Identity().CreateOwner(owner); !ok) return Fail(ok.error());
      if (auto ok = RecordAuditEvent(config, *audit_key, **store, OwnerEvent(api::audit_kind::kOwnerAdded, owner)); !ok)
        return Fail("the owner was added, but the audit trail did not take it: " + ok.error().message);
      std::printf("added %s\n", command.username.c_str());
    } else {
      if (auto ok = (*store)->Identity().SetOwnerPassword(command.username, *hash); !ok) return Fail(ok.error());
      if (auto ok = RecordAuditEvent(config, *audit_key, **store,
                                     OwnerEvent(api::audit_kind::kOwnerPasswordChanged, *existing));
          !ok)
        return Fail("the password was changed, but the audit trail did not take it: " + ok.error().message);
      std::printf("changed the password of %s; their sessions have ended\n", command.username.c_str());
    }
    return 0;
  }
  return Misused("unknown user action '" + command.action + "'");
}

}  // namespace ap::app
