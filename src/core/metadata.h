// The instance metadata ec2-netcfg reads, how it is fetched (an abstract source:
// IMDS over HTTP, or a dump-metadata capture), validated and judged complete.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"

namespace ec2nc {

/// The outcome of fetching one metadata path.
struct FetchResult {
  enum class Status { Ok, NotFound, Error };
  Status status = Status::Error;
  std::string body;   ///< Response body when Ok.
  std::string error;  ///< What went wrong when Error (HTTP status, curl message...).
  /// When Error because no attempt could even connect to the service (so no other path
  /// can be had either: the failure is the service's, not this path's): the errno of the
  /// last attempt's connect (ECONNREFUSED: the address answered with a reset, nothing
  /// listens there; ENETUNREACH: no route; ETIMEDOUT: no answer; EHOSTUNREACH...). 0 when
  /// the service answered something, or the failure was this path's own.
  int unreachable = 0;

  static FetchResult ok(std::string b) { return {Status::Ok, std::move(b), {}, 0}; }
  static FetchResult not_found() { return {Status::NotFound, {}, {}, 0}; }
  static FetchResult failed(std::string e, int unreachable = 0) {
    return {Status::Error, {}, std::move(e), unreachable};
  }
};

/// Where metadata comes from. Paths are relative to "/latest/", e.g. "meta-data/mac"
/// or "meta-data/network/interfaces/macs/" (directories end in '/').
/// Abstract so tests and --metadata-file can replace IMDS.
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  /// Fetches one path. Must never turn a failure into NotFound; an Error's text names
  /// the path.
  virtual FetchResult get(const std::string& path) = 0;
  /// Fetches paths that do not depend on each other (a source may fetch them
  /// concurrently); one result per path, in the order of `paths`, each as get() would
  /// give it. This default calls get() for each in turn.
  virtual std::vector<FetchResult> get_many(const std::vector<std::string>& paths);
  /// What an answer calls for next: the paths to fetch because of it (none: {}).
  using FollowUp = std::function<std::vector<std::string>(const std::string& path, const FetchResult& result)>;
  /// Fetches `paths`, handing each answer to `follow_up` and fetching the paths it
  /// returns, and so on until nothing is left; each answered as get() would. A source
  /// may send a follow-up as soon as the answer it depends on is in, beside the rest
  /// (the longest chain of waits is then the tree's depth, and connections stay busy).
  /// This default fetches one generation at a time with get_many().
  virtual void crawl(const std::vector<std::string>& paths, const FollowUp& follow_up);
  /// Number of requests sent to the service so far (0 for captures).
  virtual unsigned requests() const { return 0; }
  /// Connections opened to the service so far (0 for captures).
  virtual unsigned connections() const { return 0; }
  /// The longest chain of requests that each waited for the one before (0 for captures).
  virtual unsigned rounds() const { return 0; }
};

/// A dump-metadata capture: a map from path to body; a path absent from it is a 404.
/// JSON form: {"format": "ec2-netcfg-metadata/1", "paths": {"meta-data/mac": "...", ...}}.
class CaptureSource : public MetadataSource {
 public:
  explicit CaptureSource(std::map<std::string, std::string> paths) : paths_(std::move(paths)) {}
  /// Parses the JSON text of a capture. On error returns nullptr and sets `error`.
  static std::unique_ptr<CaptureSource> from_json(const std::string& text, std::string* error);
  FetchResult get(const std::string& path) override;
  const std::map<std::string, std::string>& paths() const { return paths_; }

 private:
  std::map<std::string, std::string> paths_;
};

/// Wraps a source and remembers every successful fetch, to write a capture.
class RecordingSource : public MetadataSource {
 public:
  explicit RecordingSource(MetadataSource& inner) : inner_(inner) {}
  FetchResult get(const std::string& path) override;
  std::vector<FetchResult> get_many(const std::vector<std::string>& paths) override;
  void crawl(const std::vector<std::string>& paths, const FollowUp& follow_up) override;
  unsigned requests() const override { return inner_.requests(); }
  unsigned connections() const override { return inner_.connections(); }
  unsigned rounds() const override { return inner_.rounds(); }
  /// The capture JSON (format above) of everything fetched so far, pretty-printed.
  std::string capture_json() const;

 private:
  MetadataSource& inner_;
  std::map<std::string, std::string> seen_;
};

/// Everything ec2-netcfg uses about one ENI.
struct EniMetadata {
  /// Whether the ENI's data can be acted on.
  enum class State {
    Complete,     ///< Every required key present and valid.
    Incomplete,   ///< Still propagating (missing keys, device-number 0 not yet final...).
    Invalid,      ///< A value is malformed: never acted on.
    FetchFailed,  ///< A request failed (timeout, 5xx after retries): never acted on.
  };
  State state = State::Incomplete;
  std::string problem;  ///< Why it is not Complete: names the IMDS path and value.

  MacAddr mac;
  std::string interface_id;
  int device_number = -1;
  int network_card = 0;
  bool is_primary = false;  ///< Its MAC equals meta-data/mac.
  std::vector<IpAddr> local_ipv4s;  ///< Primary first, as IMDS lists them.
  std::vector<IpAddr> ipv6s;
  std::vector<IpPrefix> ipv4_prefixes;
  std::vector<IpPrefix> ipv6_prefixes;
  std::optional<IpPrefix> subnet_ipv4;
  std::vector<IpPrefix> subnet_ipv6;
  /// Public (Elastic) IPv4 -> the private address it is NATed to.
  std::map<IpAddr, IpAddr> ipv4_associations;

  bool has_ipv4() const { return !local_ipv4s.empty(); }
  bool has_ipv6() const { return !ipv6s.empty() || !subnet_ipv6.empty(); }
};

/// The whole instance as IMDS describes it.
struct InstanceMetadata {
  MacAddr primary_mac;
  std::map<MacAddr, EniMetadata> enis;
};

/// The outcome of reading the metadata tree.
struct MetadataRead {
  /// Set when the root (meta-data/mac or the macs/ listing) could not be read or
  /// is malformed: nothing can be done this run.
  std::string fatal;
  /// With `fatal`, when it came from a request that could not connect to the service
  /// (FetchResult::unreachable): that errno; 0 otherwise.
  int unreachable = 0;
  InstanceMetadata instance;
};

/// Reads meta-data/mac and every MAC under meta-data/network/interfaces/macs/
/// (only those in `only` when it is non-empty), validating each value. Per-ENI
/// problems end up in EniMetadata::state, never in `fatal`.
///
/// Only what the plan and `show` use is fetched, and only keys an ENI's directory
/// listing names (no 404 probes), in rounds of requests that do not depend on each
/// other (MetadataSource::get_many): meta-data/mac with the macs/ listing; every ENI's
/// directory listing; every listed key of every ENI; the ipv4-associations/ entries.
///
/// `elastic_ips`: read ipv4-associations/ (the Elastic IPs `show` displays). apply and
/// diff never use them and pass false: that listing and its entries stay unread (a
/// round fewer), and EniMetadata::ipv4_associations stays empty.
///
/// `likely`: MACs the caller expects among the ENIs (apply: early_listing_macs): their
/// directory listings go out with the first requests instead of after the macs/ listing
/// (a round trip fewer); an answer for a MAC the macs/ listing does not name is not used.
MetadataRead read_metadata(MetadataSource& src, const std::vector<MacAddr>& only = {}, bool elastic_ips = true,
                           const std::vector<MacAddr>& likely = {});

/// Reads the ENIs `macs` (rounds as above, from their directory listings on); for
/// waiting on propagation. `primary` is meta-data/mac.
std::map<MacAddr, EniMetadata> read_enis(MetadataSource& src, const std::vector<MacAddr>& macs,
                                         const MacAddr& primary, bool elastic_ips = true);

/// Re-reads one ENI (read_enis for one MAC).
EniMetadata read_eni(MetadataSource& src, const MacAddr& mac, const MacAddr& primary, bool elastic_ips = true);

/// Two complete ENIs claiming the same (network-card, device-number) would share a
/// routing table: one of them has not propagated yet. Every claimant but the primary
/// ENI is marked Incomplete (naming the other MACs). Called by read_metadata; call it
/// again after re-reading ENIs with read_eni.
void mark_numbering_conflicts(InstanceMetadata& md);

/// mark_numbering_conflicts, and two complete ENIs listing the same address, or
/// overlapping delegated prefixes: EC2 assigns each to one ENI at a time, so a move is
/// caught half-way. Both are marked Incomplete (naming the other) and left as they are
/// until IMDS lists it on one. Called by read_metadata; call it again after read_eni.
void mark_conflicts(InstanceMetadata& md);

/// Text of a state, for messages and JSON: "complete", "incomplete", "invalid", "fetch-failed".
const char* state_name(EniMetadata::State s);

}  // namespace ec2nc
