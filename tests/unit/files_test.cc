// edge/files: atomic writes, identical targets untouched, stale own files removed,
// foreign files kept. Runs in temp directories under /tmp.
#include <dirent.h>
#include <fcntl.h>
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "edge/files.h"

using namespace ec2nc;

namespace {

// A fresh directory, removed with its files (one level) at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ec2nc-files-test.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { remove_tree(path); }
  static void remove_tree(const std::string& p) {
    if (DIR* d = opendir(p.c_str())) {
      while (auto* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string child = p + "/" + n;
        struct stat st;
        if (lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
          remove_tree(child);
        else
          unlink(child.c_str());
      }
      closedir(d);
    }
    rmdir(p.c_str());
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

bool owned(const std::string& name) { return name.rfind("05-own-", 0) == 0; }

void put(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string get(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Makes `names` (temporaries named with the child's PID, "{}" in each name) in `dir`
/// from a child process that is then killed, as a run killed mid-write leaves them.
/// Returns the dead child's PID.
pid_t killed_writer(const std::string& dir, const std::vector<std::string>& names) {
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (auto n : names) {
      n.replace(n.find("{}"), 2, std::to_string(getpid()));
      int fd = open((dir + "/" + n).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0 || write(fd, "half", 4) != 4) _exit(1);  // left open: killed mid-write
    }
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

std::string with_pid(std::string name, long pid) {
  name.replace(name.find("{}"), 2, std::to_string(pid));
  return name;
}

}  // namespace

TEST_CASE("sync_files creates, then leaves identical files untouched") {
  TempDir t;
  std::string dir = t / "run/systemd/network";  // created, with parents
  std::map<std::string, std::string> files{{"05-own-a", "alpha\n"}, {"05-own-b", "beta\n"}};
  std::vector<FileChange> changes;
  std::string err;
  REQUIRE_MESSAGE(sync_files(dir, files, owned, 0644, false, &changes, &err), err);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].kind == FileChange::Kind::Created);
  CHECK(changes[0].path == dir + "/05-own-a");
  CHECK(get(dir + "/05-own-a") == "alpha\n");
  struct stat before;
  REQUIRE(stat((dir + "/05-own-a").c_str(), &before) == 0);
  CHECK((before.st_mode & 07777) == 0644);
  CHECK(entries(dir) == std::vector<std::string>{"05-own-a", "05-own-b"});  // no temp files left

  // Make an mtime change visible, then sync the same content again.
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  REQUIRE(utimensat(AT_FDCWD, (dir + "/05-own-a").c_str(), old_times, 0) == 0);
  REQUIRE(stat((dir + "/05-own-a").c_str(), &before) == 0);
  changes.clear();
  REQUIRE_MESSAGE(sync_files(dir, files, owned, 0644, false, &changes, &err), err);
  CHECK(changes.empty());
  struct stat after;
  REQUIRE(stat((dir + "/05-own-a").c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
}

TEST_CASE("sync_files replaces a changed file by rename and reports it") {
  TempDir t;
  std::map<std::string, std::string> files{{"05-own-a", "one\n"}};
  std::string err;
  REQUIRE(sync_files(t.path, files, owned, 0644, false, nullptr, &err));
  struct stat before;
  REQUIRE(stat((t / "05-own-a").c_str(), &before) == 0);
  files["05-own-a"] = "two\n";
  std::vector<FileChange> changes;
  REQUIRE(sync_files(t.path, files, owned, 0644, false, &changes, &err));
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == FileChange::Kind::Updated);
  CHECK(get(t / "05-own-a") == "two\n");
  struct stat after;
  REQUIRE(stat((t / "05-own-a").c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);  // a new file renamed into place, never rewritten in place
}

TEST_CASE("sync_files removes stale own files and keeps everybody else's") {
  TempDir t;
  put(t / "05-own-stale", "old\n");
  put(t / "10-netplan-ens5.network", "foreign\n");
  put(t / "80-ec2.network", "foreign too\n");
  std::map<std::string, std::string> files{{"05-own-a", "alpha\n"}};
  std::vector<FileChange> changes;
  std::string err;
  REQUIRE_MESSAGE(sync_files(t.path, files, owned, 0644, false, &changes, &err), err);
  CHECK_FALSE(exists(t / "05-own-stale"));
  CHECK(get(t / "10-netplan-ens5.network") == "foreign\n");
  CHECK(get(t / "80-ec2.network") == "foreign too\n");
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].kind == FileChange::Kind::Created);
  CHECK(changes[1].kind == FileChange::Kind::Removed);
  CHECK(changes[1].path == t / "05-own-stale");
}

TEST_CASE("sync_files removes the temporaries a killed run left, of its own names only") {
  TempDir t;
  pid_t dead = killed_writer(t.path, {".05-own-a.tmp-{}-0", ".05-own-gone.tmp-{}-1", ".foreign.tmp-{}-0",
                                      ".05-own-a.tmp-{}", ".05-own-a.tmp-{}-x", ".05-own-a.{}.swp"});
  // A live writer's fresh temporary (the parent process stands in for a live run)...
  std::string live = with_pid(".05-own-b.tmp-{}-0", getppid());
  put(t / live, "in progress");
  // ...unless it is old (PID reuse, another PID namespace).
  std::string old = with_pid(".05-own-c.tmp-{}-0", getppid());
  put(t / old, "old");
  struct timespec hour_ago[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
  REQUIRE(utimensat(AT_FDCWD, (t / old).c_str(), hour_ago, 0) == 0);
  // This process writes none between syncs: one with its PID is left over too.
  std::string mine = with_pid(".05-own-d.tmp-{}-3", getpid());
  put(t / mine, "left over");
  // Only regular files.
  std::string dir_named_so = with_pid(".05-own-e.tmp-{}-0", dead);
  REQUIRE(mkdir((t / dir_named_so).c_str(), 0755) == 0);

  std::map<std::string, std::string> files{{"05-own-a", "alpha\n"}};
  std::vector<FileChange> changes;
  std::string err;
  REQUIRE_MESSAGE(sync_files(t.path, files, owned, 0644, false, &changes, &err), err);
  std::vector<std::string> want = {with_pid(".05-own-a.tmp-{}", dead), with_pid(".05-own-a.tmp-{}-x", dead),
                                   with_pid(".05-own-a.{}.swp", dead), live, dir_named_so,
                                   with_pid(".foreign.tmp-{}-0", dead), "05-own-a"};
  std::sort(want.begin(), want.end());
  CHECK(entries(t.path) == want);
  CHECK(get(t / "05-own-a") == "alpha\n");
  std::vector<std::string> removed;
  for (auto& c : changes)
    if (c.kind == FileChange::Kind::Removed) removed.push_back(c.path);
  std::vector<std::string> want_removed = {t / with_pid(".05-own-a.tmp-{}-0", dead),
                                           t / with_pid(".05-own-gone.tmp-{}-1", dead), t / old, t / mine};
  std::sort(want_removed.begin(), want_removed.end());
  CHECK(removed == want_removed);
  REQUIRE(changes.size() == 5);  // and 05-own-a created
}

TEST_CASE("sync_files removes a stale temporary on a sync that changes nothing else") {
  TempDir t;
  std::map<std::string, std::string> files{{"05-own-a", "alpha\n"}};
  std::string err;
  REQUIRE(sync_files(t.path, files, owned, 0644, false, nullptr, &err));
  pid_t dead = killed_writer(t.path, {".05-own-a.tmp-{}-0"});
  std::vector<FileChange> changes;
  SUBCASE("a dry run leaves it and does not report it (it holds no lock: a live run may be writing)") {
    REQUIRE(sync_files(t.path, files, owned, 0644, true, &changes, &err));
    CHECK(changes.empty());
    CHECK(exists(t / with_pid(".05-own-a.tmp-{}-0", dead)));
  }
  SUBCASE("a real one removes it, once") {
    REQUIRE(sync_files(t.path, files, owned, 0644, false, &changes, &err));
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].kind == FileChange::Kind::Removed);
    CHECK(changes[0].path == t / with_pid(".05-own-a.tmp-{}-0", dead));
    CHECK(entries(t.path) == std::vector<std::string>{"05-own-a"});
    changes.clear();
    REQUIRE(sync_files(t.path, files, owned, 0644, false, &changes, &err));
    CHECK(changes.empty());
  }
}

TEST_CASE("sync_files refuses to write a name it does not own") {
  TempDir t;
  put(t / "80-ec2.network", "foreign\n");
  std::string err;
  CHECK_FALSE(sync_files(t.path, {{"80-ec2.network", "mine\n"}}, owned, 0644, false, nullptr, &err));
  CHECK(err.find(t / "80-ec2.network") != std::string::npos);
  CHECK(get(t / "80-ec2.network") == "foreign\n");
  CHECK_FALSE(sync_files(t.path, {{"05-own-../x", "x"}}, owned, 0644, false, nullptr, &err));
}

TEST_CASE("sync_files with dry_run reports and writes nothing") {
  TempDir t;
  put(t / "05-own-stale", "old\n");
  put(t / "05-own-changed", "old\n");
  put(t / "05-own-same", "same\n");
  chmod((t / "05-own-same").c_str(), 0644);
  put(t / "foreign", "x\n");
  std::map<std::string, std::string> files{
      {"05-own-new", "new\n"}, {"05-own-changed", "new\n"}, {"05-own-same", "same\n"}};
  std::vector<FileChange> changes;
  std::string err;
  REQUIRE_MESSAGE(sync_files(t.path, files, owned, 0644, true, &changes, &err), err);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].kind == FileChange::Kind::Updated);  // 05-own-changed
  CHECK(changes[1].kind == FileChange::Kind::Created);  // 05-own-new
  CHECK(changes[2].kind == FileChange::Kind::Removed);  // 05-own-stale
  CHECK(entries(t.path) == std::vector<std::string>{"05-own-changed", "05-own-same", "05-own-stale", "foreign"});
  CHECK(get(t / "05-own-changed") == "old\n");

  // A directory that does not exist yet is not created either.
  changes.clear();
  REQUIRE(sync_files(t / "missing/dir", files, owned, 0644, true, &changes, &err));
  CHECK(changes.size() == 3);
  CHECK_FALSE(exists(t / "missing"));
}

TEST_CASE("write_file_atomic sets the mode regardless of umask and reports changes") {
  TempDir t;
  mode_t old_umask = umask(077);
  bool changed = false;
  std::string err;
  REQUIRE_MESSAGE(write_file_atomic(t / "f", "x\n", 0644, &changed, &err), err);
  umask(old_umask);
  CHECK(changed);
  struct stat st;
  REQUIRE(stat((t / "f").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  REQUIRE(write_file_atomic(t / "f", "x\n", 0644, &changed, &err));
  CHECK_FALSE(changed);
  // Same content, other mode: rewritten with the wanted mode.
  REQUIRE(write_file_atomic(t / "f", "x\n", 0600, &changed, &err));
  CHECK(changed);
  REQUIRE(stat((t / "f").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("file errors name the path and the reason") {
  TempDir t;
  std::string out, err;
  CHECK_FALSE(read_file(t / "nope", &out, &err));
  CHECK(err == "open " + (t / "nope") + ": No such file or directory");
  bool changed = true;
  CHECK_FALSE(write_file_atomic(t / "nodir/f", "x", 0644, &changed, &err));
  CHECK_FALSE(changed);
  CHECK(err.find(t / "nodir/") != std::string::npos);
  CHECK(err.find("No such file or directory") != std::string::npos);
  put(t / "plain", "x");
  CHECK_FALSE(sync_files(t / "plain", {{"05-own-a", "a"}}, owned, 0644, false, nullptr, &err));
  CHECK(err.find(t / "plain") != std::string::npos);
  CHECK(err.find("Not a directory") != std::string::npos);
}

TEST_CASE("read_file reads binary content whole") {
  TempDir t;
  std::string big(200000, 'a');
  big[5] = '\0';
  put(t / "big", big);
  std::string out, err;
  REQUIRE(read_file(t / "big", &out, &err));
  CHECK(out == big);
}
