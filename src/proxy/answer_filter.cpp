#include "proxy/answer_filter.hpp"

#include <spdlog/spdlog.h>

#include <cctype>

#include "http/fields.hpp"

namespace ap::proxy {
namespace bhttp = http::bhttp;

namespace {

std::string_view ContentType(const http::ResponseHead& head) {
  return http::FirstValue(head, bhttp::field::content_type).value_or(std::string_view());
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

// The provider's fields a relay reads: first those that may reach the app (the first of each does),
// then its content coding.
const http::FieldName kRead[] = {http::FieldName("content-type"), http::FieldName("retry-after"),
                                 http::FieldName("request-id"), http::FieldName("x-request-id"),
                                 http::FieldName("content-encoding")};
const std::span<const http::FieldName> kPassed = std::span(kRead).first<std::size(kRead) - 1>();

}  // namespace

std::span<const http::FieldName> AnswerFilter::ReadFields() { return kRead; }

bool IsCoded(const http::ResponseHead& head) {
  auto identity = [](std::string_view coding) { return boost::beast::iequals(coding, "identity"); };
  for (const auto& field : head)
    if (field.name() == bhttp::field::content_encoding && !http::ForEachElement(field.value(), identity)) return true;
  return false;
}

bool IsEventStream(const http::ResponseHead& head) { return StartsWithNoCase(ContentType(head), "text/event-stream"); }

bool IsTextual(const http::ResponseHead& head) {
  std::string_view type = ContentType(head);
  if (type.empty()) return true;  // the providers' JSON, unlabelled
  std::string_view media = type.substr(0, type.find(';'));
  if (media == "application/json") return true;  // nearly every answer: no need to fold case
  auto ends_with = [&](std::string_view suffix) {
    return media.size() >= suffix.size() && StartsWithNoCase(media.substr(media.size() - suffix.size()), suffix);
  };
  return (StartsWithNoCase(media, "text/") && !IsEventStream(head)) || StartsWithNoCase(media, "application/json") ||
         ends_with("+json") || ends_with("/xml") || ends_with("+xml") ||
         StartsWithNoCase(media, "application/x-www-form-urlencoded") ||
         StartsWithNoCase(media, "application/x-ndjson");
}

template <class AddField>
bool AnswerFilter::CopyHeaders(const http::ResponseHead& head, AddField add) {
  bool scrubbed = false;
  http::ForFirstOfEach(head, kPassed, [&](const http::FieldName& name, std::string_view passed) {
    if (!keys_->Finds(passed)) {  // nearly always: no copy
      add(name.Text(), passed);
      return;
    }
    std::string value(passed);
    keys_->Scrub(value);
    scrubbed = true;
    add(name.Text(), value);
  });
  return scrubbed;
}

bool AnswerFilter::CopyHeaders(const http::ResponseHead& head, http::Response& out) {
  return CopyHeaders(head, [&](std::string_view name, std::string_view value) { out.set(name, value); });
}

void AnswerFilter::ScrubWhole(const http::ResponseHead& head, bool in_headers, std::string& body) {
  // A refusal is scrubbed whatever it calls itself: only a successful binary answer passes as is.
  bool scrub_body = IsTextual(head) || IsEventStream(head) || head.result_int() / 100 != 2;
  bool in_body = scrub_body && keys_->Scrub(body);
  if (in_headers || in_body) Scrubbed(in_headers && in_body ? "headers and body" : in_body ? "body" : "headers");
}

http::Response AnswerFilter::Whole(const http::ResponseHead& head, std::string body) {
  http::Response out;
  out.result(head.result_int());  // head.result() makes a code Beast has no name for 0

  ScrubWhole(head, CopyHeaders(head, out), body);
  out.body() = std::move(body);
  out.prepare_payload();
  return out;
}

http::AnswerHead AnswerFilter::WholeHead(const http::ResponseHead& head, std::string& body) {
  http::AnswerHead out(head.result_int());
  out.fields.reserve(512);
  bool in_headers = CopyHeaders(head, [&](std::string_view name, std::string_view value) { out.Add(name, value); });
  ScrubWhole(head, in_headers, body);
  return out;
}

http::AnswerHead AnswerFilter::StreamHead(const http::ResponseHead& head) {
  http::AnswerHead out(head.result_int());
  out.fields.reserve(512);
  auto add = [&](std::string_view name, std::string_view value) {
    if (name != "retry-after") out.Add(name, value);
  };
  if (CopyHeaders(head, add)) Scrubbed("headers");
  if (IsEventStream(head)) out.Add("Cache-Control", "no-cache");
  return out;
}

void AnswerFilter::AppendEvent(std::string_view event, std::string& out) {
  if (keys_->AppendScrubbed(event, out)) Scrubbed("stream");
}

void AnswerFilter::Scrubbed(std::string_view where) {
  if (hits_ && !counted_) ++hits_->answers;
  counted_ = true;
  if (where == "stream" && warned_stream_) return;
  warned_stream_ = where == "stream";
  spdlog::warn("key material removed from {}'s answer ({}) before it reached the app", provider_, where);
}

}  // namespace ap::proxy
