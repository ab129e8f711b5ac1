#include "mock/wire.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>

#include "http/response.hpp"

namespace ap::mock {
namespace json = boost::json;
namespace bhttp = http::bhttp;

http::Response JsonAnswer(unsigned status, const json::value& body) {
  http::Response res = http::JsonResponse(static_cast<http::StatusCode>(status), body);
  res.set(bhttp::field::content_type, "application/json");
  res.erase(bhttp::field::cache_control);
  return res;
}

std::string Header(const http::Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}

std::string QueryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.substr(0, pair.find('=')) == name && pair.find('=') != std::string_view::npos)
      return std::string(pair.substr(pair.find('=') + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string GivenKey(const http::Request& req, std::string_view provider) {
  if (provider == "openai") {
    std::string auth = Header(req, "authorization");
    return auth.starts_with("Bearer ") ? auth.substr(7) : auth;
  }
  if (provider == "anthropic") return Header(req, "x-api-key");
  std::string key = Header(req, "x-goog-api-key");
  return key.empty() ? QueryParam(req.target(), "key") : key;
}

bool AcceptsKey(const MockOptions& options, std::string_view own_key, std::string_view key) {
  if (options.accept_keys.empty()) return key == own_key;
  return std::find(options.accept_keys.begin(), options.accept_keys.end(), key) != options.accept_keys.end();
}

Quote QuoteFor(std::string_view model) {
  if (model == kQuoteKeyModel) return Quote::kAnswer;
  if (model == kQuoteKeyErrorModel) return Quote::kError;
  return Quote::kNone;
}

std::string KeyQuote(std::string_view key) {
  auto part = [&](size_t at, size_t n) { return std::string(key.substr(std::min(at, key.size()), n)); };
  size_t n = key.size();
  std::string masked = n <= 8 ? "****" : part(0, 3) + "..." + part(n - 4, 4);
  return "Incorrect API key provided: " + std::string(key) + " (starts " + part(0, 10) + ", ends " +
         part(n > 10 ? n - 10 : 0, 10) + ", contains " + part(n > 9 ? (n - 9) / 2 : 0, 9) + ", masked " + masked + ")";
}

int64_t IntOr(const json::object& o, std::string_view key, int64_t fallback) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->get_int64() : fallback;
}

int64_t EstimateTokens(std::string_view text) { return static_cast<int64_t>((text.size() + 3) / 4); }

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// A part of any provider's content that is not text: by its type, or Gemini's by its member.
bool IsMediaPart(const json::object& part) {
  static constexpr std::string_view kTypes[] = {"image_url", "input_image", "image",      "document",
                                                "file",      "input_file",  "input_audio"};
  static constexpr std::string_view kMembers[] = {"inlineData", "inline_data", "fileData", "file_data"};
  if (const auto* type = part.if_contains("type"); type && type->is_string())
    return std::find(std::begin(kTypes), std::end(kTypes), std::string_view(type->get_string())) != std::end(kTypes);
  return std::any_of(std::begin(kMembers), std::end(kMembers), [&](std::string_view m) { return part.contains(m); });
}

// A part that is a sound: OpenAI's input_audio, or Gemini's data or file of an audio/ type.
bool IsAudioPart(const json::object& part) {
  if (const auto* type = part.if_contains("type"); type && type->is_string())
    return type->get_string() == "input_audio";
  for (std::string_view member : {"inlineData", "inline_data", "fileData", "file_data"}) {
    const auto* data = part.if_contains(member);
    const auto* mime = data && data->is_object() ? data->get_object().if_contains("mimeType") : nullptr;
    if (!mime && data && data->is_object()) mime = data->get_object().if_contains("mime_type");
    if (mime && mime->is_string() && mime->get_string().starts_with("audio/")) return true;
  }
  return false;
}

}  // namespace

void CollectText(const json::value& content, Prompt& prompt) {
  if (content.is_string()) {
    prompt.all += content.get_string();
    prompt.last = content.get_string();
  } else if (content.is_array()) {
    for (const auto& part : content.get_array()) {
      if (part.is_string()) CollectText(part, prompt);
      const auto* obj = part.if_object();
      if (!obj) continue;
      if (const auto* text = obj->if_contains("text"); text && text->is_string()) {
        prompt.all += text->get_string();
        prompt.last = text->get_string();
      } else if (IsMediaPart(*obj)) {
        bool audio = IsAudioPart(*obj);
        prompt.media_tokens += kMediaPartTokens;
        if (audio) prompt.audio_tokens += kMediaPartTokens;
        prompt.media.emplace_back(std::hash<std::string>{}(json::serialize(*obj)), audio);
      } else if (const auto* inner = obj->if_contains("content")) {  // a tool's result
        CollectText(*inner, prompt);
      }
    }
  }
}

std::vector<bool> MediaCache::SeenBefore(std::string_view key, std::string_view model,
                                         const std::vector<size_t>& parts) {
  std::vector<size_t> digests;
  for (size_t part : parts)
    digests.push_back(
        std::hash<std::string>{}(std::string(key) + '\n' + std::string(model) + '\n' + std::to_string(part)));
  std::lock_guard lock(mutex_);
  std::vector<bool> seen;
  for (size_t digest : digests) seen.push_back(held_.contains(digest));
  for (size_t digest : digests) {
    if (held_.contains(digest)) continue;
    if (order_.size() == kParts) {
      held_.erase(order_.front());
      order_.pop_front();
    }
    held_.insert(digest);
    order_.push_back(digest);
  }
  return seen;
}

std::string ReplyTo(const Prompt& prompt, int64_t max_tokens, bool& truncated) {
  std::string reply = "This is a mock reply to: " + prompt.last.substr(0, 200);
  truncated = false;
  if (max_tokens > 0 && EstimateTokens(reply) > max_tokens) {
    reply.resize(static_cast<size_t>(max_tokens) * 4);
    truncated = true;
  }
  return reply;
}

std::vector<std::string> Split(const std::string& text, int n) {
  n = std::max(1, n);
  std::vector<std::string> pieces;
  size_t size = (text.size() + static_cast<size_t>(n) - 1) / static_cast<size_t>(n);
  for (int i = 0; i < n; ++i) {
    size_t at = static_cast<size_t>(i) * size;
    pieces.push_back(at < text.size() ? text.substr(at, size) : std::string());
  }
  return pieces;
}

std::string SseEvent(std::string_view event, const json::value& data, std::string_view separator) {
  std::string out;
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  out.append("data: ").append(json::serialize(data)).append(separator);
  return out;
}

std::vector<float> FakeEmbedding(std::string_view text, int dimensions) {
  std::vector<float> values(static_cast<size_t>(dimensions));
  size_t seed = std::hash<std::string_view>{}(text);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(std::sin(static_cast<double>(seed % 997 + i)));
  return values;
}

}  // namespace ap::mock
