// Log lines for a person on stderr, or for journald (priority prefixes) under systemd.
// Only the app logs; core and edge return errors as values.
#pragma once

#include <cstdlib>
#include <string>

#include "edge/out.h"

namespace ec2nc {

class Log {
 public:
  Log(Out& err, int verbosity) : err_(err), verbosity_(verbosity) {
    journal_ = std::getenv("JOURNAL_STREAM") != nullptr;
  }
  void error(const std::string& m) { line(3, "error: ", m); }
  void warn(const std::string& m) {
    if (verbosity_ >= 1) line(4, "warning: ", m);
  }
  void info(const std::string& m) {
    if (verbosity_ >= 1) line(6, "", m);
  }
  void debug(const std::string& m) {
    if (verbosity_ >= 2) line(7, "", m);
  }
  /// Info lines, one for each of [first, last) as `text` words it, written together: a
  /// first apply logs a line per kernel change, thousands on the largest shape.
  template <class It, class Text>
  void info_lines(It first, It last, Text text) {
    if (verbosity_ < 1 || first == last) return;
    const std::string pre = prefix(6, "");
    std::string block;
    for (; first != last; ++first) {
      block += pre;
      block += text(*first);
      block += '\n';
    }
    err_ << block;
    err_.flush();
  }

 private:
  std::string prefix(int prio, const char* tag) const {
    return journal_ ? "<" + std::to_string(prio) + ">" : std::string("ec2-netcfg: ") + tag;
  }
  // Each line goes out whole in one write (a first apply logs a line per kernel change),
  // never split by another writer on the same stream.
  void line(int prio, const char* tag, const std::string& m) {
    std::string l = prefix(prio, tag);
    l += m;
    l += '\n';
    err_ << l;
    err_.flush();
  }
  Out& err_;
  int verbosity_;
  bool journal_ = false;
};

}  // namespace ec2nc
