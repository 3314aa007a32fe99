// netplan on this host: where its YAML is and running its generator (`netplan generate`).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "edge/spawn.h"

namespace ec2nc {

/// netplan's generator where netplan installs it: /lib/netplan/generate,
/// /usr/lib/netplan/generate, /usr/libexec/netplan/generate (Debian keeps it there, with
/// the /lib path a link). "" when netplan is not installed. $NETPLAN_GENERATE_PATH,
/// netplan's own test hook, is not followed: the environment of a run as root must not
/// name the programs it runs.
std::string netplan_generator();

/// One netplan YAML file in effect.
struct NetplanYamlFile {
  std::string name;  ///< "50-cloud-init.yaml"
  std::string path;  ///< The file that is read for that name.
  std::string shown; ///< That file as the host names it, without --root: "/etc/netplan/50-cloud-init.yaml".
};

/// The YAML files netplan reads under `root` ("/" or --root), as netplan orders them: every
/// *.yaml of lib/netplan, etc/netplan and run/netplan, a name in run/ shadowing the same
/// name in etc/, which shadows lib/; sorted by name. Names for which `skip(dir, name)` is
/// true (dir is "lib", "etc" or "run") are left out (ec2-netcfg's own files).
std::vector<NetplanYamlFile> netplan_yaml_files(
    const std::string& root, const std::function<bool(const std::string&, const std::string&)>& skip);

/// Runs the generator (`netplan generate`), on `root_dir` unless it is "" or "/".
ProgramResult netplan_generate(const std::string& root_dir, std::chrono::steady_clock::time_point deadline);

}  // namespace ec2nc
