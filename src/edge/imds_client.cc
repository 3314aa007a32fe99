#include "edge/imds_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

namespace ec2nc {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char kDefaultV4[] = "http://169.254.169.254";
const char kDefaultV6[] = "http://[fd00:ec2::254]";
const char kTokenPath[] = "/latest/api/token";
// IMDS documents are a few KiB; a listing of every key of the largest shape is far
// below this. Anything bigger is not IMDS and is refused rather than buffered.
const size_t kMaxBody = 1 << 20;
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

bool resolve_imds_endpoint(const std::string& cli_endpoint, std::string* endpoint, std::string* error) {
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
  *endpoint = v6 ? kDefaultV6 : kDefaultV4;
  return true;
}

/// One HTTP exchange as seen by the retry logic.
struct Reply {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body;
  std::string what;  ///< Transport failure text when rc != CURLE_OK.
  long long retry_after_s = -1;  ///< Retry-After in seconds; -1 when absent or not in seconds form.
};

struct ImdsClient::Impl {
  ImdsOptions opts;
  CURL* curl = nullptr;
  std::string init_error;
  char errbuf[CURL_ERROR_SIZE] = {};
  std::string body;
  bool too_big = false;
  long long retry_after_s = -1;  ///< Of the response being received.
  std::string token;
  Clock::time_point token_refresh_at;
  unsigned requests = 0;
  unsigned connections = 0;
  std::mt19937 rng{std::random_device{}()};

  explicit Impl(ImdsOptions o) : opts(std::move(o)) {
    while (!opts.endpoint.empty() && opts.endpoint.back() == '/') opts.endpoint.pop_back();
    if (opts.attempts == 0) opts.attempts = 1;
    if (opts.token_ttl_s == 0 || opts.token_ttl_s > 21600) opts.token_ttl_s = 21600;
    std::call_once(g_curl_init, [] { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (g_curl_init_rc != CURLE_OK) {
      init_error = std::string("libcurl initialization failed: ") + curl_easy_strerror(g_curl_init_rc);
      return;
    }
    curl = curl_easy_init();
    if (!curl) {
      init_error = "libcurl initialization failed (curl_easy_init)";
      return;
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxBody));
    // IMDS is link-local: a proxy from the environment must never see the token.
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
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ec2-netcfg/" EC2NC_VERSION);
  }

  ~Impl() {
    if (curl) curl_easy_cleanup(curl);
  }

  static size_t write_body(char* data, size_t size, size_t nmemb, void* user) {
    auto* self = static_cast<Impl*>(user);
    size_t n = size * nmemb;
    if (self->body.size() + n > kMaxBody) {
      self->too_big = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    self->body.append(data, n);
    return n;
  }

  /// Keeps the Retry-After of the last response whose headers are being received.
  static size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
    auto* self = static_cast<Impl*>(user);
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

  /// One request, no retry. `remaining` bounds connect and total time.
  Reply perform(bool put, const std::string& url, const std::string& header, long long remaining) {
    Reply r;
    body.clear();
    too_big = false;
    retry_after_s = -1;
    errbuf[0] = '\0';
    curl_slist* headers = curl_slist_append(nullptr, header.c_str());
    if (!headers) {
      r.rc = CURLE_OUT_OF_MEMORY;
      r.what = "out of memory";
      return r;
    }
    // Clamp to >= 1: curl reads 0 as "no limit".
    long connect_ms =
        static_cast<long>(std::max<long long>(1, std::min<long long>(opts.connect_timeout_ms, remaining)));
    long total_ms = static_cast<long>(std::max<long long>(1, std::min<long long>(opts.request_timeout_ms, remaining)));
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    // A PUT without a body, as `curl -X PUT` in the EC2 documentation sends it.
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, put ? "PUT" : nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms);
    ++requests;
    r.rc = curl_easy_perform(curl);
    long new_conns = 0;
    if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &new_conns) == CURLE_OK && new_conns > 0) {
      connections += static_cast<unsigned>(new_conns);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    if (r.rc == CURLE_OK) {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
      r.body.swap(body);
      r.retry_after_s = retry_after_s;
    } else if (too_big || r.rc == CURLE_FILESIZE_EXCEEDED) {
      r.what = "response larger than " + std::to_string(kMaxBody / 1024) + " KiB";
    } else {
      r.what = errbuf[0] ? errbuf : curl_easy_strerror(r.rc);
    }
    body.clear();
    return r;
  }

  /// Sends one request, retrying timeouts, dropped connections, 429 and 5xx with
  /// exponential backoff and full jitter, within `attempts` and the deadline. A 429 or
  /// 503 with Retry-After (seconds) waits at least that long (at most
  /// retry_after_max_ms); a wait that would pass the deadline ends the request at once.
  /// True with the final reply (any status the caller must judge); false + error,
  /// with out->rc the last transport result.
  bool request(bool put, const std::string& rel, const std::string& header, const std::string& what, Reply* out,
               std::string* error) {
    std::string last;
    unsigned tries = 0;
    bool out_of_time = false;
    while (tries < opts.attempts) {
      long long remaining = remaining_ms();
      if (remaining <= 0) {
        out_of_time = true;
        break;
      }
      ++tries;
      Reply r = perform(put, opts.endpoint + rel, header, remaining);
      out->rc = r.rc;
      if (r.rc != CURLE_OK && !retryable_curl(r.rc)) {
        *error = what + ": " + r.what;
        return false;
      }
      if (r.rc == CURLE_OK && !retryable_status(r.status)) {
        *out = std::move(r);
        return true;
      }
      last = r.rc == CURLE_OK ? "HTTP " + std::to_string(r.status) : r.what;
      long long asked_ms = 0;  // what the service asked us to wait, capped
      if (r.rc == CURLE_OK && honours_retry_after(r.status) && r.retry_after_s >= 0) {
        asked_ms = std::min<long long>(r.retry_after_s * 1000, opts.retry_after_max_ms);
        last += " (Retry-After " + std::to_string(r.retry_after_s) + " s)";
      }
      if (tries == opts.attempts) break;
      long cap = kBackoffBaseMs << std::min(tries - 1, 5u);
      cap = std::min(cap, kBackoffCapMs);
      long long sleep_ms = std::max<long long>(asked_ms, std::uniform_int_distribution<long>(0, cap)(rng));
      // Never sleep into the deadline: the attempt after it could not be sent anyway.
      if (sleep_ms >= remaining_ms()) {
        out_of_time = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(sleep_ms));
    }
    if (tries == 0) {
      *error = what + ": run deadline reached before the request was sent";
      return false;
    }
    *error = what + ": " + last + " after " + std::to_string(tries) + (tries == 1 ? " attempt" : " attempts") +
             (out_of_time ? " (run deadline reached)" : "");
    return false;
  }

  /// Makes sure a usable session token is held. False + error naming `path`.
  bool ensure_token(const std::string& path, std::string* error) {
    if (!token.empty() && Clock::now() < token_refresh_at) return true;
    token.clear();
    Reply r;
    std::string err;
    auto ttl = std::to_string(opts.token_ttl_s);
    if (!request(true, kTokenPath, "X-aws-ec2-metadata-token-ttl-seconds: " + ttl,
                 "token PUT " + std::string(kTokenPath), &r, &err)) {
      *error = path + ": " + err;
      if (r.rc == CURLE_OPERATION_TIMEDOUT) {
        *error += " (no answer to the token PUT: is the instance's metadata hop limit too low for this client?)";
      }
      return false;
    }
    if (r.status == 403) {
      *error = path + ": IMDS refused a token (403): IMDS disabled for this instance or hop limit";
      return false;
    }
    if (r.status != 200) {
      *error = path + ": token PUT " + kTokenPath + ": HTTP " + std::to_string(r.status);
      return false;
    }
    if (!valid_token(r.body)) {
      *error = path + ": token PUT " + kTokenPath + ": malformed token in the response";
      return false;
    }
    token = std::move(r.body);
    unsigned margin = std::min(kTokenMarginS, opts.token_ttl_s / 2);
    token_refresh_at = Clock::now() + std::chrono::seconds(opts.token_ttl_s - margin);
    return true;
  }

  FetchResult get(const std::string& path) {
    if (!init_error.empty()) return FetchResult::failed(path + ": " + init_error);
    if (!valid_path(path)) return FetchResult::failed("\"" + path + "\": not a valid metadata path");
    std::string error;
    // A 401 means IMDS forgot our token: fetch a new one and try once more.
    for (int round = 0; round < 2; ++round) {
      if (!ensure_token(path, &error)) return FetchResult::failed(error);
      Reply r;
      if (!request(false, "/latest/" + path, "X-aws-ec2-metadata-token: " + token, path, &r, &error)) {
        return FetchResult::failed(error);
      }
      if (r.status == 200) return FetchResult::ok(std::move(r.body));
      if (r.status == 404) return FetchResult::not_found();
      if (r.status != 401) return FetchResult::failed(path + ": HTTP " + std::to_string(r.status));
      token.clear();
    }
    return FetchResult::failed(path + ": HTTP 401 even with a freshly fetched token");
  }
};

ImdsClient::ImdsClient(ImdsOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
ImdsClient::~ImdsClient() = default;

FetchResult ImdsClient::get(const std::string& path) { return impl_->get(path); }
unsigned ImdsClient::requests() const { return impl_->requests; }
unsigned ImdsClient::connections() const { return impl_->connections; }

}  // namespace ec2nc
