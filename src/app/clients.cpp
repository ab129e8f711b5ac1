#include "app/clients.hpp"

#include <cstdio>

#include "app/broker.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"
#include "crypto/hash.hpp"
#include "http/url.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::app {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "aipassport: %s\n", message.c_str());
  return 1;
}

// https anywhere; plain http only to loopback (native apps, RFC 8252); no fragment.
Status CheckRedirectUri(const std::string& uri) {
  bool loopback = uri.starts_with("http://127.0.0.1") || uri.starts_with("http://[::1]");
  if (!uri.starts_with("https://") && !loopback)
    return MakeError(Errc::kValidation, "redirect URI '" + uri + "' must be https, or http on 127.0.0.1 or [::1]");
  if (uri.find('#') != std::string::npos)
    return MakeError(Errc::kValidation, "redirect URI '" + uri + "' has a fragment");
  return {};
}

}  // namespace

int ManageClients(const Config& config, const ClientCommand& command) {
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error().message);
  auto store = store::OpenSqliteStore(config.data_dir / "aipassport.db");
  if (!store) return Fail(store.error().message);
  if (command.action == "list") {
    auto clients = (*store)->ListClients();
    if (!clients) return Fail(clients.error().message);
    for (const auto& c : *clients)
      std::printf("%s\t%s\t%s\t%zu redirect URI(s)\n", c.id.c_str(), c.name.c_str(),
                  c.confidential ? "confidential" : "public", c.redirect_uris.size());
    if (clients->empty()) std::printf("no clients yet: aipassport client add NAME --redirect-uri URI\n");
    return 0;
  }
  if (command.action == "remove") {
    if (auto ok = (*store)->DeleteClient(command.name); !ok) return Fail(ok.error().message);
    std::printf("removed client %s\n", command.name.c_str());
    return 0;
  }
  if (command.name.empty() || command.name.size() > 200) return Fail("a client needs a name of at most 200 characters");
  if (command.redirect_uris.empty()) return Fail("give at least one --redirect-uri");
  for (const auto& uri : command.redirect_uris)
    if (auto ok = CheckRedirectUri(uri); !ok) return Fail(ok.error().message);
  for (const auto* url : {&command.home_url, &command.logo_url})
    if (!url->empty() && !url->starts_with("https://") && !url->starts_with("http://"))
      return Fail("'" + *url + "' is not an http(s) URL");
  store::ClientRecord client{
      "app_" + RandomToken(12), command.name, command.home_url,      command.logo_url, command.redirect_uris,
      command.confidential,     "",           command.dpop_required, SystemClock()()};
  std::string secret;
  if (command.confidential) {
    secret = RandomToken(32);
    client.secret_hash = crypto::Sha256Hex(secret);
  }
  if (auto ok = (*store)->CreateClient(client); !ok) return Fail(ok.error().message);
  std::printf("client_id: %s\n", client.id.c_str());
  if (command.confidential) std::printf("client_secret (shown once, keep it secret): %s\n", secret.c_str());
  return 0;
}

}  // namespace ap::app
