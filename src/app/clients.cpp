#include "app/clients.hpp"

#include <boost/json.hpp>
#include <cstdio>

#include "api/grant_changes.hpp"
#include "app/broker.hpp"
#include "app/failure.hpp"
#include "app/record_commands.hpp"
#include "core/time.hpp"
#include "oauth/client_registration.hpp"

namespace ap::app {
namespace {

}  // namespace

int ManageClients(const Config& config, const ClientCommand& command) {
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error());
  auto store = OpenConfiguredStore(config);
  if (!store) return Fail(store.error());
  if (command.action == "list") {
    auto clients = (*store)->OAuth().ListClients();
    if (!clients) return Fail(clients.error());
    for (const auto& c : *clients) {
      std::string uris;  // a URI holds no space
      for (const auto& uri : c.redirect_uris) uris += (uris.empty() ? "" : " ") + uri;
      std::printf("%s\t%s\t%s\t%s\t%s\n", c.id.c_str(), c.name.c_str(), c.confidential ? "confidential" : "public",
                  uris.c_str(), c.device_grant ? "device grant" : "no device grant");
    }
    if (clients->empty()) std::printf("no clients yet: aipassport client add NAME --redirect-uri URI\n");
    return 0;
  }
  // Before anything changes: a change the audit trail could not take is not made.
  auto audit_key = AuditKey(config, **store);
  if (!audit_key) return Fail(audit_key.error());
  auto audit = [&](const char* kind, const std::string& id, const std::string& name,
                   boost::json::object detail = {}) -> int {
    detail["clientId"] = id;
    if (!name.empty()) detail["name"] = name;
    record::AuditEvent event{kind, "cli", "", "", boost::json::serialize(detail)};
    if (auto ok = RecordAuditEvent(config, *audit_key, **store, std::move(event)); !ok)
      return Fail(std::string("done, but the audit trail did not take it: ") + ok.error().message);
    return 0;
  };
  if (command.action == "edit") {
    if (!command.new_name && command.redirect_uris.empty() && !command.home_url_given && !command.logo_url_given &&
        command.device_grant_change.empty())
      return Misused("nothing to change: give --name, --redirect-uri, --home-url, --logo-url or --device-grant");
    auto client = (*store)->OAuth().GetClient(command.name);
    if (!client) return Fail(client.error().message + ": " + command.name);
    store::ClientRecord changed = *client;
    if (command.new_name) changed.name = *command.new_name;
    if (!command.redirect_uris.empty()) changed.redirect_uris = command.redirect_uris;
    if (command.home_url_given) changed.home_url = command.home_url;
    if (command.logo_url_given) changed.logo_url = command.logo_url;
    if (!command.device_grant_change.empty()) changed.device_grant = command.device_grant_change == "on";
    // The same checks as registering it.
    oauth::ClientRequest request{changed.name,     changed.redirect_uris, changed.home_url,
                                 changed.logo_url, changed.confidential,  changed.dpop_required};
    if (auto checked = oauth::MakeClient(request, SystemClock()()); !checked) return Fail(checked.error());
    if (auto ok = (*store)->OAuth().UpdateClient(changed); !ok) return Fail(ok.error());
    auto uris = [](const std::vector<std::string>& list) { return boost::json::array(list.begin(), list.end()); };
    boost::json::object detail{{"redirectUrisBefore", uris(client->redirect_uris)},
                               {"redirectUris", uris(changed.redirect_uris)},
                               {"deviceGrantBefore", client->device_grant},
                               {"deviceGrant", changed.device_grant}};
    if (int failed = audit("client.changed", changed.id, changed.name, std::move(detail))) return failed;
    std::printf("changed client %s\n", changed.id.c_str());
    return 0;
  }
  if (command.action == "remove") {
    if (auto client = (*store)->OAuth().GetClient(command.name); !client)
      return Fail(client.error().message + ": " + command.name);  // nothing revoked for an unknown id
    // As /apps does: its grants revoked, the app removed, then any grant it was given meanwhile;
    // each revoked recorded, whatever stops it.
    std::vector<store::GrantRecord> revoked;
    auto revoke_all = [&]() -> std::optional<Error> {
      for (;;) {
        api::RevokedPage page = api::RevokeGrantsOfClient(**store, command.name, SystemNow());
        revoked.insert(revoked.end(), page.grants.begin(), page.grants.end());
        if (page.error || !page.more) return page.error;
      }
    };
    std::optional<Error> failed = revoke_all();
    if (!failed)
      if (auto removed = (*store)->OAuth().DeleteClient(command.name); !removed) failed = removed.error();
    bool was_removed = !failed;
    if (!failed) failed = revoke_all();
    for (const auto& g : revoked)
      if (auto ok = RecordAuditEvent(config, *audit_key, **store, api::RevokedWithClient(g, command.name, "cli")); !ok)
        return Fail(std::string("done, but the audit trail did not take it: ") + ok.error().message);
    if (was_removed)
      if (int audit_failed = audit("client.removed", command.name, "", api::RemovedClientDetail(command.name, revoked)))
        return audit_failed;
    if (failed) return Fail(*failed);
    std::printf("removed client %s", command.name.c_str());
    if (revoked.size() == 1) std::printf("; revoked the grant it was given");
    if (revoked.size() > 1) std::printf("; revoked the %zu grants it was given", revoked.size());
    std::printf("\n");
    return 0;
  }
  oauth::ClientRequest request{command.name,     command.redirect_uris, command.home_url,
                               command.logo_url, command.confidential,  command.dpop_required};
  request.device_grant = command.device_grant;
  auto made = oauth::MakeClient(request, SystemClock()());
  if (!made) return Fail(made.error());
  const store::ClientRecord& client = made->record;
  const std::string& secret = made->secret;
  if (auto ok = (*store)->OAuth().CreateClient(client); !ok) return Fail(ok.error());
  // Shown as soon as it is stored: the secret exists nowhere else.
  std::printf("client_id: %s\n", client.id.c_str());
  if (command.confidential) std::printf("client_secret (shown once, keep it secret): %s\n", secret.c_str());
  std::fflush(stdout);
  if (int failed = audit("client.added", client.id, client.name, {{"deviceGrant", client.device_grant}})) return failed;
  return 0;
}

}  // namespace ap::app
