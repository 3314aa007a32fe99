// edge/out: text to a string or a descriptor, numbers as std::ostream wrote them,
// buffering until flush, a tied sink flushed first, a failed write remembered.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <sstream>
#include <thread>

#include "edge/out.h"

using namespace ec2nc;

namespace {

// A pipe whose read end is drained by a thread, so writes of any size complete.
struct Drain {
  int fds[2] = {-1, -1};
  std::string got;
  std::thread reader;
  Drain() {
    REQUIRE(::pipe(fds) == 0);
    reader = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, size_t(n));
    });
  }
  /// Closes the write end and returns everything written to it.
  std::string finish() {
    ::close(fds[1]);
    fds[1] = -1;
    reader.join();
    return got;
  }
  ~Drain() {
    if (fds[1] >= 0) finish();
    ::close(fds[0]);
  }
};

// What is buffered in a pipe right now, without blocking.
std::string pending(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, size_t(n));
  ::fcntl(fd, F_SETFL, flags);
  return s;
}

}  // namespace

TEST_CASE("Out to a string: text and integers as std::ostream writes them") {
  std::string s;
  Out out(&s);
  const std::string word = "word";
  out << "a " << word << ' ' << 0 << ' ' << -7 << ' ' << 42u << ' ' << INT_MIN << ' ' << INT_MAX << ' '
      << LLONG_MIN << ' ' << ULLONG_MAX << ' ' << size_t(123) << ' ' << uint32_t(4294967295u) << ' '
      << int64_t(-1) << ' ' << short(-3) << '\n';
  std::ostringstream want;
  want << "a " << word << ' ' << 0 << ' ' << -7 << ' ' << 42u << ' ' << INT_MIN << ' ' << INT_MAX << ' '
       << LLONG_MIN << ' ' << ULLONG_MAX << ' ' << size_t(123) << ' ' << uint32_t(4294967295u) << ' '
       << int64_t(-1) << ' ' << short(-3) << '\n';
  CHECK(s == want.str());
  out.write("x\0y", 3);
  CHECK(s == want.str() + std::string("x\0y", 3));
  CHECK(out.flush());
}

TEST_CASE("Out to a descriptor: nothing written before flush, everything after") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  {
    Out out(fds[1]);
    out << "line " << 1 << "\n";
    CHECK(pending(fds[0]).empty());
    CHECK(out.flush());
    CHECK(pending(fds[0]) == "line 1\n");
    out << "tail";
    CHECK(pending(fds[0]).empty());
  }  // the destructor flushes
  CHECK(pending(fds[0]) == "tail");
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("Out to a descriptor: large and many pieces arrive whole and in order") {
  Drain d;
  std::string want;
  {
    Out out(d.fds[1]);
    for (int i = 0; i < 20000; ++i) {
      out << "line " << i << "\n";
      want += "line " + std::to_string(i) + "\n";
    }
    std::string big(300 * 1024, 'x');  // longer than the buffer: goes out as it is
    out << big;
    want += big;
    out << "end\n";
    want += "end\n";
  }
  CHECK(d.finish() == want);
}

TEST_CASE("Out tied to another: the other's output goes first") {
  Drain d;
  {
    Out out(d.fds[1]);
    Out err(d.fds[1], &out);
    out << "output 1\n";
    err << "log 1\n";
    err.flush();
    out << "output 2\n";
    out << "output 3\n";
    err << "log 2\n";
    err.flush();
    out << "output 4\n";
  }
  CHECK(d.finish() == "output 1\nlog 1\noutput 2\noutput 3\nlog 2\noutput 4\n");
}

TEST_CASE("Out: a failed write is remembered and later output dropped") {
  int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;  // no /dev/full here
  Out out(fd);
  CHECK(out.flush());  // nothing buffered: nothing fails
  out << "text\n";
  CHECK_FALSE(out.flush());
  out << "more\n";
  CHECK_FALSE(out.flush());
  ::close(fd);
}
