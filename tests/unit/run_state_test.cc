// core/run_state: the record is read back whatever ended up in the file.
#include <doctest/doctest.h>

#include <string>

#include "core/run_state.h"

using namespace ec2nc;

TEST_CASE("run state: a record nested deeper than the stack is damaged, not a crash") {
  // tests/fuzz/corpus/fuzz_state/crash-deep-nesting.json: rapidjson's recursive parser
  // overflowed the stack on it.
  RunState st;
  std::string error;
  CHECK_FALSE(parse_state(std::string(300000, '['), &st, &error));
  CHECK(error.find("not a state file") != std::string::npos);
  CHECK(st.interfaces.empty());
}
