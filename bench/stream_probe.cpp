// The time to a stream's first event, measured as close to the socket as a client can be, for the
// streams lane of bench/run.sh: each target (the mock upstream directly, nginx, the broker) gets
// one kept-alive connection, and the targets take turns stream by stream, so that what slows the
// machine for a moment slows each of them alike. A Node client's own pauses made the direct
// streams' p99 1-2 ms, ten times the 150 us the broker may add, so that lane could not be judged.
// Blocking sockets, no HTTP library: the clock starts before the request is written and stops when
// the read that brings the first "data:" returns.
// Usage: ap_stream_probe COUNT WARMUP URL CREDENTIAL [URL CREDENTIAL]...
//   -> per target, in order, a line "first_p50_us first_p99_us rest_p50_us events": the time to
//      the first event, the time from it to the end of the answer, and the events in one stream,
//      over COUNT streams each after WARMUP untimed ones.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kBody =
    R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},)"
    R"({"role":"user","content":"Summarise the following paragraph in one sentence, please, and keep the names."}],)"
    R"("max_tokens":256,"stream":true})";

using Clock = std::chrono::steady_clock;

struct Target {
  std::string host;  // host:port, as the Host field says it
  std::string request;
  int fd = -1;
  std::vector<double> first_us, rest_us;
  size_t events = 0;  // in its last stream
};

// http://127.0.0.1:PORT/path -> the target, connected (loopback addresses only, as every server the
// benchmarks start listens there).
Target Connect(std::string_view url, std::string_view credential) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) throw std::runtime_error("not an http:// URL: " + std::string(url));
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/'), colon = url.find(':');
  if (slash == std::string_view::npos || colon == std::string_view::npos || colon > slash)
    throw std::runtime_error("a URL must say its port and path: " + std::string(url));
  Target t;
  t.host = std::string(url.substr(0, slash));
  std::string ip(url.substr(0, colon)), path(url.substr(slash));
  int port = std::atoi(std::string(url.substr(colon + 1, slash - colon - 1)).c_str());
  t.request = "POST " + path + " HTTP/1.1\r\nHost: " + t.host + "\r\nAuthorization: Bearer " + std::string(credential) +
              "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(kBody.size()) + "\r\n\r\n" +
              std::string(kBody);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) throw std::runtime_error("not an IPv4 address: " + ip);
  t.fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval guard{10, 0};  // a target that stops answering fails the run rather than hangs it
  setsockopt(t.fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  if (connect(t.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect to " + t.host);
  return t;
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// The events of a chunked answer (its head included): the lines of its body that start "data:".
size_t Events(std::string_view answer) {
  std::string body;
  for (size_t at = answer.find("\r\n\r\n") + 4;;) {
    size_t eol = answer.find("\r\n", at);
    size_t size = std::strtoul(std::string(answer.substr(at, eol - at)).c_str(), nullptr, 16);
    if (size == 0) break;
    body.append(answer.substr(eol + 2, size));
    at = eol + 2 + size + 2;
  }
  size_t events = body.starts_with("data:") ? 1 : 0;
  for (size_t at = body.find("\ndata:"); at != std::string::npos; at = body.find("\ndata:", at + 1)) ++events;
  return events;
}

// One streamed call on the target's connection, timed; throws on anything but a whole 200 stream.
void StreamOnce(Target& t, bool keep) {
  std::string answer;
  char bytes[16384];
  auto start = Clock::now();
  if (write(t.fd, t.request.data(), t.request.size()) != static_cast<ssize_t>(t.request.size()))
    throw std::runtime_error("cannot write to " + t.host);
  Clock::time_point first{};
  for (;;) {
    ssize_t n = read(t.fd, bytes, sizeof bytes);
    if (n <= 0) throw std::runtime_error(t.host + " closed or stalled mid-answer");
    auto now = Clock::now();
    size_t scan_from = answer.size() < 5 ? 0 : answer.size() - 5;  // "data:" may span two reads
    answer.append(bytes, static_cast<size_t>(n));
    if (answer.size() >= 12 && !answer.starts_with("HTTP/1.1 200"))  // a refusal: say what it was
      throw std::runtime_error(t.host + " answered " + answer.substr(0, 300));
    if (size_t head_end = answer.find("\r\n\r\n");
        head_end != std::string::npos && answer.substr(0, head_end).find("chunked") == std::string::npos)
      throw std::runtime_error(t.host + " answered a stream without chunks: " + answer.substr(0, head_end));
    if (first == Clock::time_point{} && answer.find("data:", scan_from) != std::string::npos) first = now;
    if (answer.ends_with("\r\n0\r\n\r\n")) {
      if (first == Clock::time_point{}) throw std::runtime_error(t.host + " sent a stream without an event");
      if (keep) {
        t.first_us.push_back(Micros(first - start));
        t.rest_us.push_back(Micros(now - first));
        t.events = Events(answer);
      }
      return;
    }
  }
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * p))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5 || argc % 2 != 1) {
    std::fprintf(stderr, "usage: ap_stream_probe COUNT WARMUP URL CREDENTIAL [URL CREDENTIAL]...\n");
    return 2;
  }
  try {
    int count = std::atoi(argv[1]), warmup = std::atoi(argv[2]);
    if (count <= 0 || warmup < 0)
      throw std::runtime_error("COUNT must be a positive whole number, WARMUP a whole number");
    std::vector<Target> targets;
    for (int i = 3; i < argc; i += 2) targets.push_back(Connect(argv[i], argv[i + 1]));
    for (int i = 0; i < warmup + count; ++i)
      for (Target& t : targets) StreamOnce(t, i >= warmup);
    for (Target& t : targets) {
      std::printf("%.1f %.1f %.1f %zu\n", Percentile(t.first_us, 0.5), Percentile(t.first_us, 0.99),
                  Percentile(t.rest_us, 0.5), t.events);
      close(t.fd);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ap_stream_probe: %s\n", e.what());
    return 1;
  }
  return 0;
}
