#include "edge/imds_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

namespace ec2nc {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char kTokenPath[] = "/latest/api/token";
// IMDS documents are a few KiB; a listing of every key of the largest shape is far
// below this. Anything bigger is not IMDS and is refused rather than buffered.
const size_t kMaxBody = 1 << 20;
// All the answers of one run together: the largest instance's whole tree is a few tens of
// KiB, so a run holding 16 MiB is an IMDS (or something posing as it) gone wrong.
const size_t kMaxTotal = 16u << 20;
// Longest token accepted (real ones are ~56 characters); it goes into a header.
const size_t kMaxToken = 4096;
const long kBackoffBaseMs = 100;
const long kBackoffCapMs = 2000;
// A token is fetched again this long before IMDS says it expires.
const unsigned kTokenMarginS = 60;

std::once_flag g_curl_init;
CURLcode g_curl_init_rc = CURLE_OK;

bool iequals(const std::string& a, const char* b) {
  std::string lb(b);
  if (a.size() != lb.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(lb[i]))) {
      return false;
    }
  }
  return true;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool valid_port(const std::string& p) {
  if (p.empty() || p.size() > 5) return false;
  if (!std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  long n = std::strtol(p.c_str(), nullptr, 10);
  return n >= 1 && n <= 65535;
}

bool valid_hostname(const std::string& h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.front() == '-') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

/// Normalizes an endpoint URL to "http://AUTHORITY". False + error when malformed.
bool normalize_endpoint(const std::string& url, const std::string& origin, std::string* out, std::string* error) {
  auto bad = [&](const std::string& why) {
    *error = origin + " \"" + url + "\": " + why + " (expected http://HOST[:PORT] or http://[IPV6][:PORT])";
    return false;
  };
  const std::string scheme = "http://";
  if (url.size() < scheme.size() || !iequals(url.substr(0, scheme.size()), scheme.c_str())) {
    return bad("not an http:// URL");
  }
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos && rest.substr(slash) != "/") return bad("has a path");
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string::npos) return bad("user information is not allowed");
  std::string port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad("unterminated IPv6 literal");
    std::string host = authority.substr(1, close - 1);
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return bad("invalid IPv6 address");
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after the IPv6 address");
      port = after.substr(1);
      if (!valid_port(port)) return bad("invalid port");
    }
  } else {
    size_t colon = authority.find(':');
    std::string host = authority.substr(0, colon);
    if (!valid_hostname(host)) return bad("invalid host");
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (!valid_port(port)) return bad("invalid port");
    }
  }
  *out = scheme + authority;
  return true;
}

/// Tokens come from the network and go into a header: printable ASCII only.
bool valid_token(const std::string& t) {
  if (t.empty() || t.size() > kMaxToken) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

/// Paths become part of the request line: no spaces, controls, query or fragment.
bool valid_path(const std::string& p) {
  if (p.empty() || p.size() > 1024 || p.front() == '/') return false;
  return std::all_of(p.begin(), p.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '?' && c != '#'; });
}

/// Failures worth another try: the service may answer the next one.
bool retryable_curl(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

bool retryable_status(long status) { return status == 429 || (status >= 500 && status <= 599); }

/// For an attempt that failed with `rc` on `easy`: the errno of a connect that never
/// succeeded (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT for a connect timeout...),
/// or 0 when the attempt did connect (or failed otherwise): FetchResult::unreachable.
int connect_errno(CURL* easy, CURLcode rc) {
  long os = 0;
  curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os);
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return os ? int(os) : ENOTCONN;
    case CURLE_COULDNT_RESOLVE_HOST:
      return EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT: {
      // Timed out before the request could be sent (no connection: the pre-transfer time
      // is 0), or while waiting for the answer on a connection, new or reused (the service
      // is there, but slow, or its answer cannot come back: the hop limit).
      curl_off_t pretransfer_us = 0;
      curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
      return pretransfer_us != 0 ? 0 : os ? int(os) : ETIMEDOUT;
    }
    default:
      return 0;
  }
}

/// The statuses whose Retry-After is honoured (RFC 9110 sends it with these two).
bool honours_retry_after(long status) { return status == 429 || status == 503; }

/// Seconds of a Retry-After value in its delta-seconds form; -1 for anything else (the
/// HTTP-date form, junk, empty). Absurdly long values saturate (the caller caps them).
long long parse_retry_after(const std::string& value) {
  size_t b = value.find_first_not_of(" \t");
  size_t e = value.find_last_not_of(" \t\r\n");
  if (b == std::string::npos || e == std::string::npos || e < b) return -1;
  std::string v = value.substr(b, e - b + 1);
  if (!std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  size_t nz = v.find_first_not_of('0');
  if (nz == std::string::npos) return 0;
  if (v.size() - nz > 9) return 999999999;
  return std::stoll(v.substr(nz));
}

}  // namespace

const char kImdsDefaultV4[] = "http://169.254.169.254";
const char kImdsDefaultV6[] = "http://[fd00:ec2::254]";

bool resolve_imds_endpoint(const std::string& cli_endpoint, std::string* endpoint, std::string* error,
                           bool* is_default) {
  if (is_default) *is_default = false;
  if (iequals(env("AWS_EC2_METADATA_DISABLED"), "true")) {
    *error = "AWS_EC2_METADATA_DISABLED=true: IMDS is turned off (use --metadata-file)";
    return false;
  }
  std::string mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  bool v6 = false;
  if (!mode.empty()) {
    if (iequals(mode, "IPv6")) {
      v6 = true;
    } else if (!iequals(mode, "IPv4")) {
      *error = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE \"" + mode + "\": expected IPv4 or IPv6";
      return false;
    }
  }
  if (!cli_endpoint.empty()) return normalize_endpoint(cli_endpoint, "--imds-endpoint", endpoint, error);
  std::string from_env = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (!from_env.empty()) {
    return normalize_endpoint(from_env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, error);
  }
  *endpoint = v6 ? kImdsDefaultV6 : kImdsDefaultV4;
  if (is_default) *is_default = mode.empty();
  return true;
}

/// One HTTP exchange as seen by the retry logic.
struct Reply {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body;
  std::string what;  ///< Transport failure text when rc != CURLE_OK.
  int unreachable = 0;  ///< When rc != CURLE_OK: connect_errno().
  long long retry_after_s = -1;  ///< Retry-After in seconds; -1 when absent or not in seconds form.
};

/// One request and its retries: sent again on timeouts, dropped connections, 429 and 5xx
/// with exponential backoff and full jitter, within `attempts` and the deadline.
struct Job {
  bool put = false;
  size_t id = 0;       ///< The caller's name for it (fetch_all).
  std::string path;    ///< Relative to /latest/ (fetch_all).
  unsigned base = 0;   ///< The chain of requests it waited on before it could be sent.
  std::string rel;     ///< "/latest/..."
  std::string header;  ///< The one request header (token TTL or token).
  std::string what;    ///< Names the request in errors.
  enum class State { Ready, Running, Done } state = State::Ready;
  Clock::time_point not_before{};  ///< Backoff or Retry-After: not sent again before this.
  unsigned tries = 0;
  std::string last;  ///< The last retryable failure, for the error text.
  bool ok = false;   ///< `reply` is the final answer (any status the caller must judge).
  Reply reply;
  std::string error;  ///< When !ok: names `what`, the failure and the attempts.
  CURLcode last_rc = CURLE_OK;
  bool reached = false;  ///< An attempt connected to the service (whatever came of it).
  int last_unreachable = 0;  ///< The last attempt's connect_errno().
  /// When the request failed and no attempt ever connected: FetchResult::unreachable.
  int unreachable() const { return ok || reached ? 0 : last_unreachable; }
};

/// One easy handle and what it receives. The handles share the multi handle's
/// connection cache, so a connection serves request after request.
struct Slot {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  bool too_big = false;
  bool past_total = false;       ///< The run's answers together passed kMaxTotal.
  size_t* received = nullptr;    ///< The run's answers together, in bytes (the client's).
  long long retry_after_s = -1;  ///< Of the response being received.
  char errbuf[CURL_ERROR_SIZE] = {};
  Job* job = nullptr;  ///< The request it carries now (nullptr: free).
};

struct ImdsClient::Impl {
  ImdsOptions opts;
  CURLM* multi = nullptr;
  std::vector<std::unique_ptr<Slot>> slots;
  bool handle_failed = false;  ///< curl_easy_init failed once: no more slots are made.
  size_t received = 0;         ///< Bytes of every answer of the run together (kMaxTotal).
  std::string init_error;
  std::string token;
  Clock::time_point token_refresh_at;
  unsigned requests = 0;
  unsigned connections = 0;
  unsigned depth = 0;  ///< Longest chain of requests so far that each waited on the one before.
  std::mt19937 rng{std::random_device{}()};

  explicit Impl(ImdsOptions o) : opts(std::move(o)) {
    while (!opts.endpoint.empty() && opts.endpoint.back() == '/') opts.endpoint.pop_back();
    if (opts.attempts == 0) opts.attempts = 1;
    if (opts.max_connections == 0) opts.max_connections = 1;
    if (opts.token_ttl_s == 0 || opts.token_ttl_s > 21600) opts.token_ttl_s = 21600;
    std::call_once(g_curl_init, [] { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (g_curl_init_rc != CURLE_OK) {
      init_error = std::string("libcurl initialization failed: ") + curl_easy_strerror(g_curl_init_rc);
      return;
    }
    multi = curl_multi_init();
    if (!multi) {
      init_error = "libcurl initialization failed (curl_multi_init)";
      return;
    }
    // HTTP/1.1, one request at a time per connection: at most max_connections in
    // flight, and as many kept alive for the next round.
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(opts.max_connections));
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(opts.max_connections));
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(opts.max_connections));
  }

  ~Impl() {
    for (auto& s : slots) {
      if (s->job) curl_multi_remove_handle(multi, s->easy);
      curl_easy_cleanup(s->easy);
      curl_slist_free_all(s->headers);
    }
    if (multi) curl_multi_cleanup(multi);
  }

  /// A request could be sent now: a slot is free or one can still be made.
  bool can_send() const {
    if (slots.size() < opts.max_connections && !handle_failed) return true;
    return std::any_of(slots.begin(), slots.end(), [](const std::unique_ptr<Slot>& s) { return !s->job; });
  }

  /// A free slot, a new one while fewer than max_connections exist; nullptr when all
  /// are busy (or a handle cannot be made).
  Slot* free_slot() {
    for (auto& s : slots)
      if (!s->job) return s.get();
    if (slots.size() >= opts.max_connections || handle_failed) return nullptr;
    auto s = std::make_unique<Slot>();
    s->received = &received;
    s->easy = curl_easy_init();
    if (!s->easy) {
      handle_failed = true;
      return nullptr;
    }
    CURL* curl = s->easy;
    curl_easy_setopt(curl, CURLOPT_PRIVATE, s.get());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, s.get());
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, s.get());
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxBody));
    // IMDS answers are a few hundred bytes (a listing of 50 addresses ~800): a 4 KiB
    // receive buffer per connection instead of libcurl's 16 KiB (16 connections: ~190
    // KiB less); a longer answer just takes more reads.
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 4096L);
    // IMDS is link-local: a proxy from the environment must never see the token (a
    // libcurl built without proxy support ignores these).
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP));
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP));
#endif
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    // No TCP keepalive: a run lasts seconds, its first probe would come after a minute
    // (three system calls a connection for nothing).
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ec2-netcfg/" EC2NC_VERSION);
    slots.push_back(std::move(s));
    return slots.back().get();
  }

  static size_t write_body(char* data, size_t size, size_t nmemb, void* user) {
    auto* self = static_cast<Slot*>(user);
    size_t n = size * nmemb;
    if (self->body.size() + n > kMaxBody) {
      self->too_big = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    if (*self->received + n > kMaxTotal) {
      self->past_total = true;
      return 0;
    }
    *self->received += n;
    self->body.append(data, n);
    return n;
  }

  /// Keeps the Retry-After of the last response whose headers are being received.
  static size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
    auto* self = static_cast<Slot*>(user);
    size_t n = size * nmemb;
    static const char kName[] = "retry-after:";
    const size_t name_len = sizeof kName - 1;
    std::string line(data, n);
    if (line.rfind("HTTP/", 0) == 0) {
      self->retry_after_s = -1;  // the status line of a new response (after a 1xx, say)
    } else if (line.size() >= name_len && iequals(line.substr(0, name_len), kName)) {
      self->retry_after_s = parse_retry_after(line.substr(name_len));
    }
    return n;
  }

  /// Milliseconds left before the deadline (capped, so time_point::max() works).
  long long remaining_ms() const {
    auto now = Clock::now();
    if (opts.deadline <= now) return 0;
    auto left = std::chrono::duration_cast<milliseconds>(opts.deadline - now).count();
    return std::min<long long>(left, 24LL * 3600 * 1000);
  }

  /// Sends one attempt of `job` on `s`. `remaining` bounds connect and total time.
  /// False (the attempt's reply in *failed) when it cannot even be started.
  bool start(Slot* s, Job* job, long long remaining, Reply* failed) {
    s->body.clear();
    s->too_big = false;
    s->past_total = false;
    s->retry_after_s = -1;
    s->errbuf[0] = '\0';
    curl_slist_free_all(s->headers);
    s->headers = curl_slist_append(nullptr, job->header.c_str());
    if (!s->headers) {
      failed->rc = CURLE_OUT_OF_MEMORY;
      failed->what = "out of memory";
      return false;
    }
    // Clamp to >= 1: curl reads 0 as "no limit".
    long connect_ms =
        static_cast<long>(std::max<long long>(1, std::min<long long>(opts.connect_timeout_ms, remaining)));
    long total_ms = static_cast<long>(std::max<long long>(1, std::min<long long>(opts.request_timeout_ms, remaining)));
    std::string url = opts.endpoint + job->rel;
    CURL* curl = s->easy;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    // A PUT without a body, as `curl -X PUT` in the EC2 documentation sends it.
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, job->put ? "PUT" : nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms);
    CURLMcode mc = curl_multi_add_handle(multi, curl);
    if (mc != CURLM_OK) {
      failed->rc = CURLE_FAILED_INIT;
      failed->what = curl_multi_strerror(mc);
      return false;
    }
    ++requests;
    s->job = job;
    job->state = Job::State::Running;
    return true;
  }

  /// The reply of a finished attempt on `s`; frees the slot.
  Reply finish(Slot* s, CURLcode rc) {
    Reply r;
    r.rc = rc;
    long new_conns = 0;
    if (curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &new_conns) == CURLE_OK && new_conns > 0) {
      connections += static_cast<unsigned>(new_conns);
    }
    if (rc == CURLE_OK) {
      curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &r.status);
      r.body.swap(s->body);
      r.retry_after_s = s->retry_after_s;
    } else if (s->past_total) {
      r.what = "IMDS answers of this run past " + std::to_string(kMaxTotal >> 20) + " MiB in all";
    } else if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
      r.what = "response larger than " + std::to_string(kMaxBody / 1024) + " KiB";
    } else {
      r.what = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
      r.unreachable = connect_errno(s->easy, rc);
      // curl's text says "Couldn't connect to server" for every cause: name the one.
      const char* why = r.unreachable ? std::strerror(r.unreachable) : "";
      if (r.unreachable && r.unreachable != ENOTCONN && r.what.find(why) == std::string::npos)
        r.what += std::string(" (") + why + ")";
    }
    curl_multi_remove_handle(multi, s->easy);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, nullptr);
    s->body.clear();
    s->body.shrink_to_fit();
    s->job = nullptr;
    return r;
  }

  /// The request is over without a final answer.
  void give_up(Job* job, bool out_of_time) {
    job->state = Job::State::Done;
    job->ok = false;
    if (job->tries == 0) {
      job->error = job->what + ": run deadline reached before the request was sent";
      return;
    }
    job->error = job->what + ": " + job->last + " after " + std::to_string(job->tries) +
                 (job->tries == 1 ? " attempt" : " attempts") + (out_of_time ? " (run deadline reached)" : "");
  }

  /// Judges an attempt's reply: final, or another try after backoff (waiting at least a
  /// 429's or 503's Retry-After, in seconds, at most retry_after_max_ms); a wait that
  /// would pass the deadline ends the request at once.
  void judge(Job* job, Reply r) {
    job->last_rc = r.rc;
    if (r.rc == CURLE_OK || !r.unreachable) job->reached = true;
    job->last_unreachable = r.unreachable;
    if (r.rc != CURLE_OK && !retryable_curl(r.rc)) {
      job->state = Job::State::Done;
      job->error = job->what + ": " + r.what;
      return;
    }
    if (r.rc == CURLE_OK && !retryable_status(r.status)) {
      job->state = Job::State::Done;
      job->ok = true;
      job->reply = std::move(r);
      return;
    }
    job->last = r.rc == CURLE_OK ? "HTTP " + std::to_string(r.status) : r.what;
    long long asked_ms = 0;  // what the service asked us to wait, capped
    if (r.rc == CURLE_OK && honours_retry_after(r.status) && r.retry_after_s >= 0) {
      asked_ms = std::min<long long>(r.retry_after_s * 1000, opts.retry_after_max_ms);
      job->last += " (Retry-After " + std::to_string(r.retry_after_s) + " s)";
    }
    if (job->tries >= opts.attempts) return give_up(job, false);
    long cap = kBackoffBaseMs << std::min(job->tries - 1, 5u);
    cap = std::min(cap, kBackoffCapMs);
    long long sleep_ms = std::max<long long>(asked_ms, std::uniform_int_distribution<long>(0, cap)(rng));
    // Never wait into the deadline: the attempt after it could not be sent anyway.
    if (sleep_ms >= remaining_ms()) return give_up(job, true);
    job->not_before = Clock::now() + milliseconds(sleep_ms);
    job->state = Job::State::Ready;
  }

  /// Carries out `jobs` together, at most max_connections in flight, each with its own
  /// retries; returns when every one has its outcome. `on_done(job)` is called as each
  /// one gets it, and may append jobs (sent in the same run, as soon as a connection is
  /// free: a request that depends on an answer need not wait for the others').
  template <class OnDone>
  void run(std::deque<Job>& jobs, OnDone on_done) {
    unsigned deepest = depth;
    size_t done = 0;
    std::vector<Job*> finished;
    auto settle = [&](Job* j) {
      ++done;
      finished.push_back(j);
    };
    for (auto& j : jobs)
      if (j.state == Job::State::Done) settle(&j);
    while (true) {
      // Outcomes first: they may bring more jobs.
      for (size_t k = 0; k < finished.size(); ++k) on_done(*finished[k]);
      finished.clear();
      if (done >= jobs.size()) break;
      // Send what is due, as far as connections allow (by index: jobs may grow).
      auto now = Clock::now();
      for (size_t k = 0; k < jobs.size(); ++k) {
        Job& j = jobs[k];
        if (j.state != Job::State::Ready || j.not_before > now) continue;
        long long remaining = remaining_ms();
        if (remaining <= 0) {
          give_up(&j, true);
          settle(&j);
          continue;
        }
        Slot* s = free_slot();
        if (!s && !std::any_of(slots.begin(), slots.end(), [](const std::unique_ptr<Slot>& x) { return x->job; })) {
          // No handle can be made and none will come free: nothing would ever send it.
          j.state = Job::State::Done;
          j.error = j.what + ": libcurl initialization failed (curl_easy_init)";
          settle(&j);
          continue;
        }
        if (!s) break;
        ++j.tries;
        deepest = std::max(deepest, j.base + j.tries);
        Reply failed;
        if (!start(s, &j, remaining, &failed)) {
          judge(&j, std::move(failed));
          if (j.state == Job::State::Done) settle(&j);
        }
      }
      if (!finished.empty()) continue;
      int running = 0;
      curl_multi_perform(multi, &running);
      int queued = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
        if (m->msg != CURLMSG_DONE) continue;
        Slot* s = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
        CURLcode rc = m->data.result;
        Job* j = s->job;
        Reply r = finish(s, rc);
        judge(j, std::move(r));
        if (j->state == Job::State::Done) settle(j);
      }
      if (!finished.empty()) continue;
      // Wait for the network (curl's own timeouts included), or for the next backoff to
      // end; go round at once when a due request can be sent now.
      const auto now2 = Clock::now();
      const bool due = std::any_of(jobs.begin(), jobs.end(), [&](const Job& j) {
        return j.state == Job::State::Ready && j.not_before <= now2;
      });
      if (due && can_send()) continue;
      // (A due request that waits for a connection waits for the network.)
      Clock::time_point next_due = Clock::time_point::max();
      for (auto& j : jobs)
        if (j.state == Job::State::Ready && j.not_before > now2) next_due = std::min(next_due, j.not_before);
      long long wait_ms = 1000;
      if (next_due != Clock::time_point::max()) {
        wait_ms = std::chrono::duration_cast<milliseconds>(next_due - Clock::now()).count() + 1;
        wait_ms = std::max<long long>(0, std::min<long long>(wait_ms, 1000));
      }
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait_ms), nullptr);
    }
    depth = std::max(depth, deepest);
  }

  /// Makes sure a usable session token is held. False + error (to follow a path and
  /// ": ") and *unreachable (FetchResult::unreachable of the token PUT).
  bool ensure_token(std::string* error, int* unreachable) {
    *unreachable = 0;
    if (!token.empty() && Clock::now() < token_refresh_at) return true;
    token.clear();
    auto ttl = std::to_string(opts.token_ttl_s);
    std::deque<Job> jobs(1);
    Job& j = jobs[0];
    j.put = true;
    j.base = depth;
    j.rel = kTokenPath;
    j.header = "X-aws-ec2-metadata-token-ttl-seconds: " + ttl;
    j.what = "token PUT " + std::string(kTokenPath);
    run(jobs, [](Job&) {});
    if (!j.ok) {
      *error = j.error;
      *unreachable = j.unreachable();
      if (j.last_rc == CURLE_OPERATION_TIMEDOUT && !*unreachable) {
        *error += " (no answer to the token PUT: is the instance's metadata hop limit too low for this client?)";
      }
      return false;
    }
    const Reply& r = j.reply;
    if (r.status == 403) {
      *error = "IMDS refused a token (403): IMDS disabled for this instance or hop limit";
      return false;
    }
    if (r.status != 200) {
      *error = "token PUT " + std::string(kTokenPath) + ": HTTP " + std::to_string(r.status);
      return false;
    }
    if (!valid_token(r.body)) {
      *error = "token PUT " + std::string(kTokenPath) + ": malformed token in the response";
      return false;
    }
    token = r.body;
    unsigned margin = std::min(kTokenMarginS, opts.token_ttl_s / 2);
    token_refresh_at = Clock::now() + std::chrono::seconds(opts.token_ttl_s - margin);
    return true;
  }

  /// Outcome of one fetch: returns the paths it calls for next.
  using Emit = std::function<std::vector<std::string>(size_t id, const std::string& path, FetchResult r)>;

  /// GETs `paths` (ids 0, 1, ...) and every path `emit` calls for as answers come in (ids
  /// going on from there), all in one run: each follow-up is sent as soon as the answer
  /// it depends on is in. Paths answered 401 are sent once more after the others, with a
  /// new token (IMDS forgot ours); what they call for follows on as usual.
  void fetch_all(const std::vector<std::string>& paths, const Emit& emit) {
    struct Want {
      size_t id;
      std::string path;
      unsigned base;
    };
    size_t next_id = 0;
    std::vector<Want> todo;
    // Paths that cannot be sent get their outcome at once; what those call for too.
    std::function<void(const std::vector<std::string>&, unsigned, std::vector<Want>*)> admit =
        [&](const std::vector<std::string>& ps, unsigned base, std::vector<Want>* into) {
          for (auto& p : ps) {
            const size_t id = next_id++;
            if (!init_error.empty()) admit(emit(id, p, FetchResult::failed(p + ": " + init_error)), base, into);
            else if (!valid_path(p)) admit(emit(id, p, FetchResult::failed("\"" + p + "\": not a valid metadata path")), base, into);
            else into->push_back({id, p, base});
          }
        };
    admit(paths, depth, &todo);
    for (int pass = 0; pass < 2 && !todo.empty(); ++pass) {
      std::string error;
      int unreachable = 0;
      if (!ensure_token(&error, &unreachable)) {
        // Without a token nothing is asked: every path, and what it would call for, fails.
        std::vector<Want> rest = std::move(todo);
        while (!rest.empty()) {
          std::vector<Want> more;
          for (auto& w : rest)
            admit(emit(w.id, w.path, FetchResult::failed(w.path + ": " + error, unreachable)), 0, &more);
          rest = std::move(more);
        }
        return;
      }
      std::deque<Job> jobs;
      auto add_job = [&](const Want& w) {
        jobs.emplace_back();
        Job& j = jobs.back();
        j.id = w.id;
        j.path = w.path;
        j.base = std::max(w.base, depth);  // after the token it needed
        j.rel = "/latest/" + w.path;
        j.header = "X-aws-ec2-metadata-token: " + token;
        j.what = w.path;
      };
      for (auto& w : todo) add_job(w);
      std::vector<Want> again;
      run(jobs, [&](Job& j) {
        FetchResult r;
        if (!j.ok) {
          r = FetchResult::failed(j.error, j.unreachable());
        } else if (j.reply.status == 200) {
          r = FetchResult::ok(std::move(j.reply.body));
        } else if (j.reply.status == 404) {
          r = FetchResult::not_found();
        } else if (j.reply.status == 401 && pass == 0) {
          again.push_back({j.id, j.path, j.base + j.tries});
          return;
        } else if (j.reply.status == 401) {
          r = FetchResult::failed(j.path + ": HTTP 401 even with a freshly fetched token");
        } else {
          r = FetchResult::failed(j.path + ": HTTP " + std::to_string(j.reply.status));
        }
        std::vector<Want> more;
        admit(emit(j.id, j.path, std::move(r)), j.base + j.tries, &more);
        for (auto& w : more) add_job(w);
      });
      if (!again.empty()) token.clear();
      todo = std::move(again);
    }
  }

  std::vector<FetchResult> get_many(const std::vector<std::string>& paths) {
    std::vector<FetchResult> out(paths.size());
    fetch_all(paths, [&](size_t id, const std::string&, FetchResult r) {
      out[id] = std::move(r);
      return std::vector<std::string>{};
    });
    return out;
  }
};

ImdsClient::ImdsClient(ImdsOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
ImdsClient::~ImdsClient() = default;

FetchResult ImdsClient::get(const std::string& path) { return std::move(impl_->get_many({path})[0]); }
std::vector<FetchResult> ImdsClient::get_many(const std::vector<std::string>& paths) {
  return impl_->get_many(paths);
}
void ImdsClient::crawl(const std::vector<std::string>& paths, const FollowUp& follow_up) {
  impl_->fetch_all(paths, [&](size_t, const std::string& path, FetchResult r) { return follow_up(path, r); });
}
unsigned ImdsClient::requests() const { return impl_->requests; }
unsigned ImdsClient::connections() const { return impl_->connections; }
unsigned ImdsClient::rounds() const { return impl_->depth; }

}  // namespace ec2nc
