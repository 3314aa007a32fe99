// Fuzz target: parse_config, the reader of /etc/ec2-netcfg/ec2-netcfg.conf (INI via
// inih). Whatever the text, it either fails naming the file and line or yields a
// Config whose every value is inside its documented range.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "fuzz.h"

using namespace ec2nc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Config c;
  c.table_base = 7;  // never a parsed value: a failed parse must leave it alone
  std::string error;
  if (!parse_config(text, "fuzz.conf", &c, &error)) {
    FUZZ_CHECK(error.rfind("fuzz.conf:", 0) == 0);
    FUZZ_CHECK(c.table_base == 7);
    return 0;
  }
  FUZZ_CHECK(c.backend.empty() || c.backend == "networkd" || c.backend == "netplan" || c.backend == "netlink");
  // Every ENI's rule (table-base + 100*99 + 99 at most) before main's rule at 32766.
  FUZZ_CHECK(c.table_base >= 1000 && c.table_base + 100 * 99 + 99 < 32766);
  FUZZ_CHECK(c.link_group >= 1 && c.link_group <= 2147483647u);
  FUZZ_CHECK(c.aws_vpc_cni == "auto" || c.aws_vpc_cni == "yes" || c.aws_vpc_cni == "no");
  FUZZ_CHECK(c.wait_timeout_s >= 1 && c.wait_timeout_s <= 3600);
  FUZZ_CHECK(c.imds_connect_timeout_ms >= 10 && c.imds_connect_timeout_ms <= 60000);
  FUZZ_CHECK(c.imds_request_timeout_ms >= 10 && c.imds_request_timeout_ms <= 120000);
  FUZZ_CHECK(c.imds_attempts >= 1 && c.imds_attempts <= 100);
  for (auto& pattern : c.ignore) {
    FUZZ_CHECK(!pattern.empty());
    for (char ch : pattern) FUZZ_CHECK(ch != ' ' && ch != '\t' && ch != '\n');
  }
  // The ignore patterns are shell globs matched against names and MACs.
  (void)config_ignores(c, "ens5", "02:86:10:7b:e4:f5");
  (void)config_ignores(c, "", "");
  return 0;
}
