// Text output without iostreams: appended to a string, or written to a file descriptor
// (stdout, stderr). Everything ec2-netcfg prints is plain text, strings and integers;
// iostreams would link libstdc++'s locale machinery (~450 KiB of the static binary) for it.
#pragma once

#include <cstddef>
#include <string>

namespace ec2nc {

/// A text sink. The descriptor variant buffers: what was appended reaches the descriptor
/// on flush(), on destruction, or when the buffer is full.
class Out {
 public:
  /// Appends to `*text`, which must outlive the sink.
  explicit Out(std::string* text) : text_(text) {}
  /// Writes to `fd` (not closed by the sink). `tied`, when given, is flushed before
  /// each write to `fd`, as std::cerr flushes std::cout: log lines on stderr and the
  /// output before them on stdout reach a shared terminal or file in the order made.
  explicit Out(int fd, Out* tied = nullptr) : fd_(fd), tied_(tied) {}
  ~Out() { flush(); }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;

  Out& write(const char* data, size_t len);
  Out& operator<<(const std::string& s) { return write(s.data(), s.size()); }
  Out& operator<<(const char* s);
  Out& operator<<(char c) { return write(&c, 1); }
  Out& operator<<(int n) { return *this << static_cast<long long>(n); }
  Out& operator<<(long n) { return *this << static_cast<long long>(n); }
  Out& operator<<(long long n);
  Out& operator<<(unsigned n) { return *this << static_cast<unsigned long long>(n); }
  Out& operator<<(unsigned long n) { return *this << static_cast<unsigned long long>(n); }
  Out& operator<<(unsigned long long n);
  // Left out on purpose: std::ostream prints a (un)signed char as a character and a bool
  // as 1 or 0, and any other pointer would quietly become a bool here. Say which is
  // meant (a char, or a cast to an integer).
  Out& operator<<(bool) = delete;
  Out& operator<<(signed char) = delete;
  Out& operator<<(unsigned char) = delete;

  /// Writes out what is buffered (retrying on EINTR and short writes). False when a
  /// write failed, now or earlier; from the first failure on, output is dropped.
  bool flush();

 private:
  /// Writes `data` to the descriptor unless a write failed before; records the errno.
  void send(const char* data, size_t len);

  std::string* text_ = nullptr;
  int fd_ = -1;
  Out* tied_ = nullptr;
  std::string buf_;
  int error_ = 0;  ///< errno of the first failed write
};

}  // namespace ec2nc
