// The record of what ec2-netcfg configured (ROOT/run/ec2-netcfg/state.json): which
// interfaces, with which table, which addresses it added, and which rules and routes it
// wrote into an interface's networkd file. It is the evidence of ownership where the
// kernel keeps none: kernels before 5.18 ignore IFA_PROTO, and networkd's copies of a
// file's rules and routes carry networkd's protocol, not ec2-netcfg's. Pure: text in,
// text out (edge/files and app/ do the I/O).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/plan.h"

namespace ec2nc {

/// One interface ec2-netcfg configured.
struct InterfaceRecord {
  std::string name;
  MacAddr mac;
  int ifindex = 0;
  uint32_t table = 0;
  /// Addresses ec2-netcfg itself added to the link (its own whatever IFA_PROTO says).
  std::vector<IpPrefix> addresses;
  /// The rules and routes of the interface's networkd file as last written (networkd
  /// holds protocol-static copies of them once it has applied that file).
  std::vector<RuleSpec> file_rules;
  std::vector<RouteSpec> file_routes;

  bool owns_address(const IpAddr& a) const;
  bool wrote_rule(const RuleSpec& r) const;
  /// A route of the file; an IPv6 default "via the RA router" matches any next hop.
  bool wrote_route(const RouteSpec& r) const;
};

/// Everything recorded.
struct RunState {
  std::vector<InterfaceRecord> interfaces;
  const InterfaceRecord* find(const std::string& name) const;
  InterfaceRecord* find(const std::string& name);
};

/// Parses state.json text. False + error (what is wrong, where) when it is not a state
/// file: the caller must then act as if it knew nothing it may remove.
bool parse_state(const std::string& text, RunState* out, std::string* error);
/// The JSON text of a state (stable: records sorted by name).
std::string format_state(const RunState& st);

}  // namespace ec2nc
