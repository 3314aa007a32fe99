#include <doctest/doctest.h>

#include "core/config.h"

using namespace ec2nc;

TEST_CASE("config: defaults, values, errors with file and line") {
  Config c;
  std::string err;
  REQUIRE(parse_config("", "x.conf", &c, &err));
  CHECK(c.table_base == 10000);
  CHECK(c.primary_rules);
  CHECK(c.imds_connections == 16);
  REQUIRE(parse_config("[main]\ntable-base = 20000\nprimary-rules = no\nignore = ens7 02:aa:*\n[imds]\nattempts = 3\n"
                       "connections = 2\n",
                       "x.conf", &c, &err));
  CHECK(c.table_base == 20000);
  CHECK(!c.primary_rules);
  CHECK(c.imds_attempts == 3);
  CHECK(c.imds_connections == 2);
  Config d;
  CHECK(!parse_config("[imds]\nconnections = 0\n", "x.conf", &d, &err));
  CHECK(!parse_config("[imds]\nconnections = 33\n", "x.conf", &d, &err));
  CHECK(config_ignores(c, "ens7", "02:86:00:00:00:01"));
  CHECK(config_ignores(c, "ens9", "02:AA:00:00:00:01"));
  CHECK(!config_ignores(c, "ens5", "02:86:00:00:00:01"));

  CHECK(!parse_config("[main]\n\ntable-base = 12\n", "/etc/x.conf", &c, &err));
  CHECK(err.find("/etc/x.conf:3:") == 0);
  CHECK(err.find("table-base") != std::string::npos);
  CHECK(!parse_config("[main]\nbogus = 1\n", "x.conf", &c, &err));
  CHECK(err.find("x.conf:2: unknown key \"bogus\"") == 0);
  CHECK(!parse_config("[main]\nprimary-rules = maybe\n", "x.conf", &c, &err));
  CHECK(!parse_config("[main]\nbackend = ifupdown\n", "x.conf", &c, &err));
  CHECK(!parse_config("garbage line\n", "x.conf", &c, &err));
  CHECK(err.find("x.conf:1:") == 0);
}

TEST_CASE("config: ignore splits on any whitespace, as reading words from a stream did") {
  Config c;
  std::string err;
  REQUIRE(parse_config("[main]\nignore = ens7 \t02:aa:*\v\f  eth* \r\n", "x.conf", &c, &err));
  CHECK(c.ignore == std::vector<std::string>{"ens7", "02:aa:*", "eth*"});
  REQUIRE(parse_config("[main]\nignore = e\xc3\xa9 x\n", "x.conf", &c, &err));
  CHECK(c.ignore == std::vector<std::string>{"e\xc3\xa9", "x"});
  REQUIRE(parse_config("[main]\nignore =\n", "x.conf", &c, &err));
  CHECK(c.ignore.empty());
  REQUIRE(parse_config("[main]\nignore = one\n", "x.conf", &c, &err));
  CHECK(c.ignore == std::vector<std::string>{"one"});
}

TEST_CASE("config: wait-timeout stays below the units' 90 s stop") {
  Config c;
  std::string err;
  REQUIRE(parse_config("[main]\nwait-timeout = 80\n", "x.conf", &c, &err));
  CHECK(c.wait_timeout_s == 80);
  Config d;
  CHECK_FALSE(parse_config("[main]\nwait-timeout = 81\n", "x.conf", &d, &err));
  CHECK(err.find("wait-timeout") != std::string::npos);
  CHECK(err.find("80") != std::string::npos);
  CHECK_FALSE(parse_config("[main]\nwait-timeout = 3600\n", "x.conf", &d, &err));
}
