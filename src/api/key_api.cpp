#include "api/key_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "core/ids.hpp"
#include "domain/scope.hpp"
#include "http/exchange.hpp"
#include "http/response.hpp"

namespace ap::api {
namespace json = boost::json;
using boost::asio::awaitable;
using http::PathParams;
using http::Request;
using http::Response;
using http::StatusCode;

namespace {

constexpr size_t kMaxLabel = 40;
constexpr size_t kMinKey = vault::kMinHintedKey;  // a vault key is always hinted
constexpr size_t kMaxKey = 512;

json::value TimeOrNull(std::optional<UnixSeconds> at) {
  return at && *at > 0 ? json::value(FormatIso8601(*at)) : json::value(nullptr);
}

json::object KeyToJson(const store::ProviderKeyRecord& key) {
  return {{"id", key.id},
          {"provider", key.provider},
          {"label", key.label},
          {"hint", key.hint},
          {"source", "vault"},
          {"createdAt", FormatIso8601(key.created_at)},
          {"lastUsedAt", TimeOrNull(key.last_used_at)}};
}

json::object EnvironmentKeyToJson(const vault::HeldKey& key) {
  return {{"id", "environment-" + key.provider},
          {"provider", key.provider},
          {"label", key.label},
          {"hint", vault::KeyHint(key.secret)},
          {"source", "environment"},
          {"createdAt", nullptr},
          {"lastUsedAt", TimeOrNull(key.last_used_at.load(std::memory_order_relaxed))}};
}

class KeyApi {
 public:
  explicit KeyApi(BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> List(Request& req, const PathParams&, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    std::string owner = ActingOwner(ctx_, *caller);
    auto list = [owner](store::Store& s) { return s.Keys().ListKeys(owner); };
    auto keys = co_await OnStore(ctx_, std::move(list));
    if (!keys) co_return http::ErrorResponse(keys.error());
    json::array items;
    for (const auto& key : *keys) items.push_back(KeyToJson(key));
    for (const auto& endpoint : ctx_.upstream.Table().endpoints)
      if (auto env = ctx_.vault.EnvironmentKey(owner, endpoint.name)) items.push_back(EnvironmentKeyToJson(*env));
    co_return http::JsonResponse(StatusCode::ok, json::object{{"keys", std::move(items)}});
  }

  awaitable<Response> Add(Request& req, const PathParams&, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    auto fields = ReadNewKey(req.body());
    if (!fields) co_return http::ErrorResponse(fields.error());
    std::string owner = ActingOwner(ctx_, *caller);
    auto record = ctx_.vault.Seal(RandomUuid(), owner, fields->provider, fields->label, fields->key, ctx_.clock());
    auto put = [record, &vault = ctx_.vault, key = fields->key](store::Store& s) {
      return StoreKey(s, vault, record, key);
    };
    auto replaced = co_await OnStore(ctx_, std::move(put));
    if (!replaced) co_return http::ErrorResponse(replaced.error());
    ctx_.audit.Record(KeyEvent(*replaced ? audit_kind::kKeyRotated : audit_kind::kKeyAdded, ActorOf(*caller), record));
    spdlog::info("owner {} {} a {} key labelled '{}' (…{})", owner, *replaced ? "replaced" : "added", record.provider,
                 record.label, record.hint);
    co_return http::JsonResponse(StatusCode::created, KeyToJson(record));
  }

  awaitable<Response> Remove(Request& req, const PathParams& params, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    std::string owner = ActingOwner(ctx_, *caller);
    std::string id(params.Get("id"));
    if (id.starts_with("environment-"))
      co_return http::ErrorResponse(Errc::kBadRequest,
                                    "This key comes from the broker's environment; the operator removes it there");
    auto remove = [owner, id](store::Store& s) -> Result<store::ProviderKeyRecord> {
      auto key = s.Keys().GetKey(id);
      if (!key) return key.error();
      if (key->owner_id != owner) return MakeError(Errc::kNotFound, "Key not found");
      if (auto deleted = s.Keys().DeleteKey(id); !deleted) return deleted.error();
      return key;
    };
    auto removed = co_await OnStore(ctx_, std::move(remove));
    if (!removed) co_return http::ErrorResponse(removed.error());
    ctx_.vault.Remove(id);
    ctx_.audit.Record(KeyEvent(audit_kind::kKeyRemoved, ActorOf(*caller), *removed));
    spdlog::info("owner {} removed key {}", owner, id);
    co_return Response(StatusCode::no_content, req.version());
  }

 private:
  struct NewKey {
    std::string provider;
    std::string label;
    std::string key;
  };

  Result<NewKey> ReadNewKey(std::string_view body) const {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return MakeError(Errc::kBadRequest, "Request body must be a JSON object");
    const json::object& o = v.get_object();
    NewKey out;
    const auto* provider = o.if_contains("provider");
    const proxy::ProviderEndpoint* endpoint =
        provider && provider->is_string() ? ctx_.upstream.Table().Find(provider->get_string()) : nullptr;
    if (!endpoint || endpoint->keyless)
      return FieldInvalid("provider", "Expected one of: " + domain::JoinForHumans(KeyedProviders()));
    out.provider = provider->get_string();
    out.label = std::string(kDefaultKeyLabel);
    if (const auto* label = o.if_contains("label"); label && !label->is_null()) {
      if (!label->is_string()) return FieldInvalid("label", "Expected a string");
      out.label = label->get_string();
    }
    const auto* key = o.if_contains("key");
    if (!key || !key->is_string()) return FieldInvalid("key", "Required: the provider's API key, as a string");
    out.key = key->get_string();
    if (auto ok = CheckNewKey(out.label, out.key); !ok) return ok.error();
    return out;
  }

  // The providers a key may be kept for: not a declared server that takes none.
  std::vector<std::string> KeyedProviders() const {
    std::vector<std::string> names;
    for (const auto& endpoint : ctx_.upstream.Table().endpoints)
      if (!endpoint.keyless) names.push_back(endpoint.name);
    return names;
  }

  BrokerContext& ctx_;
};

}  // namespace

Result<std::optional<std::string>> StoreKey(store::Store& s, vault::Vault& vault,
                                            const store::ProviderKeyRecord& record, std::string_view secret) {
  auto replaced = s.Keys().PutKey(record);
  if (replaced) vault.Put(record, secret);
  return replaced;
}

Status CheckNewKey(std::string_view label, std::string_view key) {
  bool label_ok = !label.empty() && label.size() <= kMaxLabel && std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ' ';
  });
  if (!label_ok || label.front() == ' ' || label.back() == ' ')
    return FieldInvalid("label", "Expected 1 to " + std::to_string(kMaxLabel) + " letters, digits, spaces and . - _");
  bool key_ok = key.size() >= kMinKey && key.size() <= kMaxKey &&
                std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (!key_ok)
    return FieldInvalid("key", "Expected the provider's API key: " + std::to_string(kMinKey) + " to " +
                              std::to_string(kMaxKey) + " printable characters without spaces");
  return {};
}

void AddKeyRoutes(http::Router& router, BrokerContext& ctx) {
  auto api = std::make_shared<KeyApi>(ctx);
  using V = http::Verb;
  router.Add(V::get, "/keys", http::BindMethod<&KeyApi::List>(api));
  router.Add(V::post, "/keys", http::BindMethod<&KeyApi::Add>(api));
  router.Add(V::delete_, "/keys/:id", http::BindMethod<&KeyApi::Remove>(api));
}

}  // namespace ap::api
