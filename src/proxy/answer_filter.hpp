#pragma once
// What of a provider's answer reaches the app: the status, the few headers worth passing (content
// type, Retry-After, the provider's request id), and a body with every key the broker holds taken
// out (key_scrubber.hpp): whole bodies of any status, and streamed events one by one, each event
// before it is relayed. Binary bodies (audio, images: anything neither text nor JSON) pass as they
// are: their bytes are no text a key could be quoted in, and replacing bytes would corrupt them.
// An answer that had key material removed is logged as a warning naming the provider and where
// (headers, body, stream: once per stream), never with the material.
// Thread-safety: none; one per answer.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "http/client.hpp"
#include "http/head_bytes.hpp"
#include "proxy/key_scrubber.hpp"

namespace ap::proxy {

// Whether the answer is a stream of server-sent events.
bool IsEventStream(const http::ResponseHead& head);
// Whether the body is in a content coding (gzip, br, ...): the broker reads and scrubs bodies as
// they are, asks every provider for none (Accept-Encoding: identity), and relays no coded answer.
bool IsCoded(const http::ResponseHead& head);
// Whether the body is text the relay reads whole and scrubs: JSON (or no content type), text/*
// other than events, XML, and form data. Everything else is relayed byte for byte.
bool IsTextual(const http::ResponseHead& head);

// How many answers of one call had key material removed (the call's, for KeyLeakGuard).
struct ScrubHits {
  int answers = 0;
};

class AnswerFilter {
 public:
  // `hits`, when given, counts this answer once if anything is removed from it.
  AnswerFilter(std::shared_ptr<const KeySet> keys, std::string provider, ScrubHits* hits = nullptr)
      : keys_(std::move(keys)), provider_(std::move(provider)), hits_(hits) {}

  // The provider's fields a relay reads (those a filter passes, and Content-Encoding): the others
  // never reach the app, and the client need not keep them (HttpClient::Open).
  static std::span<const http::FieldName> ReadFields();
  // A whole answer for the app: the provider's status and passed headers, and the body, scrubbed
  // unless it is binary.
  http::Response Whole(const http::ResponseHead& head, std::string body);
  // The same, as bytes: the head to send, with `body` scrubbed in place.
  http::AnswerHead WholeHead(const http::ResponseHead& head, std::string& body);
  // The head of an answer relayed piece by piece: status, passed headers but Retry-After, and for
  // events `Cache-Control: no-cache`.
  http::AnswerHead StreamHead(const http::ResponseHead& head);
  // Appends one whole server-sent event (or the unfinished tail of a stream) to `out`, scrubbed.
  void AppendEvent(std::string_view event, std::string& out);

 private:
  // Passes each passed header to add(name, value); whether it removed anything.
  template <class AddField>
  bool CopyHeaders(const http::ResponseHead& head, AddField add);
  bool CopyHeaders(const http::ResponseHead& head, http::Response& out);
  // Scrubs a whole answer's body unless it is binary, and logs what was removed (`in_headers`:
  // from its headers).
  void ScrubWhole(const http::ResponseHead& head, bool in_headers, std::string& body);
  void Scrubbed(std::string_view where);

  std::shared_ptr<const KeySet> keys_;
  std::string provider_;
  ScrubHits* hits_;
  bool warned_stream_ = false;
  bool counted_ = false;
};

}  // namespace ap::proxy
