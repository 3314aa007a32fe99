// ImdsClient against the local IMDSv2 emulator (tests/tools/imds_emulator.py) on
// 127.0.0.1, and resolve_imds_endpoint. Nothing here contacts 169.254.169.254.
#include "edge/imds_client.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
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
  /// When the emulator began handling each request for /latest/PATH (seconds), in order.
  std::vector<double> started(const std::string& path) const {
    std::vector<double> out;
    const std::string want = "\"path\": \"/latest/" + path + "\"";
    for (auto& line : log_lines()) {
      auto t = line.find("\"t\": ");
      if (line.find(want) != std::string::npos && t != std::string::npos) out.push_back(std::stod(line.substr(t + 5)));
    }
    return out;
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

/// An HTTP/1.1 server on 127.0.0.1 whose every answer a test scripts: for headers the
/// emulator cannot send (Retry-After) and exact request times. Keeps connections alive.
class ScriptedServer {
 public:
  struct Request {
    std::string method, path;
    Clock::time_point at;
  };
  /// Returns the whole response (status line, headers, body) for a request.
  using Script = std::function<std::string(const Request&, unsigned nth_for_path)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd_, 8) != 0) return;
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  bool running() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests(const std::string& method = "") const {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<Request> out;
    for (auto& r : log_)
      if (method.empty() || r.method == method) out.push_back(r);
    return out;
  }

  static std::string response(int status, const std::string& body = "", const std::string& headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + headers + "\r\n" + body;
  }
  /// The usual answers: a token for the PUT, `body` for GETs.
  static std::string ok(const Request& r, const std::string& body = "02:00:00:00:00:01") {
    if (r.method == "PUT") return response(200, "t0ken", "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n");
    return response(200, body);
  }

 private:
  void serve() {
    std::vector<int> conns;
    std::map<int, std::string> pending;
    while (!stop_) {
      std::vector<pollfd> fds = {{fd_, POLLIN, 0}};
      for (int c : conns) fds.push_back({c, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) conns.push_back(c);
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int c = fds[i].fd;
        char buf[4096];
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) {
          close(c);
          conns.erase(std::find(conns.begin(), conns.end(), c));
          pending.erase(c);
          continue;
        }
        std::string& in = pending[c];
        in.append(buf, size_t(n));
        for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
          std::istringstream head(in.substr(0, end));
          in.erase(0, end + 4);  // the client's PUT and GETs carry no body
          Request r;
          std::string target;
          head >> r.method >> target;
          r.path = target.rfind("/latest/", 0) == 0 ? target.substr(8) : target;
          r.at = Clock::now();
          unsigned nth = 0;
          {
            std::lock_guard<std::mutex> g(mu_);
            for (auto& e : log_) nth += e.method == r.method && e.path == r.path;
            log_.push_back(r);
          }
          std::string out = script_(r, nth);
          for (size_t done = 0; done < out.size();) {
            ssize_t w = write(c, out.data() + done, out.size() - done);
            if (w <= 0) break;
            done += size_t(w);
          }
        }
      }
    }
    for (int c : conns) close(c);
  }

  Script script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> log_;
};

long long ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<milliseconds>(b - a).count();
}

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

TEST_CASE("imds: get_many sends a round's requests together, over at most max_connections") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"delay_ms": 100})");
  auto o = options_for(emu.url());
  o.max_connections = 4;
  ImdsClient c(o);
  std::vector<std::string> paths;
  for (int i = 0; i < 8; ++i) paths.push_back(i % 2 ? kMacPath : kIpsPath);
  auto start = Clock::now();
  auto rs = c.get_many(paths);
  auto took = ms_between(start, Clock::now());
  REQUIRE(rs.size() == paths.size());
  for (size_t i = 0; i < rs.size(); ++i) {
    REQUIRE(rs[i].status == FetchResult::Status::Ok);
    CHECK(rs[i].body == (i % 2 ? "02:00:00:00:00:01" : "10.0.0.5\n10.0.0.6"));
  }
  // The token, then two waves of four: not nine answers one after another.
  CHECK(took >= 300);
  CHECK(took < 700);
  CHECK(emu.count("PUT") == 1);
  CHECK(emu.count("GET") == 8);
  CHECK(c.requests() == 9);
  CHECK(c.connections() <= 4);
  CHECK(emu.logged_connections() <= 4);
  CHECK(c.rounds() == 2);  // the token PUT, then the round
  // The connections stay open for the next round.
  REQUIRE(c.get_many({kMacPath, kIpsPath, kMacPath}).size() == 3);
  CHECK(c.connections() <= 4);
  CHECK(c.rounds() == 3);
}

TEST_CASE("imds: crawl sends an answer's follow-ups as soon as it is in, beside the rest") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"delay_ms": 200})");
  auto o = options_for(emu.url());
  o.max_connections = 2;
  ImdsClient c(o);
  const std::string macs = "meta-data/network/interfaces/macs/";
  const std::string eni = macs + "02:00:00:00:00:01/";
  std::vector<std::string> answered;
  // A chain (macs/ -> the ENI's listing -> its two keys) beside two paths that call for
  // nothing. One generation at a time that is the token, two waves for the first three
  // paths, then one for the listing and one for the keys: 5 x 200 ms. Follow-ups sent as
  // their answer comes in fill the second wave: 4 x 200 ms.
  auto start = Clock::now();
  c.crawl({macs, kMacPath, kMacPath}, [&](const std::string& path, const FetchResult& r) {
    answered.push_back(path);
    CHECK(r.status == FetchResult::Status::Ok);
    if (path == macs) return std::vector<std::string>{eni};
    if (path == eni) return std::vector<std::string>{eni + "device-number", eni + "local-ipv4s"};
    return std::vector<std::string>{};
  });
  auto took = ms_between(start, Clock::now());
  CHECK(answered.size() == 6);
  CHECK(std::count(answered.begin(), answered.end(), eni + "local-ipv4s") == 1);
  CHECK(took >= 800);
  // The ENI's listing went out in the second wave, beside the last of the first paths
  // (one generation at a time, it would start a wave, 200 ms, after that one).
  auto listing = emu.started(eni), last_first = emu.started(kMacPath);
  REQUIRE(listing.size() == 1);
  REQUIRE(last_first.size() == 2);
  CHECK(std::abs(listing[0] - last_first[1]) < 0.1);
  CHECK(c.requests() == 7);
  CHECK(c.rounds() == 4);  // token, macs/, the ENI's listing, its keys
  CHECK(emu.logged_connections() <= 2);
}

TEST_CASE("imds: crawl after a 401: those paths once more with a new token, and their follow-ups") {
  Emulator emu;
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url()));
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  emu.faults(R"({"invalidate_tokens": true})");
  std::map<std::string, FetchResult::Status> got;
  c.crawl({"meta-data/network/interfaces/macs/02:00:00:00:00:01/", "bad path"},
          [&](const std::string& path, const FetchResult& r) {
            got[path] = r.status;
            if (path == "bad path") return std::vector<std::string>{"bad path 2"};
            if (r.status != FetchResult::Status::Ok || path != "meta-data/network/interfaces/macs/02:00:00:00:00:01/")
              return std::vector<std::string>{};
            return std::vector<std::string>{kIpsPath};
          });
  CHECK(got.size() == 4);
  CHECK(got["meta-data/network/interfaces/macs/02:00:00:00:00:01/"] == FetchResult::Status::Ok);
  CHECK(got[kIpsPath] == FetchResult::Status::Ok);
  CHECK(got["bad path"] == FetchResult::Status::Error);    // never sent; what it calls for
  CHECK(got["bad path 2"] == FetchResult::Status::Error);  // is judged at once too
  CHECK(emu.count("PUT") == 2);
  CHECK(emu.count("GET") == 1 + 2 + 1);  // the listing twice (401, then Ok), then the key
}

TEST_CASE("imds: get_many gives every path its own outcome") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"status": {"meta-data/mac": [503, 503, 503, 503]}})");
  auto o = options_for(emu.url());
  o.attempts = 2;
  ImdsClient c(o);
  auto rs = c.get_many({kIpsPath, kMacPath, "meta-data/none", "bad path", kIpsPath});
  REQUIRE(rs.size() == 5);
  CHECK(rs[0].status == FetchResult::Status::Ok);
  CHECK(rs[1].status == FetchResult::Status::Error);
  CHECK(rs[1].error == "meta-data/mac: HTTP 503 after 2 attempts");
  CHECK(rs[2].status == FetchResult::Status::NotFound);
  CHECK(rs[3].status == FetchResult::Status::Error);
  CHECK(rs[3].error.find("not a valid metadata path") != std::string::npos);
  CHECK(rs[4].status == FetchResult::Status::Ok);
  CHECK(emu.count("GET") == 5);  // the 503 twice; the bad path never sent
  CHECK(c.rounds() == 3);        // token, round, the 503's retry
  CHECK(c.get_many({}).empty());
}

TEST_CASE("imds: get_many after a 401: one new token, those paths sent once more") {
  Emulator emu;
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url()));
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  emu.faults(R"({"invalidate_tokens": true})");
  auto rs = c.get_many({kMacPath, kIpsPath, kMacPath});
  REQUIRE(rs.size() == 3);
  for (auto& r : rs) CHECK(r.status == FetchResult::Status::Ok);
  CHECK(emu.count("PUT") == 2);
  CHECK(emu.count("GET") == 1 + 3 + 3);
  SUBCASE("a 401 with the fresh token too is an error naming each path") {
    emu.faults(R"({"status": {"meta-data/mac": [401, 401, 401, 401]}})");
    auto again = c.get_many({kMacPath, kIpsPath});
    CHECK(again[0].status == FetchResult::Status::Error);
    CHECK(again[0].error == "meta-data/mac: HTTP 401 even with a freshly fetched token");
    CHECK(again[1].status == FetchResult::Status::Ok);
  }
}

TEST_CASE("imds: get_many when no token can be had: every path fails, naming itself") {
  Emulator emu;
  REQUIRE(emu.running());
  emu.faults(R"({"disabled": true})");
  ImdsClient c(options_for(emu.url()));
  auto rs = c.get_many({kMacPath, kIpsPath});
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].error.find("meta-data/mac: IMDS refused a token (403)") == 0);
  CHECK(rs[1].error.find(std::string(kIpsPath) + ": IMDS refused a token (403)") == 0);
  CHECK(emu.count("PUT") == 1);
  CHECK(emu.count("GET") == 0);
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

TEST_CASE("imds: Retry-After on 503 and 429 is waited for") {
  ScriptedServer srv([](const ScriptedServer::Request& r, unsigned nth) {
    if (r.method == "GET" && nth == 0) return ScriptedServer::response(503, "", "Retry-After: 1\r\n");
    if (r.method == "GET" && nth == 1) return ScriptedServer::response(429, "", "retry-after:  1 \r\n");
    return ScriptedServer::ok(r);
  });
  REQUIRE(srv.running());
  ImdsClient c(options_for(srv.url()));
  auto r = c.get(kMacPath);
  REQUIRE(r.status == FetchResult::Status::Ok);
  CHECK(r.body == "02:00:00:00:00:01");
  auto gets = srv.requests("GET");
  REQUIRE(gets.size() == 3);
  // Backoff alone would wait at most 0.1 s, then 0.2 s.
  CHECK(ms_between(gets[0].at, gets[1].at) >= 990);
  CHECK(ms_between(gets[1].at, gets[2].at) >= 990);
  CHECK(ms_between(gets[0].at, gets[2].at) < 4000);
}

TEST_CASE("imds: Retry-After on the token PUT is waited for") {
  ScriptedServer srv([](const ScriptedServer::Request& r, unsigned nth) {
    if (r.method == "PUT" && nth == 0) return ScriptedServer::response(503, "", "Retry-After: 1\r\n");
    return ScriptedServer::ok(r);
  });
  REQUIRE(srv.running());
  ImdsClient c(options_for(srv.url()));
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  auto puts = srv.requests("PUT");
  REQUIRE(puts.size() == 2);
  CHECK(ms_between(puts[0].at, puts[1].at) >= 990);
}

TEST_CASE("imds: a Retry-After longer than the maximum is cut to it") {
  ScriptedServer srv([](const ScriptedServer::Request& r, unsigned nth) {
    if (r.method == "GET" && nth == 0) return ScriptedServer::response(503, "", "Retry-After: 86400\r\n");
    if (r.method == "GET" && nth == 1) return ScriptedServer::response(429, "", "Retry-After: 99999999999999999999\r\n");
    return ScriptedServer::ok(r);
  });
  REQUIRE(srv.running());
  auto o = options_for(srv.url());
  o.retry_after_max_ms = 400;
  ImdsClient c(o);
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  auto gets = srv.requests("GET");
  REQUIRE(gets.size() == 3);
  CHECK(ms_between(gets[0].at, gets[1].at) >= 390);
  CHECK(ms_between(gets[0].at, gets[1].at) < 1500);
  CHECK(ms_between(gets[1].at, gets[2].at) >= 390);
  CHECK(ms_between(gets[1].at, gets[2].at) < 1500);
}

TEST_CASE("imds: a Retry-After that would pass the deadline ends the request at once") {
  ScriptedServer srv([](const ScriptedServer::Request& r, unsigned) {
    if (r.method == "GET") return ScriptedServer::response(503, "", "Retry-After: 5\r\n");
    return ScriptedServer::ok(r);
  });
  REQUIRE(srv.running());
  auto o = options_for(srv.url());
  o.deadline = Clock::now() + seconds(3);
  ImdsClient c(o);
  auto start = Clock::now();
  auto r = c.get(kMacPath);
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error == "meta-data/mac: HTTP 503 (Retry-After 5 s) after 1 attempt (run deadline reached)");
  CHECK(srv.requests("GET").size() == 1);
  CHECK(Clock::now() - start < seconds(1));  // no sleep towards a retry that cannot happen
}

TEST_CASE("imds: Retry-After is ignored on other statuses and in other forms") {
  for (const char* header : {"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", "Retry-After: -3\r\n",
                             "Retry-After: 2.5\r\n", "Retry-After:\r\n", "Retry-After: 3x\r\n"}) {
    CAPTURE(header);
    ScriptedServer srv([&](const ScriptedServer::Request& r, unsigned nth) {
      if (r.method == "GET" && nth == 0) return ScriptedServer::response(503, "", header);
      return ScriptedServer::ok(r);
    });
    REQUIRE(srv.running());
    ImdsClient c(options_for(srv.url()));
    REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
    auto gets = srv.requests("GET");
    REQUIRE(gets.size() == 2);
    CHECK(ms_between(gets[0].at, gets[1].at) < 900);  // backoff: at most 0.1 s
  }
  ScriptedServer srv([](const ScriptedServer::Request& r, unsigned nth) {
    if (r.method == "GET" && nth == 0) return ScriptedServer::response(500, "", "Retry-After: 3\r\n");
    return ScriptedServer::ok(r);
  });
  REQUIRE(srv.running());
  ImdsClient c(options_for(srv.url()));
  REQUIRE(c.get(kMacPath).status == FetchResult::Status::Ok);
  auto gets = srv.requests("GET");
  REQUIRE(gets.size() == 2);
  CHECK(ms_between(gets[0].at, gets[1].at) < 900);
}

TEST_CASE("imds: every wait ends by the run's deadline") {
  // Retry-After waits, backoff, slow answers and token fetches together: whatever the
  // mix, get() returns by the deadline and sends nothing after it.
  for (int slow_ms : {0, 300}) {
    CAPTURE(slow_ms);
    ScriptedServer srv([&](const ScriptedServer::Request& r, unsigned nth) {
      std::this_thread::sleep_for(milliseconds(slow_ms));
      if (r.method == "PUT") return nth % 2 ? ScriptedServer::ok(r) : ScriptedServer::response(503);
      return ScriptedServer::response(nth % 2 ? 429 : 503, "", "Retry-After: 1\r\n");
    });
    REQUIRE(srv.running());
    auto o = options_for(srv.url());
    o.attempts = 1000;
    o.request_timeout_ms = 10000;
    o.deadline = Clock::now() + milliseconds(2500);
    ImdsClient c(o);
    auto r = c.get(kMacPath);
    CHECK(r.status == FetchResult::Status::Error);
    CHECK(r.error.find("(run deadline reached)") != std::string::npos);
    CHECK(Clock::now() < o.deadline + milliseconds(100));
    for (auto& q : srv.requests()) CHECK(q.at < o.deadline);
    CHECK(srv.requests("GET").size() >= 2);
  }
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

TEST_CASE("imds: a request that never connected says why (unreachable); one that did, 0") {
  {  // connection refused: the token PUT, and so every path
    auto o = options_for("http://127.0.0.1:" + std::to_string(closed_port()));
    o.attempts = 2;
    ImdsClient c(o);
    auto r = c.get(kMacPath);
    CHECK(r.status == FetchResult::Status::Error);
    CHECK(r.unreachable == ECONNREFUSED);
    CHECK(r.error.find("Connection refused") != std::string::npos);  // curl says only "Couldn't connect"
    auto many = c.get_many({kMacPath, kIpsPath});
    for (auto& m : many) CHECK(m.unreachable == ECONNREFUSED);
  }
  // The service was reached, whatever came of it: not unreachable.
  struct Reached {
    const char* what;
    const char* faults;
    unsigned request_timeout_ms, attempts;
  };
  for (const Reached& t : {Reached{"a slow answer", R"({"delay_ms": 1500})", 200, 1},
                           Reached{"connections dropped without an answer", R"({"drop": 5})", 3000, 2},
                           Reached{"an HTTP error (403 on the token PUT)", R"({"disabled": true})", 3000, 6}}) {
    CAPTURE(t.what);
    Emulator emu;
    REQUIRE(emu.running());
    emu.faults(t.faults);
    auto o = options_for(emu.url());
    o.request_timeout_ms = t.request_timeout_ms;
    o.attempts = t.attempts;
    ImdsClient c(o);
    auto r = c.get(kMacPath);
    CHECK(r.status == FetchResult::Status::Error);
    CHECK(r.unreachable == 0);
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

TEST_CASE("imds: the answers of one run are capped together") {
  std::string capture = kCapture;
  std::string body(1000 * 1024, 'z');  // under the 1 MiB of one answer
  capture.replace(capture.rfind("}}"), 2, ", \"meta-data/m\": \"" + body + "\"}}");
  Emulator emu(capture);
  REQUIRE(emu.running());
  ImdsClient c(options_for(emu.url()));
  for (int i = 0; i < 16; ++i) REQUIRE(c.get("meta-data/m").status == FetchResult::Status::Ok);
  auto r = c.get("meta-data/m");  // 17 x 1000 KiB: past 16 MiB
  CHECK(r.status == FetchResult::Status::Error);
  CHECK(r.error.find("past 16 MiB in all") != std::string::npos);
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
  SUBCASE("only nothing chosen is a default the IPv6 endpoint may replace") {
    bool is_default = false;
    REQUIRE(resolve_imds_endpoint("", &ep, &err, &is_default));
    CHECK(is_default);
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4");
    REQUIRE(resolve_imds_endpoint("", &ep, &err, &is_default));
    CHECK_FALSE(is_default);
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", std::nullopt);
    REQUIRE(resolve_imds_endpoint("http://127.0.0.1:1", &ep, &err, &is_default));
    CHECK_FALSE(is_default);
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:2");
    REQUIRE(resolve_imds_endpoint("", &ep, &err, &is_default));
    CHECK_FALSE(is_default);
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
