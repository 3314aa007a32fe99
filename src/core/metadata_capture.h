// dump-metadata's capture: every path of the tree ec2-netcfg reads (meta-data/mac and
// the whole meta-data/network/interfaces/macs/ tree), found by walking the listings
// whatever state each ENI is in, so a bug report holds what IMDS said exactly when an
// ENI is incomplete or invalid. The reader (read_metadata) fetches only what it needs
// and stops at an ENI's first problem; this walk never stops at a problem.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "core/metadata.h"

namespace ec2nc {

/// Bounds of one walk, so a broken or hostile server cannot make it loop or grow
/// without end. EC2's largest shapes need a few hundred paths, three levels deep.
struct CaptureLimits {
  size_t max_paths = 10000;       ///< Paths fetched in all, listings included.
  size_t max_depth = 8;           ///< Directory levels below macs/ (a MAC's directory is 1).
  size_t max_bytes = 16u << 20;   ///< Body bytes kept in all.
};

/// One path that could not be captured.
struct CaptureError {
  std::string path;   ///< The metadata path, relative to /latest/.
  std::string error;  ///< Why, starting with the path.
};

/// The outcome of a walk.
struct MetadataCapture {
  /// Every path that answered (200), with its body as served, empty ones included.
  /// Directories are recorded as "DIR/", as the reader fetches them.
  std::map<std::string, std::string> paths;
  /// Every path that failed or was not fetched, in walk order.
  std::vector<CaptureError> errors;
  /// A request could not connect to the service (FetchResult::unreachable, its errno):
  /// the walk stopped there, and the last of `errors` says why. 0 otherwise.
  int unreachable = 0;

  /// meta-data/mac and the macs/ listing were both read: the capture can be replayed.
  bool has_root() const;
  /// The capture as CaptureSource::from_json reads it, pretty-printed.
  std::string json() const;
};

/// Fetches meta-data/mac, then walks meta-data/network/interfaces/macs/: every entry
/// of a listing is fetched; an entry ending in '/' (and every entry of macs/ itself,
/// a MAC) is a sub-directory, fetched as "DIR/" and walked in turn; anything else is a
/// value. A failed fetch, a 404 for a listed entry, or an entry that is not a safe
/// metadata name is recorded in `errors` and the walk goes on with the rest; a path
/// listed twice is fetched once. Past a bound of `limits` nothing more is fetched and
/// one error says what was left out. A request that could not connect to the source at
/// all (FetchResult::unreachable) ends the walk: nothing else could be fetched either.
MetadataCapture capture_metadata(MetadataSource& src, const CaptureLimits& limits = {});

}  // namespace ec2nc
