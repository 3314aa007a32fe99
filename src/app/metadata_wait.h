// Reading the metadata within the run's one deadline: a read that fails as a whole is
// retried, and ENIs whose data has not propagated yet are waited for, one step at a time,
// so apply can configure every complete ENI first and the late ones as they complete.
#pragma once

#include <random>
#include <vector>

#include "app/context.h"
#include "core/metadata.h"
#include "core/plan.h"
#include "core/run_state.h"

namespace ec2nc {

/// Reads meta-data/mac and the ENI listing and every ENI (the Elastic IPs only with
/// `elastic_ips`: only `show` displays them). A read that fails as a whole
/// (IMDS unreachable, meta-data/mac or the listing missing, invalid or empty) is retried
/// with backoff until the deadline when `retry` (IMDS; a capture is read once), or until
/// connections to the endpoint have been refused for a few seconds in a row (nothing
/// listens there, and IMDS always does on an instance: not worth the rest of the wait).
/// Exit status 1 with the reason logged when it never succeeds (what was tried, and, for
/// the commands that only read, that --metadata-file reads a capture instead): then
/// nothing may change.
/// `likely`: the host's ENI MACs, whose listings are asked for with the first requests.
int read_metadata_retrying(Context& ctx, bool retry, InstanceMetadata* out, bool elastic_ips = false,
                           const std::vector<MacAddr>& likely = {});

/// "IMDS (ENDPOINT) could not be reached: WHY", for errors of a read that could not
/// connect (FetchResult::unreachable).
std::string imds_unreachable(const Context& ctx, const std::string& why);

/// With --metadata-file, for the commands that act on this host's interfaces (apply,
/// diff, check): the capture must describe this host. Exit status 2, saying what and
/// what to do instead, when an IFACE's MAC (`wanted`) is not among the capture's ENIs,
/// or (no IFACE) when none of the capture's ENIs has an interface here (matched by MAC,
/// as apply does): a capture from another instance, which only `show` renders. 0
/// otherwise, and always without --metadata-file.
int capture_fits_host(Context& ctx, const InstanceMetadata& md, const std::vector<HostLink>& links,
                      const std::vector<MacAddr>& wanted);

/// Links beyond this many that could be ENIs are not all ENIs (an instance has at most
/// a few dozen): a host with containers' veths, whose listings would all be 404s.
constexpr size_t kMaxEarlyListings = 32;

/// The MACs whose IMDS listings go out with the first requests (read_metadata's
/// `likely`: a round trip fewer): `wanted` (apply IFACE) when given; else the recorded
/// ENIs whose link is still here; with no record (a boot's first run, before any
/// container runtime), every link that can be an ENI, unless there are more than
/// kMaxEarlyListings.
std::vector<MacAddr> early_listing_macs(const std::vector<HostLink>& links, const std::vector<MacAddr>& wanted,
                                        const RunState& state);

/// The MACs an apply waits for: each of `wanted` (apply IFACE) not listed yet, and every
/// relevant ENI (a host link's, or one of `wanted`) still incomplete or failed to fetch.
std::vector<MacAddr> pending_macs(const InstanceMetadata& md, const std::vector<HostLink>& links,
                                  const std::vector<MacAddr>& wanted);

/// Waiting for propagation: each step sleeps (backoff with jitter, at most 1 s), then
/// re-reads the pending ENIs (the whole listing when one of them is not listed yet).
class PropagationWait {
 public:
  explicit PropagationWait(Context& ctx) : ctx_(ctx), rng_(std::random_device{}()) {}
  /// One step for `pending`. False (nothing read) when the deadline leaves no time.
  bool step(const std::vector<MacAddr>& pending, InstanceMetadata* md);

 private:
  Context& ctx_;
  std::mt19937 rng_;
  unsigned delay_ms_ = 250;
  Clock::time_point last_progress_{};
};

}  // namespace ec2nc
