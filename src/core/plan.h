// The Plan: the desired kernel state for every ENI, computed by a pure function of
// (config, metadata, host links). Every backend renders or applies this one Plan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/ip.h"
#include "core/metadata.h"

namespace ec2nc {

/// A network interface on the host, as read over netlink (RTM_GETLINK).
struct HostLink {
  int ifindex = 0;
  std::string name;
  MacAddr mac;
  bool up = false;
  uint32_t group = 0;
  std::string kind;  ///< IFLA_INFO_KIND ("veth", "bridge", ...) or "" for a plain device.
  uint16_t type = 1;     ///< ifi_type (ARPHRD_*): 1 = Ethernet.
  bool loopback = false; ///< IFF_LOOPBACK.
  bool opt_out = false;  ///< EC2_NETCFG_IGNORE=1 in the udev database: leave it alone.
  bool ipv6_off = false; ///< IPv6 turned off on the link (disable_ipv6=1, or no IPv6 in the kernel).
  /// A veth whose MAC the kernel made up at random (sysfs addr_assign_type 1): a container
  /// runtime's end of a pair (Docker, CNI), whose MAC no ENI can have.
  bool random_veth = false;
  bool operator==(const HostLink& o) const {
    return ifindex == o.ifindex && name == o.name && mac == o.mac && up == o.up && group == o.group &&
           kind == o.kind && type == o.type && loopback == o.loopback && opt_out == o.opt_out &&
           ipv6_off == o.ipv6_off && random_veth == o.random_veth;
  }
  /// Whether this link can be an ENI at all: an Ethernet device with a unicast MAC that
  /// is not loopback and not a software aggregate (bridge, bond, VLAN, macvlan...) that
  /// merely carries an ENI's MAC, and not a container's veth with a random MAC. No other
  /// link is ever matched to IMDS, so none is touched.
  bool can_be_eni() const;
};

/// Metric of the primary ENI's DHCPv4 and RA default routes in main (networkd backend):
/// below what distributions give ENIs (Amazon Linux 512, networkd 1024, cloud-init's
/// netplan 100 for the primary and 200+ for the others).
constexpr uint32_t kPrimaryRouteMetric = 100;

/// Routing protocol number marking ec2-netcfg's routes and rules (and IFA_PROTO on
/// addresses). Unassigned in /etc/iproute2/rt_protos; `ip route show proto 236`.
constexpr uint8_t kOwnProto = 236;

/// An address to hold on an interface.
struct AddressSpec {
  IpPrefix prefix;           ///< Address and prefix length (/32 or /128 for secondaries).
  bool from_dhcp = false;    ///< The ENI's primary address: DHCP normally provides it.
  bool deprecated = false;   ///< Preferred lifetime 0: never picked as a default source.
  bool operator==(const AddressSpec& o) const {
    return prefix == o.prefix && from_dhcp == o.from_dhcp && deprecated == o.deprecated;
  }
  bool operator<(const AddressSpec& o) const { return prefix < o.prefix; }
};

/// A route in an ENI's own table.
struct RouteSpec {
  uint32_t table = 0;
  IpPrefix dst;                   ///< 0.0.0.0/0 or ::/0 for a default route.
  std::optional<IpAddr> gateway;  ///< Next hop; none for an on-link (subnet) route.
  bool gateway_from_ra = false;   ///< IPv6 default: next hop is the router learned from RAs.
  bool onlink = false;            ///< RTNH_F_ONLINK (GatewayOnLink=yes).
  uint8_t scope = 0;              ///< RT_SCOPE_UNIVERSE (0) or RT_SCOPE_LINK (253).
  /// RTA_PRIORITY: 0 = not given (the kernel's default on add; any metric on delete).
  /// Planned routes leave it 0; a delete of an observed route names its metric, so it
  /// takes that route and no other, and undoing it restores the same route.
  uint32_t metric = 0;
  bool operator==(const RouteSpec& o) const {
    return table == o.table && dst == o.dst && gateway == o.gateway &&
           gateway_from_ra == o.gateway_from_ra && onlink == o.onlink && scope == o.scope && metric == o.metric;
  }
  bool operator<(const RouteSpec& o) const {
    if (table != o.table) return table < o.table;
    if (dst != o.dst) return dst < o.dst;
    return gateway < o.gateway;
  }
};

/// A routing policy rule.
struct RuleSpec {
  Family family = Family::V4;
  uint32_t priority = 0;
  std::optional<IpPrefix> from;                ///< Source selector; none = from all.
  uint32_t table = 0;
  std::optional<uint8_t> suppress_prefixlen;   ///< FRA_SUPPRESS_PREFIXLEN.
  std::optional<uint32_t> suppress_ifgroup;    ///< FRA_SUPPRESS_IFGROUP.
  bool operator==(const RuleSpec& o) const {
    return family == o.family && priority == o.priority && from == o.from && table == o.table &&
           suppress_prefixlen == o.suppress_prefixlen && suppress_ifgroup == o.suppress_ifgroup;
  }
  bool operator<(const RuleSpec& o) const {
    if (family != o.family) return family < o.family;
    if (priority != o.priority) return priority < o.priority;
    if (from != o.from) return from < o.from;
    return table < o.table;
  }
};

/// The desired state of one ENI (and why it may be left alone).
struct InterfacePlan {
  MacAddr mac;
  std::string name;     ///< Host interface name; "" when not present on this host.
  int ifindex = 0;      ///< 0 when not present on this host.
  EniMetadata::State state = EniMetadata::State::Incomplete;
  std::string problem;  ///< Why the metadata is not usable (names IMDS path and value).
  bool ignored = false; ///< Opted out by configuration.
  bool primary = false; ///< The instance's primary ENI (meta-data/mac).
  /// IPv6 is off on the host link while IMDS gives the ENI IPv6: its IPv6 addresses,
  /// routes and rules are left out (as networkd leaves out IPv6 on such a link).
  bool ipv6_off = false;
  std::string interface_id;
  int device_number = -1;
  int network_card = 0;
  uint32_t table = 0;   ///< Also the priority of its source rules.
  uint32_t link_group = 0;        ///< Group to set on the link (0: leave the group alone).
  uint32_t ra_route_metric = 0;   ///< Metric for RA default routes in main (0: leave).
  /// Metric the ENI's networkd file gives its DHCPv4 and RA routes in main: the primary's
  /// kPrimaryRouteMetric, every other ENI's its table number, so the primary's default
  /// stays the system default, also beside an ENI just attached (still on the
  /// distribution's file, whose metric is usually 512 or 1024).
  uint32_t main_route_metric = 0;
  bool dhcp4 = false;
  bool dhcp6 = false;
  std::vector<AddressSpec> addresses;
  std::vector<RouteSpec> routes;
  std::vector<RuleSpec> rules;
  std::vector<IpPrefix> ipv4_prefixes;  ///< Delegated, for display.
  std::vector<IpPrefix> ipv6_prefixes;  ///< Delegated, for display.
  std::vector<std::pair<IpAddr, IpAddr>> elastic_ips;  ///< public -> private, for display.

  bool present() const { return ifindex > 0; }
  /// Present, complete and not ignored: apply changes it.
  bool actionable() const { return present() && !ignored && state == EniMetadata::State::Complete; }
};

/// The desired state of the whole host.
struct Plan {
  std::vector<InterfacePlan> interfaces;  ///< Sorted by (network card, device number, MAC).
  /// Rules of ec2-netcfg's own that act before the per-ENI rules (priority table-base - 1):
  /// specific main-table routes through non-ENI links (a bridge, a VPN) still win.
  std::vector<RuleSpec> global_rules;
  uint32_t table_base = 10000;
};

/// Computes the Plan. Pure: same inputs, same Plan, byte for byte.
Plan make_plan(const Config& cfg, const InstanceMetadata& md, const std::vector<HostLink>& links);

/// Table number for an ENI: base + 100 * card + device.
inline uint32_t table_for(uint32_t base, int card, int device) {
  return base + 100u * uint32_t(card) + uint32_t(device);
}

}  // namespace ec2nc
