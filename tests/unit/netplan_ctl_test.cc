// edge/netplan_ctl and edge/spawn: which netplan YAML is in effect (shadowing, order,
// ec2-netcfg's own left out), running a helper with its output and a time bound, and
// edge/files' tree helpers. Runs in temp directories under /tmp.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "edge/files.h"
#include "edge/netplan_ctl.h"
#include "edge/spawn.h"

using namespace ec2nc;

namespace {

void put(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

auto soon(int ms) { return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms); }

}  // namespace

TEST_CASE("netplan_yaml_files: /run shadows /etc shadows /lib, by name, in name order") {
  std::string root, error;
  REQUIRE(make_temp_dir("ec2nc-netplan-test", &root, &error));
  for (const char* d : {"/lib", "/lib/netplan", "/etc", "/etc/netplan", "/run", "/run/netplan"})
    REQUIRE(::mkdir((root + d).c_str(), 0755) == 0);
  put(root + "/lib/netplan/10-lib.yaml", "a");
  put(root + "/lib/netplan/50-cloud-init.yaml", "lib");
  put(root + "/etc/netplan/50-cloud-init.yaml", "etc");
  put(root + "/etc/netplan/60-admin.yaml", "b");
  put(root + "/etc/netplan/notes.txt", "not yaml");
  put(root + "/etc/netplan/.hidden.yaml", "not read");
  put(root + "/run/netplan/60-admin.yaml", "run");
  put(root + "/run/netplan/90-ec2-netcfg-ens5.yaml", "own");
  REQUIRE(::mkdir((root + "/etc/netplan/dir.yaml").c_str(), 0755) == 0);

  auto files = netplan_yaml_files(root, [](const std::string& dir, const std::string& name) {
    return dir == "run" && name.rfind("90-ec2-netcfg-", 0) == 0;
  });
  REQUIRE(files.size() == 3);
  CHECK(files[0].name == "10-lib.yaml");
  CHECK(files[0].shown == "/lib/netplan/10-lib.yaml");
  CHECK(files[1].name == "50-cloud-init.yaml");
  CHECK(files[1].path == root + "/etc/netplan/50-cloud-init.yaml");
  CHECK(files[1].shown == "/etc/netplan/50-cloud-init.yaml");
  CHECK(files[2].path == root + "/run/netplan/60-admin.yaml");
  CHECK(netplan_yaml_files(root, nullptr).size() == 4);

  CHECK(remove_tree(root, &error));
  struct stat st;
  CHECK(::stat(root.c_str(), &st) != 0);
  CHECK(remove_tree(root, &error));  // already gone: fine
}

TEST_CASE("run_program: status, captured output, time bound") {
  ProgramResult ok = run_program({"sh", "-c", "echo out; echo err >&2"}, soon(5000), true);
  CHECK(ok.ok);
  CHECK(ok.output == "out\nerr\n");
  ProgramResult bad = run_program({"sh", "-c", "exit 3"}, soon(5000), false);
  CHECK_FALSE(bad.ok);
  CHECK(bad.detail == "sh -c exit 3 failed (status 3)");
  ProgramResult missing = run_program({"/nonexistent/program"}, soon(5000), true);
  CHECK_FALSE(missing.ok);
  CHECK(missing.detail.find("/nonexistent/program") == 0);
  auto t0 = std::chrono::steady_clock::now();
  // A grandchild keeping the pipe open must not hold the caller past the child's exit.
  ProgramResult slow = run_program({"sh", "-c", "sleep 30"}, soon(200), true);
  CHECK_FALSE(slow.ok);
  CHECK(slow.detail.find("did not finish") != std::string::npos);
  ProgramResult daemon = run_program({"sh", "-c", "(sleep 3 &) ; echo started"}, soon(5000), true);
  CHECK(daemon.ok);
  CHECK(daemon.output == "started\n");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}
