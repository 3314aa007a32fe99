// Fuzz target: CaptureSource::from_json, the reader of dump-metadata captures
// (--metadata-file). A capture it accepts is read like IMDS, and what a
// RecordingSource records of that read must come back unchanged through
// capture_json and from_json (the dump-metadata round trip).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/metadata.h"
#include "fuzz.h"

using namespace ec2nc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto src = CaptureSource::from_json(text, &error);
  if (!src) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  RecordingSource rec(*src);
  MetadataRead rd = read_metadata(rec);
  if (rd.fatal.empty()) fuzz::check_instance(rd.instance);

  std::string json = rec.capture_json();
  std::string error2;
  auto replay = CaptureSource::from_json(json, &error2);
  FUZZ_CHECK(replay != nullptr);
  for (auto& [path, body] : replay->paths()) {
    auto it = src->paths().find(path);
    FUZZ_CHECK(it != src->paths().end() && it->second == body);
  }
  MetadataRead rd2 = read_metadata(*replay);
  FUZZ_CHECK(rd2.fatal == rd.fatal && rd2.instance.enis.size() == rd.instance.enis.size());
  for (auto& [mac, eni] : rd2.instance.enis) {
    auto it = rd.instance.enis.find(mac);
    FUZZ_CHECK(it != rd.instance.enis.end() && it->second.state == eni.state && it->second.problem == eni.problem);
  }
  return 0;
}
