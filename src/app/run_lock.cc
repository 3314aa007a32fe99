// The run lock: one ec2-netcfg run at a time changes the host.
#include "app/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace ec2nc {

bool RunLock::acquire(const std::string& dir, Clock::time_point deadline, std::string* error) {
  // Each component's path, from the first to `dir` itself: parents may be missing under --root.
  for (size_t start = 0; start < dir.size();) {
    const size_t end = std::min(dir.find('/', start), dir.size());
    if (end > start) ::mkdir((dir.substr(0, end) + "/").c_str(), 0755);
    start = end + 1;
  }
  std::string path = dir + "/lock";
  // Not through a symbolic link: root must not be made to create or lock another file.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) {
    const int e = errno;
    *error = path + ": " + (e == ELOOP ? std::string("a symbolic link, not ec2-netcfg's lock file") : std::strerror(e));
    errno = e;  // take_lock tells a missing privilege from the rest
    return false;
  }
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      *error = path + ": flock: " + std::strerror(errno);
      return false;
    }
    if (Clock::now() >= deadline) {
      *error = path + ": another ec2-netcfg run held the lock until the wait bound ran out";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

int take_lock(Context& ctx, RunLock& lock) {
  std::string error;
  if (lock.acquire(ctx.path(kStateDir), ctx.deadline, &error)) return kExitOk;
  if (errno == EACCES || errno == EPERM || errno == EROFS) {
    ctx.log.error(error + ": changing the network needs root (try sudo; `diff` and `apply --dry-run` change "
                  "nothing and need no root)");
    return kExitUsage;
  }
  ctx.log.error(error);
  return kExitRetry;
}

}  // namespace ec2nc
