// IMDSv2 client over libcurl's multi interface: one session token reused across
// requests (fetched again on 401), requests that do not depend on each other in flight
// together over a few kept-alive connections (get_many; crawl sends the requests an
// answer calls for as soon as it is in), bounded connect and total time,
// retries with exponential backoff and jitter on timeouts, dropped connections,
// 429 and 5xx (waiting at least a 429's or 503's Retry-After), every wait within the
// run's one deadline. Proxies are ignored. A failure is never reported as a 404.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/metadata.h"

namespace ec2nc {

struct ImdsOptions {
  std::string endpoint = "http://169.254.169.254";  ///< Scheme://host[:port], no trailing path.
  unsigned connect_timeout_ms = 1000;
  unsigned request_timeout_ms = 3000;
  unsigned attempts = 6;            ///< Tries per request (first one included).
  /// Requests in flight together at most (get_many), each on a kept-alive connection of
  /// its own: as many connections at most.
  unsigned max_connections = 16;
  unsigned token_ttl_s = 21600;
  /// Longest wait a Retry-After (seconds form, on 429 and 503) can ask for; a longer one
  /// is cut to this. A wait that would end past `deadline` is not started: the request
  /// fails at once, saying so.
  unsigned retry_after_max_ms = 10000;
  /// No request (nor backoff or Retry-After wait) goes past this instant: the run's one
  /// bound.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

/// Picks the endpoint: --imds-endpoint, else AWS_EC2_METADATA_SERVICE_ENDPOINT, else
/// http://[fd00:ec2::254] when AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6, else
/// http://169.254.169.254. Returns false with `error` set for a malformed URL or mode,
/// or when AWS_EC2_METADATA_DISABLED=true (a usage error: exit 2). `is_default`, when
/// given, is set when nothing chose the endpoint (neither option, endpoint nor mode): the
/// caller may then take the IPv6 endpoint where only it is reachable (an IPv6-only subnet).
bool resolve_imds_endpoint(const std::string& cli_endpoint, std::string* endpoint, std::string* error,
                           bool* is_default = nullptr);

/// The default endpoints, IPv4 and IPv6.
extern const char kImdsDefaultV4[];
extern const char kImdsDefaultV6[];

class ImdsClient : public MetadataSource {
 public:
  explicit ImdsClient(ImdsOptions opts);
  ~ImdsClient() override;
  ImdsClient(const ImdsClient&) = delete;
  ImdsClient& operator=(const ImdsClient&) = delete;

  /// GET /latest/PATH with the session token. Ok for 200, NotFound for 404, Error
  /// for anything else once retries (within the deadline) are exhausted; the
  /// error text names the path and the HTTP status or curl error.
  FetchResult get(const std::string& path) override;
  /// GETs of every path at once (after the token PUT, when one is needed), at most
  /// max_connections in flight, each with get()'s retries and outcomes, within the one
  /// deadline; the paths 401 answered are sent once more with a new token.
  std::vector<FetchResult> get_many(const std::vector<std::string>& paths) override;
  /// get_many() where each answer's follow-ups are sent as soon as it is in, beside
  /// whatever else is still in flight.
  void crawl(const std::vector<std::string>& paths, const FollowUp& follow_up) override;
  /// HTTP requests sent so far (token PUTs included).
  unsigned requests() const override;
  /// TCP connections opened so far.
  unsigned connections() const override;
  /// The longest chain of requests so far each of which waited for the one before (a
  /// token PUT, a round of get_many, a retry): the number of sequential round trips.
  unsigned rounds() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ec2nc
