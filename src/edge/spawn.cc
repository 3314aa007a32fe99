#include "edge/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace ec2nc {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxOutput = 64 * 1024;

/// Where programs named without a '/' are found, whatever PATH says: ec2-netcfg runs as
/// root (at boot, from udev, from a timer) and only ever runs the system's systemctl,
/// networkctl and netplan; an environment must not be able to name others.
constexpr const char* kProgramDirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin"};
constexpr const char* kProgramPath = "/usr/sbin:/usr/bin:/sbin:/bin";  // the same, as PATH

/// `name` looked up in kProgramDirs; "" when no directory has it executable.
std::string find_program(const std::string& name) {
  for (const char* dir : kProgramDirs) {
    const std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

/// The child's environment: ec2-netcfg's, with PATH set to kProgramPath.
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "PATH=", 5) != 0) env.emplace_back(*e);
  env.push_back(std::string("PATH=") + kProgramPath);
  return env;
}

std::string text_of(const std::vector<std::string>& argv) {
  std::string t;
  for (auto& a : argv) t += (t.empty() ? "" : " ") + a;
  return t;
}

}  // namespace

ProgramResult run_program(const std::vector<std::string>& argv, Clock::time_point deadline, bool capture) {
  ProgramResult r;
  const std::string text = text_of(argv);
  if (argv.empty()) {
    r.detail = "no program to run";
    return r;
  }
  const std::string program = argv[0].find('/') == std::string::npos ? find_program(argv[0]) : argv[0];
  if (program.empty()) {
    r.detail = text + ": " + argv[0] + " not found in " + kProgramPath;
    return r;
  }
  std::vector<char*> args;
  args.push_back(const_cast<char*>(program.c_str()));
  for (size_t i = 1; i < argv.size(); ++i) args.push_back(const_cast<char*>(argv[i].c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> env_strings = child_environment();
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int pipefd[2] = {-1, -1};
  if (capture && ::pipe2(pipefd, O_CLOEXEC) != 0) {
    r.detail = text + ": pipe: " + std::strerror(errno);
    return r;
  }
  // Our end never blocks: a grandchild (a daemon the program started) may keep the pipe open.
  if (capture) ::fcntl(pipefd[0], F_SETFL, ::fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (capture) {
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (capture) ::close(pipefd[1]);
  if (rc != 0) {
    if (capture) ::close(pipefd[0]);
    r.detail = text + ": " + std::strerror(rc);
    return r;
  }

  int status = 0;
  bool exited = false, timed_out = false;
  bool open_pipe = capture;
  while (!exited) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    if (open_pipe) {
      struct pollfd p = {pipefd[0], POLLIN, 0};
      int n = ::poll(&p, 1, int(std::min<long long>(left, 50)));
      if (n > 0) {
        char buf[4096];
        ssize_t got = ::read(pipefd[0], buf, sizeof buf);
        if (got > 0) {
          if (r.output.size() < kMaxOutput)
            r.output.append(buf, size_t(std::min<ssize_t>(got, ssize_t(kMaxOutput - r.output.size()))));
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
          open_pipe = false;
        }
      }
    } else {
      struct timespec ts = {0, 5 * 1000 * 1000};
      ::nanosleep(&ts, nullptr);
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) exited = true;
    else if (w < 0 && errno != EINTR) {
      r.detail = text + ": waitpid: " + std::strerror(errno);
      if (capture) ::close(pipefd[0]);
      return r;
    }
  }
  if (capture) {
    // What the child wrote just before it exited.
    char buf[4096];
    ssize_t got;
    while (!timed_out && (got = ::read(pipefd[0], buf, sizeof buf)) > 0)
      if (r.output.size() < kMaxOutput)
        r.output.append(buf, size_t(std::min<ssize_t>(got, ssize_t(kMaxOutput - r.output.size()))));
    ::close(pipefd[0]);
  }
  if (timed_out) {
    r.detail = text + ": did not finish within the run's time bound";
    return r;
  }
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!r.ok)
    r.detail = text + " failed (" +
               (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status)) : std::string("killed")) + ")";
  return r;
}

}  // namespace ec2nc
