#pragma once
// RFC 8707 resource indicators: which of the broker's protected resources (api/protected_resources.hpp)
// an OAuth request asks a token for. The token's `aud` is what was asked and granted; without any, the
// token keeps the default audience (every path). Every refusal is kBadRequest, answered `invalid_target`.

#include <string>
#include <string_view>
#include <vector>

#include "api/protected_resources.hpp"
#include "core/error.hpp"

namespace ap::oauth {

// The resources named by `asked` (each `resource` parameter) as their URLs, each once. Each must be
// one of `all`'s URLs under `public_url` exactly (the broker's own may end in '/'); one that serves
// a single provider must serve `provider`, when that is given.
Result<std::vector<std::string>> CheckResources(const std::vector<std::string>& asked,
                                                const std::vector<api::ProtectedResource>& all,
                                                std::string_view public_url, std::string_view provider = {});

// What a token request binds its token to: `asked` (checked), each of which must be among `granted`
// when the authorization named any; without any asked, those granted.
Result<std::vector<std::string>> NarrowResources(const std::vector<std::string>& asked,
                                                 const std::vector<std::string>& granted);


}  // namespace ap::oauth
