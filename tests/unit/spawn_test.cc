#include "edge/spawn.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

using namespace ec2nc;

namespace {

auto soon() { return std::chrono::steady_clock::now() + std::chrono::seconds(10); }

/// Sets an environment variable for the scope, then restores it.
struct EnvFor {
  std::string name, old;
  bool had;
  EnvFor(const char* n, const std::string& v) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    ::setenv(n, v.c_str(), 1);
  }
  ~EnvFor() {
    if (had) ::setenv(name.c_str(), old.c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("programs are found in the system's directories, never on $PATH (issue 26, item 10)") {
  // A directory first on PATH with its own `sh` and `systemctl`: a run as root must not
  // run them.
  char tmpl[] = "/tmp/ec2nc-spawn.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  for (const char* name : {"sh", "systemctl"}) {
    const std::string p = dir + "/" + name;
    std::ofstream(p) << "#!/bin/sh\necho impostor\n";
    ::chmod(p.c_str(), 0755);
  }
  {
    EnvFor path("PATH", dir + ":/usr/bin:/bin");
    ProgramResult r = run_program({"sh", "-c", "echo \"$PATH\""}, soon(), true);
    CHECK(r.ok);
    CHECK(r.output == "/usr/sbin:/usr/bin:/sbin:/bin\n");  // the system's sh, and its PATH for the child
    ProgramResult missing = run_program({"ec2nc-no-such-program"}, soon(), true);
    CHECK_FALSE(missing.ok);
    CHECK(missing.detail.find("ec2nc-no-such-program not found in /usr/sbin:/usr/bin:/sbin:/bin") != std::string::npos);
  }
  // A path with a '/' is run as given.
  ProgramResult own = run_program({dir + "/sh"}, soon(), true);
  CHECK(own.ok);
  CHECK(own.output == "impostor\n");
  for (const char* name : {"sh", "systemctl"}) ::unlink((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
}
