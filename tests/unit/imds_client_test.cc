// ImdsClient against the local IMDSv2 emulator (tests/tools/imds_emulator.py) on
// 127.0.0.1, and resolve_imds_endpoint. Nothing here contacts 169.254.169.254.
#include "edge/imds_client.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace ec2nc {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char kEmulator[] = EC2NC_TEST_DATA "/../tools/imds_emulator.py";

const char kCapture[] = R"({"format": "ec2-netcfg-metadata/1", "paths": {
  "meta-data/mac": "02:00:00:00:00:01",
  "meta-data/network/interfaces/macs/": "02:00:00:00:00:01/",
  "meta-data/network/interfaces/macs/02:00:00:00:00:01/": "device-number\nlocal-ipv4s",
  "meta-data/network/interfaces/macs/02:00:00:00:00:01/device-number": "0",
  "meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s": "10.0.0.5\n10.0.0.6"
}})";

void write_file(const fs::path& p, const std::string& text) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
  }
  fs::rename(tmp, p);  // the emulator re-reads on change: never let it see half a file
}

/// The emulator as a child process on 127.0.0.1, killed when this goes out of scope.
class Emulator {
 public:
  explicit Emulator(const std::string& capture = kCapture) {
    char tmpl[] = "/tmp/ec2nc-imds-test.XXXXXX";
    if (!mkdtemp(tmpl)) return;
    dir_ = tmpl;
    write_file(dir_ / "capture.json", capture);
    std::vector<std::string> args = {"python3",       kEmulator,
                                     "--capture",     (dir_ / "capture.json").string(),
                                     "--port-file",   (dir_ / "port").string(),
                                     "--log",         (dir_ / "log").string(),
                                     "--faults",      (dir_ / "faults.json").string(),
                                     "--max-seconds", "300"};
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    auto until = Clock::now() + seconds(15);
    while (Clock::now() < until) {
      std::ifstream f(dir_ / "port");
      if (f >> port_) return;
      int status = 0;
      if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  ~Emulator() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  bool running() const { return pid_ > 0 && port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void faults(const std::string& json) { write_file(dir_ / "faults.json", json); }

  /// Requests the emulator logged (method "PUT" or "GET"; "" = all).
  unsigned count(const std::string& method = "") const {
    unsigned n = 0;
    for (auto& line : log_lines()) {
      if (method.empty() || line.find("\"method\": \"" + method + "\"") != std::string::npos) ++n;
    }
    return n;
  }
  /// Distinct TCP connections the logged requests came on.
  unsigned logged_connections() const {
    std::map<std::string, int> seen;
    for (auto& line : log_lines()) {
      auto at = line.find("\"connection\": ");
      if (at != std::string::npos) seen[line.substr(at)]++;
    }
    return static_cast<unsigned>(seen.size());
  }

 private:
  std::vector<std::string> log_lines() const {
    std::vector<std::string> out;
    std::ifstream f(dir_ / "log");
    for (std::string line; std::getline(f, line);) out.push_back(line);
    return out;
  }

  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

ImdsOptions options_for(const std::string& endpoint) {
  ImdsOptions o;
  o.endpoint = endpoint;
  o.connect_timeout_ms = 500;
  o.request_timeout_ms = 2000;
  o.attempts = 6;
  o.deadline = Clock::now() + seconds(30);
  return o;
}

/// A loopback port with nothing listening (bound once, then released).
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

/// Sets (or with nullopt unsets) environment variables, restoring them on scope exit.
class EnvGuard {
 public:
  void set(const char* name, std::optional<std::string> value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~EnvGuard() {
    for (auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

const char kMacPath[] = "meta-data/mac";
const char kIpsPath[] = "meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s";

}  // namespace

TEST_CASE("imds: one token and one connection for many requests") {
  Emulator emu;
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url()));
  for (int i = 0; i < 20; ++i) {
    auto r = c.get(i % 2 ? kMacPath : kIpsPath);
    REQUIRE(r.status == FetchResult::Status::Ok);
    CHECK(r.body == (i % 2 ? "02:00:00:00:00:01" : "10.0.0.5\n10.0.0.6"));
  }
  CHECK(emu.count("PUT") == 1);
  CHECK(emu.count("GET") == 20);
  CHECK(c.requests() == 21);
  CHECK(c.connections() == 1);
  CHECK(emu.logged_connections() == 1);
}

TEST_CASE("imds: directory listing and 404") {
  Emulator emu;
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url() + "/"));  // a trailing '/' on the endpoint is harmless
  auto list = c.get("meta-data/network/interfaces/macs/");
  REQUIRE(list.status == FetchResult::Status::Ok);
  CHECK(list.body == "02:00:00:00:00:01/");
  auto missing = c.get("meta-data/network/interfaces/macs/02:00:00:00:00:01/ipv6s");
  CHECK(missing.status == FetchResult::Status::NotFound);
  CHECK(missing.body.empty());
  CHECK(emu.count("GET") == 2);  // a 404 is an answer, not retried
}

TEST_CASE("imds: 401 after the service forgets tokens fetches a new one") {
  Emulator emu;
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url()));
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  emu.faults(R"({"invalidate_tokens": true})");
  auto r = c.get(kIpsPath);
  REQUIRE(r.status == FetchResult::Status::Ok);
  CHECK(r.body == "10.0.0.5\n10.0.0.6");
  CHECK(emu.count("PUT") == 2);
  CHECK(emu.count("GET") == 3);  // ok, 401, ok
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  CHECK(emu.count("PUT") == 2);  // the new token is reused
}

TEST_CASE("imds: a 401 with a fresh token is an error, not a loop") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"status": {"meta-data/mac": [401, 401, 401]}})");
  ImdsClient c(options_for(emu.url()));
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error.find("meta-data/mac: HTTP 401") == 0);
  CHECK(emu.count("PUT") == 2);
  CHECK(emu.count("GET") == 2);
}

TEST_CASE("imds: 503 and 429 are retried until the service recovers") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"status": {"meta-data/mac": [503, 429, 500]}, "token_status": [503, 503]})");
  ImdsClient c(options_for(emu.url()));
  auto r = c.get(kMacPath);
  REQUIRE(r.status == FetchResult::Status::Ok);
  CHECK(r.body == "02:00:00:00:00:01");
  CHECK(emu.count("PUT") == 3);
  CHECK(emu.count("GET") == 4);
  CHECK(c.requests() == 7);
  CHECK(c.connections() == 1);  // error answers keep the connection
}

TEST_CASE("imds: 5xx beyond the attempts is an Error naming path, status and attempts") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"status": {"meta-data/mac": [503, 503, 503, 503, 503, 503, 503, 503]}})");
  auto o = options_for(emu.url());
  o.attempts = 3;
  ImdsClient c(o);
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Error);  // never NotFound
  CHECK(r.error == "meta-data/mac: HTTP 503 after 3 attempts");
  CHECK(emu.count("GET") == 3);
}

TEST_CASE("imds: other 4xx are not retried") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"status": {"meta-data/mac": [400, 400]}})");
  ImdsClient c(options_for(emu.url()));
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error == "meta-data/mac: HTTP 400");
  CHECK(emu.count("GET") == 1);
}

TEST_CASE("imds: 403 on the token PUT is an error without retries") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"disabled": true})");
  ImdsClient c(options_for(emu.url()));
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error.find("meta-data/mac: ") == 0);
  CHECK(r.error.find("IMDS refused a token (403): IMDS disabled for this instance or hop limit") != std::string::npos);
  CHECK(emu.count("PUT") == 1);
  CHECK(emu.count("GET") == 0);
  CHECK(c.requests() == 1);
}

TEST_CASE("imds: dropped connections are retried on new ones") {
  Emulator emu;
  REQUIRE(emu.running());
  SUBCASE("at connect") {
    emu.faults(R"({"drop": 2})");
    ImdsClient c(options_for(emu.url()));
    auto r = c.get(kMacPath);
    REQUIRE(r.status == FetchResult::Status::Ok);
    CHECK(c.connections() == 3);
    CHECK(emu.count("PUT") == 1);
  }
  SUBCASE("on a kept-alive connection") {
    ImdsClient c(options_for(emu.url()));
    REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
    CHECK(c.connections() == 1);
    emu.faults(R"({"drop_requests": 3})");
    auto r = c.get(kIpsPath);
    REQUIRE(r.status == FetchResult::Status::Ok);
    CHECK(r.body == "10.0.0.5\n10.0.0.6");
    CHECK(c.connections() >= 2);
    CHECK(emu.count("PUT") == 1);  // the token survives a dropped connection
  }
}

TEST_CASE("imds: timeouts are retried and bounded") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"delay_ms": 1500})");
  auto o = options_for(emu.url());
  o.request_timeout_ms = 200;
  o.attempts = 3;
  ImdsClient c(o);
  auto start = Clock::now();
  auto r = c.get(kMacPath);
  auto took = Clock::now() - start;
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error.find("meta-data/mac: token PUT /latest/api/token: ") == 0);
  CHECK(r.error.find("after 3 attempts") != std::string::npos);
  CHECK(r.error.find("hop limit") != std::string::npos);  // the usual cause of a silent token PUT
  CHECK(c.requests() == 3);
  CHECK(took < seconds(3) + milliseconds(3 * 200) + seconds(2));
}

TEST_CASE("imds: IMDS down ends in an Error within the deadline") {
  int port = closed_port();
  auto o = options_for("http://127.0.0.1:" + std::to_string(port));
  SUBCASE("attempts run out") {
    ImdsClient c(o);
    auto start = Clock::now();
    auto r = c.get(kMacPath);
    CHECK(r.status == FetchResult::Status::Error);
    CHECK(r.error.find("meta-data/mac: ") == 0);
    CHECK(r.error.find("after 6 attempts") != std::string::npos);
    CHECK(c.requests() == 6);
    // Backoff sleeps sum to at most 0.1+0.2+0.4+0.8+1.6 s.
    CHECK(Clock::now() - start < seconds(3) + milliseconds(100) + seconds(2));
  }
  SUBCASE("the deadline runs out first") {
    o.attempts = 1000;
    o.deadline = Clock::now() + milliseconds(1500);
    ImdsClient c(o);
    auto r = c.get(kMacPath);
    CHECK(r.status == FetchResult::Status::Error);
    CHECK(r.error.find("(run deadline reached)") != std::string::npos);
    CHECK(Clock::now() < o.deadline + seconds(2));
    auto again = c.get(kIpsPath);  // past the deadline: nothing is sent
    CHECK(again.status == FetchResult::Status::Error);
    CHECK(Clock::now() < o.deadline + seconds(2));
  }
}

TEST_CASE("imds: a slow service is cut at the deadline") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"delay_ms": 5000})");
  auto o = options_for(emu.url());
  o.request_timeout_ms = 10000;
  o.deadline = Clock::now() + milliseconds(800);
  ImdsClient c(o);
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(Clock::now() < o.deadline + seconds(2));
}

TEST_CASE("imds: proxies from the environment are ignored") {
  Emulator emu;
  REQUIRE(emu.running());
  EnvGuard env;
  int port = closed_port();
  std::string proxy = "http://127.0.0.1:" + std::to_string(port);
  for (const char* v : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) env.set(v, proxy);
  env.set("no_proxy", std::nullopt);
  env.set("NO_PROXY", std::nullopt);
  ImdsClient c(options_for(emu.url()));
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Ok);
}

TEST_CASE("imds: response bodies are capped") {
  std::string capture = kCapture;
  std::string big(1536 * 1024, 'x');
  std::string medium(200 * 1024, 'y');
  capture.replace(capture.rfind("}}"), 2,
                  ", \"meta-data/big\": \"" + big + "\", \"meta-data/medium\": \"" + medium + "\"}}");
  Emulator emu(capture);
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url()));
  auto r = c.get("meta-data/big");
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error.find("meta-data/big: response larger than") == 0);
  CHECK(emu.count("GET") == 1);  // not retried
  auto m = c.get("meta-data/medium");
  REQUIRE(m.status == FetchResult::Status::Ok);
  CHECK(m.body == medium);
}

TEST_CASE("imds: paths that would break the request line are refused") {
  ImdsClient c(options_for("http://127.0.0.1:" + std::to_string(closed_port())));
  for (const char* p : {"", "meta-data/mac\r\nX: y", "meta-data/a b", "/meta-data/mac", "meta-data/mac?x=1"}) {
    auto r = c.get(p);
    CHECK(r.status == FetchResult::Status::Error);
  }
  CHECK(c.requests() == 0);
}

TEST_CASE("imds: resolve_imds_endpoint") {
  EnvGuard env;
  for (const char* v :
       {"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"}) {
    env.set(v, std::nullopt);
  }
  std::string ep, err;
  auto resolve = [&](const std::string& cli) {
    ep.clear();
    err.clear();
    return resolve_imds_endpoint(cli, &ep, &err);
  };

  SUBCASE("defaults") {
    REQUIRE(resolve(""));
    CHECK(ep == "http://169.254.169.254");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6");
    REQUIRE(resolve(""));
    CHECK(ep == "http://[fd00:ec2::254]");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv6");
    REQUIRE(resolve(""));
    CHECK(ep == "http://[fd00:ec2::254]");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4");
    REQUIRE(resolve(""));
    CHECK(ep == "http://169.254.169.254");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv5");
    CHECK_FALSE(resolve(""));
    CHECK(err.find("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") != std::string::npos);
  }
  SUBCASE("command line, then environment") {
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8111/");
    REQUIRE(resolve(""));
    CHECK(ep == "http://127.0.0.1:8111");
    REQUIRE(resolve("http://[::1]:9000"));
    CHECK(ep == "http://[::1]:9000");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6");  // an explicit endpoint wins
    REQUIRE(resolve(""));
    CHECK(ep == "http://127.0.0.1:8111");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1/latest/");
    CHECK_FALSE(resolve(""));
    CHECK(err.find("AWS_EC2_METADATA_SERVICE_ENDPOINT") == 0);
  }
  SUBCASE("URL forms") {
    for (const char* good :
         {"http://169.254.169.254", "http://169.254.169.254/", "http://localhost:80", "HTTP://127.0.0.1:1",
          "http://[fd00:ec2::254]", "http://[fd00:ec2::254]:80/", "http://imds.example:65535"}) {
      CAPTURE(good);
      CHECK(resolve(good));
      CHECK(ep.find("http://") == 0);
      CHECK(ep.back() != '/');
    }
    for (const char* bad :
         {"https://169.254.169.254", "169.254.169.254", "http://", "http:///", "http://h/latest", "http://h:0",
          "http://h:65536", "http://h:", "http://h:8x", "http://u@h", "http://[fd00:ec2::254", "http://[zz::1]:80",
          "http://[::1]x", "http://fd00::1", "http://h?x", "ftp://h", "http://h h"}) {
      CAPTURE(bad);
      CHECK_FALSE(resolve(bad));
      CHECK(err.find("--imds-endpoint") == 0);
    }
  }
  SUBCASE("disabled") {
    for (const char* v : {"true", "TRUE", "True"}) {
      env.set("AWS_EC2_METADATA_DISABLED", v);
      CHECK_FALSE(resolve(""));
      CHECK(err.find("AWS_EC2_METADATA_DISABLED") != std::string::npos);
      CHECK_FALSE(resolve("http://127.0.0.1:1"));
    }
    env.set("AWS_EC2_METADATA_DISABLED", "false");
    CHECK(resolve(""));
  }
}

}  // namespace ec2nc
