#include "edge/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>
#include <vector>

namespace ec2nc {

namespace {

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting close()'s errno (a deferred write error shows up here).
  int close_checked() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

// A temporary older than this is stale even when a process with its PID exists (PID
// reuse, a writer in another PID namespace): a writer holds its temporary only from
// create to rename, and runs are serialized by the app's lock anyway.
const time_t kStaleTempAgeS = 10;

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// The temporary replace_file writes `target` through: ".TARGET.tmp-PID-N".
std::string temp_name(const std::string& target, unsigned attempt) {
  return "." + target + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(attempt);
}

/// For a name of temp_name's pattern, its target and writer's PID; false for any other name.
bool parse_temp_name(const std::string& name, std::string* target, long* pid) {
  if (name.size() < 2 || name[0] != '.') return false;
  size_t tmp = name.rfind(".tmp-");
  if (tmp == std::string::npos || tmp < 2) return false;
  std::string rest = name.substr(tmp + 5);
  size_t dash = rest.find('-');
  if (dash == std::string::npos) return false;
  std::string p = rest.substr(0, dash), n = rest.substr(dash + 1);
  if (!all_digits(p) || !all_digits(n) || p.size() > 9 || n.size() > 9) return false;
  *target = name.substr(1, tmp - 1);
  *pid = std::stol(p);
  return true;
}

bool valid_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

bool fsync_dir(const std::string& dir, std::string* error) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    *error = errno_text("open", dir, errno);
    return false;
  }
  if (::fsync(fd.get()) != 0) {
    *error = errno_text("fsync", dir, errno);
    return false;
  }
  return true;
}

// mkdir -p, each new component with mode 0755.
bool make_dirs(const std::string& dir, std::string* error) {
  if (dir.empty()) return true;
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    *error = errno_text("mkdir", dir, ENOTDIR);
    return false;
  }
  std::string parent = dir_of(dir);
  if (parent != dir && !make_dirs(parent, error)) return false;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    *error = errno_text("mkdir", dir, errno);
    return false;
  }
  return true;
}

enum class Existing { Missing, Same, Different };

// Compares what is at `path` with the wanted content and mode.
bool compare_existing(const std::string& path, const std::string& content, unsigned mode, Existing* result,
                      std::string* error) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      *result = Existing::Missing;
      return true;
    }
    *error = errno_text("stat", path, errno);
    return false;
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != (mode & 07777) || size_t(st.st_size) != content.size()) {
    *result = Existing::Different;
    return true;
  }
  std::string current;
  if (!read_file(path, &current, error)) return false;
  *result = current == content ? Existing::Same : Existing::Different;
  return true;
}

// Writes `content` to a new temp file beside `path` and renames it over `path`.
bool replace_file(const std::string& path, const std::string& content, unsigned mode, std::string* error) {
  const std::string dir = dir_of(path);
  std::string tmp;
  int raw = -1;
  // O_EXCL: never follow or reuse a file someone else put there.
  for (unsigned attempt = 0; attempt < 100 && raw < 0; ++attempt) {
    tmp = join(dir, temp_name(base_of(path), attempt));
    raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
    if (raw < 0 && errno != EEXIST) {
      *error = errno_text("create", tmp, errno);
      return false;
    }
  }
  if (raw < 0) {
    *error = errno_text("create", tmp, EEXIST);
    return false;
  }
  Fd fd(raw);
  auto fail = [&](const char* what, int err) {
    *error = errno_text(what, tmp, err);
    ::unlink(tmp.c_str());
    return false;
  };
  // The umask must not decide the mode of a generated file.
  if (::fchmod(fd.get(), mode & 07777) != 0) return fail("chmod", errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    done += size_t(n);
  }
  if (::fsync(fd.get()) != 0) return fail("fsync", errno);
  if (int err = fd.close_checked(); err != 0) return fail("close", err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    *error = "rename " + tmp + " to " + path + ": " + std::strerror(err);
    return false;
  }
  return fsync_dir(dir, error);
}

/// True when the temporary `path`, written by `pid`, is left over from a run that
/// died mid-write: its writer is gone (or is this process, which holds none between
/// writes), or it is older than kStaleTempAgeS. Only regular files qualify.
bool stale_temp(const std::string& path, long pid) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (pid == long(::getpid())) return true;
  if (pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH)) return true;
  return ::time(nullptr) - st.st_mtime > kStaleTempAgeS;
}

}  // namespace

bool read_file(const std::string& path, std::string* out, std::string* error) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    *error = errno_text("open", path, errno);
    return false;
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = errno_text("read", path, errno);
      return false;
    }
    if (n == 0) break;
    data.append(buf, size_t(n));
  }
  *out = std::move(data);
  return true;
}

bool write_file_atomic(const std::string& path, const std::string& content, unsigned mode, bool* changed,
                       std::string* error) {
  *changed = false;
  Existing existing;
  if (!compare_existing(path, content, mode, &existing, error)) return false;
  if (existing == Existing::Same) return true;
  if (!replace_file(path, content, mode, error)) return false;
  *changed = true;
  return true;
}

bool sync_files(const std::string& dir, const std::map<std::string, std::string>& files,
                const std::function<bool(const std::string&)>& owned, unsigned mode, bool dry_run,
                std::vector<FileChange>* changes, std::string* error) {
  std::vector<FileChange> done;
  for (auto& [name, content] : files) {
    if (!valid_name(name) || !owned(name)) {
      *error = "refusing to write " + join(dir, name) + ": not a file name ec2-netcfg owns";
      return false;
    }
  }

  struct stat st;
  bool dir_exists = ::stat(dir.c_str(), &st) == 0;
  if (dir_exists && !S_ISDIR(st.st_mode)) {
    *error = errno_text("open", dir, ENOTDIR);
    return false;
  }
  if (!dir_exists && errno != ENOENT) {
    *error = errno_text("stat", dir, errno);
    return false;
  }
  if (!dir_exists && !dry_run && !make_dirs(dir, error)) return false;

  for (auto& [name, content] : files) {
    const std::string path = join(dir, name);
    Existing existing = Existing::Missing;
    if (dir_exists && !compare_existing(path, content, mode, &existing, error)) return false;
    if (existing == Existing::Same) continue;
    if (!dry_run && !replace_file(path, content, mode, error)) return false;
    done.push_back({existing == Existing::Missing ? FileChange::Kind::Created : FileChange::Kind::Updated, path});
  }

  if (dir_exists) {
    std::vector<std::string> stale;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      *error = errno_text("open", dir, errno);
      return false;
    }
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name, target;
      long pid = 0;
      if (valid_name(name) && owned(name) && !files.count(name)) {
        stale.push_back(name);
      } else if (!dry_run && parse_temp_name(name, &target, &pid) && valid_name(target) && owned(target) &&
                 stale_temp(join(dir, name), pid)) {
        // A temporary of ours that a killed run left (dry runs, which hold no lock,
        // leave them alone: a live run may be writing one).
        stale.push_back(name);
      }
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) {
      *error = errno_text("read directory", dir, err);
      return false;
    }
    std::sort(stale.begin(), stale.end());
    for (auto& name : stale) {
      const std::string path = join(dir, name);
      if (!dry_run && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
        *error = errno_text("remove", path, errno);
        return false;
      }
      done.push_back({FileChange::Kind::Removed, path});
    }
    if (!stale.empty() && !dry_run && !fsync_dir(dir, error)) return false;
  }

  if (changes) changes->insert(changes->end(), done.begin(), done.end());
  return true;
}

bool remove_tree(const std::string& path, std::string* error) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = errno_text("stat", path, errno);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      *error = errno_text("opendir", path, errno);
      return false;
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (auto& n : names)
      if (!remove_tree(join(path, n), error)) return false;
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
      *error = errno_text("rmdir", path, errno);
      return false;
    }
    return true;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = errno_text("unlink", path, errno);
    return false;
  }
  return true;
}

bool remove_dir_if_empty(const std::string& dir) {
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

bool make_temp_dir(const std::string& prefix, std::string* path, std::string* error) {
  const char* env = std::getenv("TMPDIR");
  std::string tmpl = std::string(env && *env ? env : "/tmp") + "/" + prefix + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    *error = errno_text("mkdtemp", tmpl, errno);
    return false;
  }
  *path = buf.data();
  return true;
}

}  // namespace ec2nc
