#include "edge/out.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace ec2nc {

namespace {

// A descriptor sink writes once this much is buffered; a longer piece (dump-metadata's
// capture) goes out as it is, without a copy.
constexpr size_t kBufferSize = 64 * 1024;

}  // namespace

Out& Out::write(const char* data, size_t len) {
  if (text_) {
    text_->append(data, len);
    return *this;
  }
  if (buf_.size() + len >= kBufferSize) {
    flush();
    if (len >= kBufferSize) {
      send(data, len);
      return *this;
    }
  }
  if (!error_) buf_.append(data, len);
  return *this;
}

Out& Out::operator<<(const char* s) { return write(s, std::strlen(s)); }

Out& Out::operator<<(long long n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  return write(buf, size_t(r.ptr - buf));
}

Out& Out::operator<<(unsigned long long n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  return write(buf, size_t(r.ptr - buf));
}

bool Out::flush() {
  if (text_) return true;
  send(buf_.data(), buf_.size());
  buf_.clear();
  return error_ == 0;
}

void Out::send(const char* data, size_t len) {
  if (tied_ && len) tied_->flush();
  for (size_t done = 0; !error_ && done < len;) {
    ssize_t n = ::write(fd_, data + done, len - done);
    if (n > 0) done += size_t(n);
    else if (n == 0) error_ = EIO;  // no progress: never loop on it
    else if (errno != EINTR) error_ = errno;
  }
}

}  // namespace ec2nc
