// Helpers shared by unit tests: loading bundled scenario captures, fake host links.
#pragma once

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/metadata.h"
#include "core/plan.h"

namespace ec2nc::test {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A bundled scenario capture (tests/data/scenarios/NAME.json).
inline std::unique_ptr<CaptureSource> scenario(const std::string& name) {
  std::string error;
  auto src = CaptureSource::from_json(read_text(std::string(EC2NC_TEST_DATA) + "/scenarios/" + name + ".json"), &error);
  if (!src) throw std::runtime_error(name + ": " + error);
  return src;
}

/// Host links named ens5, ens6, ... for the capture's MACs in IMDS listing order.
inline std::vector<HostLink> links_for(const InstanceMetadata& md) {
  std::vector<std::pair<std::pair<int, int>, MacAddr>> order;
  for (auto& [mac, eni] : md.enis) order.push_back({{eni.network_card, eni.device_number}, mac});
  std::sort(order.begin(), order.end());
  std::vector<HostLink> links;
  int idx = 2;
  for (auto& [k, mac] : order) {
    HostLink l;
    l.ifindex = idx;
    l.name = "ens" + std::to_string(idx + 3);
    l.mac = mac;
    l.up = true;
    links.push_back(l);
    ++idx;
  }
  return links;
}

}  // namespace ec2nc::test
