#include "app/cli.h"

#include <getopt.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "core/config.h"
#include "core/ip.h"

namespace ec2nc {

std::string usage_text() {
  std::string o =
      "Usage: ec2-netcfg [OPTIONS] COMMAND [IFACE...]\n"
      "\n"
      "Makes this EC2 instance's network match what the instance metadata service says:\n"
      "every private IPv4 and IPv6 address and delegated prefix of every ENI, with a\n"
      "routing table and source rules per ENI so traffic from each address leaves\n"
      "through the ENI that owns it.\n"
      "\n"
      "Commands:\n"
      "  apply [IFACE...]     configure the ENIs present on this host (default: all); idempotent\n"
      "  remove IFACE...      take away what ec2-netcfg configured for IFACE\n"
      "  show [ENI...]        print the desired state (every ENI in the metadata; an ENI by interface\n"
      "                       name, MAC or ENI id); changes nothing\n"
      "  diff [IFACE...]      print what apply would change; changes nothing\n"
      "  check [IFACE...]     ask the kernel where traffic from every address and delegated\n"
      "                       prefix leaves (to the internet, its own subnet, the other ENIs'\n"
      "                       subnets) and name the cause of every wrong answer; changes nothing\n"
      "  dump-metadata        print what ec2-netcfg reads from IMDS, as JSON (for bug reports)\n"
      "\n"
      "Options:\n"
      "  --backend networkd|netplan|netlink\n"
      "                       default: config file, else by the manager that runs: netlink\n"
      "                       where NetworkManager manages the links (RHEL family; its\n"
      "                       dispatcher hook puts back what it takes), netplan where netplan's\n"
      "                       YAML renders for networkd (Ubuntu), networkd where\n"
      "                       systemd-networkd runs or is installed, else netlink. show and\n"
      "                       check say which, and why\n"
      "  --config FILE        default ROOT/etc/ec2-netcfg/ec2-netcfg.conf (absent = defaults)\n"
      "  --root DIR           default paths resolve under DIR; the kernel and networkd are left\n"
      "                       alone (links are still read over netlink)\n"
      "  --imds-endpoint URL  default $AWS_EC2_METADATA_SERVICE_ENDPOINT, else\n"
      "                       http://[fd00:ec2::254] with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6,\n"
      "                       else http://169.254.169.254, or the IPv6 one where only it is\n"
      "                       reachable (an IPv6-only instance)\n"
      "  --metadata-file FILE read a dump-metadata capture instead of IMDS: show renders any\n"
      "                       capture; apply, diff and check need one of its ENIs on this host\n"
      "                       (by MAC), or the IFACE named\n"
      "  --dry-run            apply/remove: print what would change, change nothing\n"
      "  --json               show, diff, check, --dry-run: JSON output\n"
      "  -v, --verbose        more detail (waits, summary)\n"
      "  -q, --quiet          errors only\n"
      "  --version, --help\n"
      "\n"
      "Exit status: 0 success; 1 failure worth retrying (IMDS unreachable or incomplete,\n"
      "an invalid value from IMDS, a netlink error); 2 bad usage or configuration (also a\n"
      "--metadata-file capture that does not describe this host, for apply, diff, check).\n"
      "Without IMDS, apply and diff wait up to wait-timeout for a route to it (at boot the\n"
      "primary ENI's DHCP lease brings one) and for an answer, unless every connection is\n"
      "refused for 5 s: nothing listens there, and IMDS always does on an instance.\n"
      "\n"
      "Configuration keys (INI):\n";
  for (auto& k : config_keys())
    o += std::string("  [") + k.section + "] " + k.key + " (default " + k.default_value + ")\n      " + k.help + "\n";
  return o;
}

bool parse_args(int argc, char** argv, Options* out, std::string* error) {
  enum { kBackend = 256, kConfig, kRoot, kEndpoint, kMetadataFile, kDryRun, kJson, kVersion, kHelp };
  static const struct option longopts[] = {
      {"backend", required_argument, nullptr, kBackend},
      {"config", required_argument, nullptr, kConfig},
      {"root", required_argument, nullptr, kRoot},
      {"imds-endpoint", required_argument, nullptr, kEndpoint},
      {"metadata-file", required_argument, nullptr, kMetadataFile},
      {"dry-run", no_argument, nullptr, kDryRun},
      {"json", no_argument, nullptr, kJson},
      {"verbose", no_argument, nullptr, 'v'},
      {"quiet", no_argument, nullptr, 'q'},
      {"version", no_argument, nullptr, kVersion},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  optind = 1;
  opterr = 0;
  int c;
  // "+" stops at the first non-option (the command); options after it are parsed below.
  std::vector<char*> rest;
  while (true) {
    c = getopt_long(argc, argv, "+:vqh", longopts, nullptr);  // ":": a missing value is reported as such
    if (c == -1) {
      if (optind >= argc) break;
      rest.push_back(argv[optind++]);
      continue;
    }
    switch (c) {
      case kBackend:
        if (std::strcmp(optarg, "networkd") && std::strcmp(optarg, "netplan") && std::strcmp(optarg, "netlink")) {
          *error = std::string("--backend: unknown backend \"") + optarg + "\" (expected networkd, netplan or netlink)";
          return false;
        }
        o.backend = optarg;
        break;
      case kConfig: o.config_path = optarg; break;
      case kRoot: o.root = optarg; break;
      case kEndpoint: o.imds_endpoint = optarg; break;
      case kMetadataFile: o.metadata_file = optarg; break;
      case kDryRun: o.dry_run = true; break;
      case kJson: o.json = true; break;
      case 'v': o.verbosity = 2; break;
      case 'q': o.verbosity = 0; break;
      case kVersion: o.command = "version"; *out = o; return true;
      case 'h':
      case kHelp: o.command = "help"; *out = o; return true;
      case ':':
        *error = std::string("option ") + argv[optind - 1] + " needs a value";
        return false;
      default:
        *error = std::string("unknown option ") + argv[optind - 1];
        return false;
    }
  }
  if (rest.empty()) {
    *error = "no command given (apply, remove, show, diff, check, dump-metadata)";
    return false;
  }
  o.command = rest[0];
  static const std::set<std::string> commands = {"apply", "remove", "show", "diff", "check", "dump-metadata"};
  if (!commands.count(o.command)) {
    *error = "unknown command \"" + o.command + "\"";
    return false;
  }
  for (size_t i = 1; i < rest.size(); ++i) {
    std::string name = rest[i];
    bool ok = !name.empty() && name.size() < 16 && name != "." && name != ".." &&
              std::all_of(name.begin(), name.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' ||
                       ch == '@' || ch == ':';
              });
    // show also takes an ENI by MAC or by id (eni-...), for captures from other instances.
    const bool eni_ref = name.size() <= 64 && (MacAddr::parse(name) ||
                                               (name.rfind("eni-", 0) == 0 &&
                                                std::all_of(name.begin() + 4, name.end(), [](char ch) {
                                                  return std::isxdigit(static_cast<unsigned char>(ch));
                                                })));
    if (o.command == "show" && eni_ref) ok = true;
    if (!ok) {
      *error = "\"" + name + "\" is not a valid interface name" +
               (o.command == "show" ? std::string(", MAC or ENI id") : std::string());
      return false;
    }
    o.ifaces.push_back(name);
  }
  if (o.command == "dump-metadata" && !o.ifaces.empty()) {
    *error = "dump-metadata takes no interface names";
    return false;
  }
  if (o.command == "remove" && o.ifaces.empty()) {
    *error = "remove needs at least one interface name";
    return false;
  }
  if (o.dry_run && o.command != "apply" && o.command != "remove") {
    *error = "--dry-run goes with apply or remove";
    return false;
  }
  *out = o;
  return true;
}

}  // namespace ec2nc
