// Fuzz target: parse_state, the reader of ec2-netcfg's record (run/ec2-netcfg/state.json),
// which is the evidence of what ec2-netcfg may remove. Whatever the file holds after a
// crash, a full disk or a hand edit, it is either refused with a reason or read into
// records that format_state writes back and parse_state reads again unchanged.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "core/run_state.h"
#include "fuzz.h"

using namespace ec2nc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  RunState st;
  std::string error;
  if (!parse_state(text, &st, &error)) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  std::set<std::string> names;
  for (auto& r : st.interfaces) {
    FUZZ_CHECK(names.insert(r.name).second);
    FUZZ_CHECK(r.ifindex >= 0);
    FUZZ_CHECK(st.find(r.name) != nullptr);
    for (auto& rule : r.file_rules) {
      if (rule.from) FUZZ_CHECK(rule.from->family() == rule.family);
      (void)r.wrote_rule(rule);
    }
    for (auto& route : r.file_routes) (void)r.wrote_route(route);
    for (auto& a : r.addresses) FUZZ_CHECK(r.owns_address(a.addr));
  }
  const std::string once = format_state(st);
  RunState back;
  std::string error2;
  FUZZ_CHECK(parse_state(once, &back, &error2));
  FUZZ_CHECK(back.interfaces.size() == st.interfaces.size());
  FUZZ_CHECK(format_state(back) == once);
  return 0;
}
