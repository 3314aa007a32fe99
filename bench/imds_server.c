// The benchmark's IMDSv2 server: what tests/tools/imds_emulator.py answers, without its
// cost. That emulator (threads under one interpreter lock) takes ~1 ms to answer 8
// requests sent at once at 0 ms latency, so a benchmark against it measures Python; EC2's
// IMDS answers in about 1 ms whatever the concurrency, and so does this: one thread, epoll,
// non-blocking sockets, every answer sent LATENCY ms after its request was received
// (answers on different connections wait side by side; on one connection they go out in
// order).
//
// Same answers as the emulator for everything a client sends here:
//   PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds 1..21600: 200, a
//   64-hex-digit token and the ttl header echoed; missing or bad ttl 400; a PUT with
//   X-Forwarded-For or to another path 403;
//   GET without a valid, unexpired token 401; else the capture's body for the path under
//   /latest/ (a path without its trailing '/' whose listing exists with one gets the
//   listing), or 404 with the emulator's HTML body;
//   a malformed request 400 (and the connection closed), another method 501;
//   headers Server: EC2ws, Date, Content-Type, Content-Length; HTTP/1.1 keep-alive
//   unless "Connection: close" or HTTP/1.0.
// Not the emulator's: faults, --allow-v1, re-reading the capture (read once at start); a
// body (Content-Length) is skipped after any request's head, not only a PUT's (a PUT's
// that is no number: 400, where the emulator closes without an answer); 400 and 501 wait
// the latency too (the emulator sends them at once; an answer must not overtake the one
// before it on its connection).
// Tokens are not stored: each carries its expiry and serial number, authenticated with
// SipHash under a key drawn at start, so memory does not grow with the tokens issued.
//
// The capture comes flattened by bench/imds_paths.py (no JSON parser here).
// Log: one JSON line per GET or PUT, written (one write(2)) when its head has been read,
// so before its answer: {"t": EPOCH_S, "method": M, "path": P, "connection": N}, N the
// number of the TCP connection (1 for the first accepted).
//
//   imds_server --paths FILE [--address 127.0.0.1|::1] [--port N] [--port-file FILE]
//               [--log FILE] [--latency-ms MS] [--max-seconds S]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define REQ_CAP 65536              // a request's line and headers, at most (else 400)
#define MAX_PENDING 128            // answers waiting on one connection before it is read on
#define OUT_HIGH (256 * 1024)      // unsent bytes on one connection before it is read on
#define LINGER_NS 2000000000LL     // after the last answer, how long to drain the client
#define MAX_TTL 21600

static const char HTML_404[] =
    "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html>\n<html><head>"
    "<title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n";

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("imds_server: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void* xmalloc(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

static long long clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static long long mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

// ---- the capture: path -> body, open addressing over the flat file read whole ----

struct entry {
  const char* path;
  size_t plen;
  const char* body;
  size_t blen;
};
static struct entry* table;
static size_t table_mask;

static uint64_t fnv(const char* s, size_t n, int slash) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  if (slash) h = (h ^ '/') * 1099511628211ULL;
  return h;
}

// The entry for path s[0..n) (plus a '/' when slash), or NULL.
static const struct entry* lookup(const char* s, size_t n, int slash) {
  for (size_t i = fnv(s, n, slash) & table_mask;; i = (i + 1) & table_mask) {
    const struct entry* e = &table[i];
    if (!e->path) return NULL;
    if (e->plen == n + (size_t)slash && memcmp(e->path, s, n) == 0 && (!slash || e->path[n] == '/')) return e;
  }
}

// "ec2-netcfg-imds-paths/1\n", then per path "PATH_LEN BODY_LEN\n" PATH BODY (bytes).
static void load_paths(const char* file) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("%s: %s", file, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) die("%s: %s", file, strerror(errno));
  size_t size = (size_t)st.st_size, got = 0;
  char* buf = xmalloc(size + 1);
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("%s: short read", file);
    got += (size_t)n;
  }
  close(fd);
  buf[size] = 0;
  static const char magic[] = "ec2-netcfg-imds-paths/1\n";
  if (size < sizeof magic - 1 || memcmp(buf, magic, sizeof magic - 1) != 0)
    die("%s: not a paths file (bench/imds_paths.py writes them)", file);
  // Two passes: count, then fill a table at most half full.
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = sizeof magic - 1, count = 0;
    while (pos < size) {
      char* nl = memchr(buf + pos, '\n', size - pos);
      if (!nl) die("%s: truncated entry at byte %zu", file, pos);
      unsigned long long pl, bl;
      char* end;
      errno = 0;
      pl = strtoull(buf + pos, &end, 10);
      if (errno || end == buf + pos || *end != ' ') die("%s: bad entry header at byte %zu", file, pos);
      char* b = end + 1;
      bl = strtoull(b, &end, 10);
      if (errno || end == b || end != nl) die("%s: bad entry header at byte %zu", file, pos);
      size_t data = (size_t)(nl + 1 - buf);
      if (pl > size - data || bl > size - data - pl) die("%s: entry at byte %zu runs past the end", file, pos);
      if (pass == 1) {
        const char* p = buf + data;
        size_t i = fnv(p, pl, 0) & table_mask;
        while (table[i].path) {
          if (table[i].plen == pl && memcmp(table[i].path, p, pl) == 0) die("%s: path listed twice", file);
          i = (i + 1) & table_mask;
        }
        table[i] = (struct entry){p, pl, p + pl, bl};
      }
      count++;
      pos = data + pl + bl;
    }
    if (pass == 0) {
      size_t cap = 16;
      while (cap < 2 * count) cap *= 2;
      table = calloc(cap, sizeof *table);
      if (!table) die("out of memory");
      table_mask = cap - 1;
    }
  }
}

// ---- tokens: expiry and serial, authenticated (SipHash-2-4, two keys) ----

static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
static uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t siphash24(const uint8_t key[16], const uint8_t* m, size_t len) {
  uint64_t k0 = le64(key), k1 = le64(key + 8);
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
#define SIPROUND                                                           \
  do {                                                                     \
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);              \
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                 \
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                 \
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);              \
  } while (0)
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w = le64(m + i);
    v3 ^= w;
    SIPROUND;
    SIPROUND;
    v0 ^= w;
  }
  uint64_t last = (uint64_t)len << 56;
  for (size_t j = 0; i + j < len; j++) last |= (uint64_t)m[i + j] << (8 * j);
  v3 ^= last;
  SIPROUND;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
#undef SIPROUND
  return v0 ^ v1 ^ v2 ^ v3;
}

static uint8_t token_key[32];
static uint64_t token_serial;

// Token bytes: expiry (monotonic ns) and serial, 8 bytes each, then the two MACs of those.
static void token_bytes(uint64_t expiry, uint64_t serial, uint8_t out[32]) {
  for (int i = 0; i < 8; i++) {
    out[i] = (uint8_t)(expiry >> (8 * i));
    out[8 + i] = (uint8_t)(serial >> (8 * i));
  }
  uint64_t a = siphash24(token_key, out, 16), b = siphash24(token_key + 16, out, 16);
  for (int i = 0; i < 8; i++) {
    out[16 + i] = (uint8_t)(a >> (8 * i));
    out[24 + i] = (uint8_t)(b >> (8 * i));
  }
}

static void token_new(long ttl, char hex[64]) {
  static const char digits[] = "0123456789abcdef";
  uint8_t b[32];
  token_bytes((uint64_t)(mono_ns() + ttl * 1000000000LL), ++token_serial, b);
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = digits[b[i] >> 4];
    hex[2 * i + 1] = digits[b[i] & 15];
  }
}

static int token_valid(const char* s, size_t n) {
  if (n != 64) return 0;
  uint8_t b[32], want[32];
  for (int i = 0; i < 64; i++) {
    int c = (unsigned char)s[i], v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else return 0;  // the emulator's tokens are lower-case hex; another spelling is not one
    if (i & 1) b[i / 2] |= (uint8_t)v;
    else b[i / 2] = (uint8_t)(v << 4);
  }
  uint64_t expiry = le64(b), serial = le64(b + 8);
  token_bytes(expiry, serial, want);
  return memcmp(b, want, 32) == 0 && (long long)expiry > mono_ns();
}

// ---- answers: one global queue in due order (due = received + latency, so appending keeps it sorted) ----

struct answer {
  struct answer* next;
  long long due;
  int fd;
  unsigned long conn_id;
  int status;
  int html;
  int close;  // the connection closes after this one
  const char* body;
  size_t blen;
  long ttl;  // > 0: the token header echoed
  char token[64];
};
static struct answer *queue_head, *queue_tail;
static long long latency_ns;
static int timer_fd = -1;
static long long timer_armed;  // the due time timer_fd is set for, 0 when not

static void arm_timer(void) {
  if (!queue_head || latency_ns == 0 || timer_armed == queue_head->due) return;
  struct itimerspec its = {{0, 0}, {queue_head->due / 1000000000LL, queue_head->due % 1000000000LL}};
  if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime: %s", strerror(errno));
  timer_armed = queue_head->due;
}

// ---- connections ----

struct conn {
  int fd;
  unsigned long id;
  char* in;                    // REQ_CAP bytes
  size_t in_off, in_len;       // unparsed bytes: in[in_off..in_len)
  size_t ls, sp;               // head scan: start of the line being looked at, where to search on
  int got_line1;
  size_t line1_end;            // offset of the request line's '\n'
  unsigned long long skip;     // body bytes still to skip before `cur` is queued
  struct answer* cur;
  char* out;
  size_t out_off, out_len, out_cap;
  int pending;                 // answers queued, not yet in `out`
  int no_more;                 // an answer that closes the connection is queued: read no more requests
  int close_after;             // that answer is in `out`
  int eof;                     // the client sent FIN
  int lingering;               // shut down for writing; reading what the client still sends
  long long linger_until;
  struct conn *lprev, *lnext;  // the lingering list, in deadline order
  struct conn* dirty_next;
  int dirty;
  uint32_t events;             // the epoll interest set
};

static struct conn** conns;  // by fd
static size_t conns_cap;
static struct conn *linger_head, *linger_tail;
static struct conn* dirty_list;
static int epfd, listen_fd, log_fd = -1;
static unsigned long connections;
static int accept_paused;

// epoll data: these for the listening socket, the timer and the signals; a connection's is
// its id << 24 | its descriptor, so that an event for a connection closed earlier in the
// same batch never reaches another that got its descriptor.
enum { TAG_LISTEN = 1, TAG_TIMER = 2, TAG_SIGNAL = 3 };
static uint64_t conn_tag(const struct conn* c) { return (uint64_t)c->id << 24 | (uint64_t)c->fd; }

static void linger_unlink(struct conn* c) {
  if (c->lprev) c->lprev->lnext = c->lnext;
  else if (linger_head == c) linger_head = c->lnext;
  if (c->lnext) c->lnext->lprev = c->lprev;
  else if (linger_tail == c) linger_tail = c->lprev;
  c->lprev = c->lnext = NULL;
}

static void conn_close(struct conn* c) {
  if (c->lingering) linger_unlink(c);
  close(c->fd);  // also takes it out of the epoll set
  conns[c->fd] = NULL;
  free(c->cur);
  free(c->in);
  free(c->out);
  free(c);
  if (accept_paused) {  // a descriptor is free again
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == 0) accept_paused = 0;
  }
  // Its answers still queued are dropped when due (their connection id no longer matches).
}

static void set_events(struct conn* c) {
  uint32_t want = 0;
  if (c->lingering || (!c->eof && !c->no_more && c->in_len < REQ_CAP)) want |= EPOLLIN;
  if (c->out_off < c->out_len) want |= EPOLLOUT;
  if (want == c->events) return;
  struct epoll_event ev = {.events = want, .data.u64 = conn_tag(c)};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
  c->events = want;
}

static void out_reserve(struct conn* c, size_t n) {
  if (c->out_cap - c->out_len >= n) return;
  if (c->out_off) {  // move what is unsent to the front first
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
    if (c->out_cap - c->out_len >= n) return;
  }
  size_t cap = c->out_cap ? c->out_cap : 4096;
  while (cap - c->out_len < n) cap *= 2;
  char* p = realloc(c->out, cap);
  if (!p) die("out of memory");
  c->out = p;
  c->out_cap = cap;
}

static const char* date_now(void) {  // as Python's BaseHTTPRequestHandler.date_time_string()
  static char buf[40];
  static time_t cached = -1;
  time_t now = time(NULL);
  if (now != cached) {
    static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached = now;
  }
  return buf;
}

static const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    default: return "Not Implemented";
  }
}

static void append_answer(struct conn* c, const struct answer* a) {
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nServer: EC2ws\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                   a->status, reason(a->status), date_now(), a->html ? "text/html" : "text/plain", a->blen);
  if (a->ttl > 0) n += snprintf(head + n, sizeof head - (size_t)n, "X-aws-ec2-metadata-token-ttl-seconds: %ld\r\n", a->ttl);
  n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
  out_reserve(c, (size_t)n + a->blen);
  memcpy(c->out + c->out_len, head, (size_t)n);
  memcpy(c->out + c->out_len + n, a->body, a->blen);
  c->out_len += (size_t)n + a->blen;
}

// Sends what it can of `out`. Returns 0, or -1 when the connection is gone (closed here).
static int flush(struct conn* c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    conn_close(c);
    return -1;
  }
  c->out_off = c->out_len = 0;
  if (c->out_cap > 64 * 1024) {  // a large answer went out: do not keep its buffer
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
  }
  if (c->close_after && !c->lingering) {
    // Done: FIN after the last answer, then read (and drop) what the client still sends
    // until it closes, so that a close with unread bytes does not reset the connection
    // before the client has read the answer.
    shutdown(c->fd, SHUT_WR);
    c->lingering = 1;
    c->linger_until = mono_ns() + LINGER_NS;
    c->lprev = linger_tail;
    if (linger_tail) linger_tail->lnext = c;
    else linger_head = c;
    linger_tail = c;
  }
  return 0;
}

static void enqueue(struct conn* c, struct answer* a) {
  a->due = mono_ns() + latency_ns;
  a->next = NULL;
  if (queue_tail) queue_tail->next = a;
  else queue_head = a;
  queue_tail = a;
  c->pending++;
  if (a->close) c->no_more = 1;
  arm_timer();
}

// ---- requests ----

// str.isspace() for a character of a latin-1 decoded line (the emulator splits and strips so).
static int py_space(unsigned char ch) {
  return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f) || ch == 0x85 || ch == 0xa0;
}

static void strip(const char** s, size_t* n) {
  while (*n && py_space((unsigned char)**s)) (*s)++, (*n)--;
  while (*n && py_space((unsigned char)(*s)[*n - 1])) (*n)--;
}

static int eq(const char* s, size_t n, const char* lit) { return n == strlen(lit) && memcmp(s, lit, n) == 0; }
static int eq_nocase(const char* s, size_t n, const char* lit) { return n == strlen(lit) && strncasecmp(s, lit, n) == 0; }

// Python's int() of an already stripped string: optional sign, decimal digits with single
// '_' between them. Values beyond a billion are kept as a billion (out of any range here).
static int py_int(const char* s, size_t n, long long* out) {
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i == n) return 0;
  long long v = 0;
  int digit_before = 0;
  for (; i < n; i++) {
    if (s[i] >= '0' && s[i] <= '9') {
      if (v < 1000000000LL) v = v * 10 + (s[i] - '0');
      if (v > 1000000000LL) v = 1000000000LL;
      digit_before = 1;
    } else if (s[i] == '_' && digit_before && i + 1 < n) {
      digit_before = 0;
    } else {
      return 0;
    }
  }
  if (!digit_before) return 0;
  *out = neg ? -v : v;
  return 1;
}

static char log_line[6 * REQ_CAP + 256];  // a path escaped takes 6 bytes a byte at most

static void log_request(const struct conn* c, const char* method, const char* path, size_t plen) {
  if (log_fd < 0) return;
  long long us = clock_ns(CLOCK_REALTIME) / 1000;
  int n = snprintf(log_line, 128, "{\"t\": %lld.%06lld, \"method\": \"%s\", \"path\": \"", us / 1000000, us % 1000000, method);
  char* p = log_line + n;
  for (size_t i = 0; i < plen; i++) {  // json.dumps: ASCII only, the path decoded as latin-1
    unsigned char ch = (unsigned char)path[i];
    switch (ch) {
      case '"': *p++ = '\\'; *p++ = '"'; break;
      case '\\': *p++ = '\\'; *p++ = '\\'; break;
      case '\n': *p++ = '\\'; *p++ = 'n'; break;
      case '\r': *p++ = '\\'; *p++ = 'r'; break;
      case '\t': *p++ = '\\'; *p++ = 't'; break;
      case '\b': *p++ = '\\'; *p++ = 'b'; break;
      case '\f': *p++ = '\\'; *p++ = 'f'; break;
      default:
        if (ch < 0x20 || ch > 0x7f) p += sprintf(p, "\\u%04x", ch);
        else *p++ = (char)ch;
    }
  }
  p += sprintf(p, "\", \"connection\": %lu}\n", c->id);
  size_t len = (size_t)(p - log_line), off = 0;
  while (off < len) {
    ssize_t w = write(log_fd, log_line + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("log: %s", strerror(errno));
    off += (size_t)w;
  }
}

// The request whose head is in[start..end): its answer, queued (or kept in `cur` until its
// body has been skipped).
static void handle_request(struct conn* c, size_t start, size_t end) {
  struct answer* a = xmalloc(sizeof *a);
  memset(a, 0, offsetof(struct answer, token));
  a->fd = c->fd;
  a->conn_id = c->id;
  a->body = "";

  // The request line, split on whitespace: METHOD PATH VERSION.
  const char* w[3];
  size_t wl[3];
  int words = 0;
  for (size_t i = start; i < c->line1_end;) {
    while (i < c->line1_end && py_space((unsigned char)c->in[i])) i++;
    if (i == c->line1_end) break;
    size_t j = i;
    while (j < c->line1_end && !py_space((unsigned char)c->in[j])) j++;
    if (words < 3) {
      w[words] = c->in + i;
      wl[words] = j - i;
    }
    words++;
    i = j;
  }
  if (words != 3 || wl[2] < 7 || memcmp(w[2], "HTTP/1.", 7) != 0) {
    a->status = 400;
    a->close = 1;
    enqueue(c, a);
    return;
  }

  // Headers: name ':' value, both stripped; the last of a name counts.
  const char *connection = "", *ttl = NULL, *token = NULL, *clen = "";
  size_t connection_n = 0, ttl_n = 0, xff_n = 0, token_n = 0, clen_n = 0;
  for (size_t ls = c->line1_end + 1; ls < end;) {
    const char* nl = memchr(c->in + ls, '\n', end - ls);
    size_t le = (size_t)(nl - c->in);
    const char* line = c->in + ls;
    size_t len = le - ls;
    ls = le + 1;
    const char* colon = memchr(line, ':', len);
    const char* name = line;
    size_t name_n = colon ? (size_t)(colon - line) : len;
    const char* value = colon ? colon + 1 : "";
    size_t value_n = colon ? len - name_n - 1 : 0;
    strip(&name, &name_n);
    strip(&value, &value_n);
    if (eq_nocase(name, name_n, "connection")) connection = value, connection_n = value_n;
    else if (eq_nocase(name, name_n, "x-aws-ec2-metadata-token-ttl-seconds")) ttl = value, ttl_n = value_n;
    else if (eq_nocase(name, name_n, "x-forwarded-for")) xff_n = value_n;
    else if (eq_nocase(name, name_n, "x-aws-ec2-metadata-token")) token = value, token_n = value_n;
    else if (eq_nocase(name, name_n, "content-length")) clen = value, clen_n = value_n;
  }
  a->close = eq_nocase(connection, connection_n, "close") ||
             (eq(w[2], wl[2], "HTTP/1.0") && !eq_nocase(connection, connection_n, "keep-alive"));
  int put = eq(w[0], wl[0], "PUT"), get = eq(w[0], wl[0], "GET");
  const char* path = w[1];
  size_t path_n = wl[1];
  if (put || get) log_request(c, put ? "PUT" : "GET", path, path_n);

  unsigned long long body = 0;
  long long v;
  if (clen_n) {
    if (py_int(clen, clen_n, &v) && v >= 0) body = (unsigned long long)v;
    else if (put) {  // the emulator fails on it and closes without an answer
      a->status = 400;
      a->close = 1;
      enqueue(c, a);
      return;
    }
  }

  if (put) {
    if (xff_n || !eq(path, path_n, "/latest/api/token")) {
      a->status = 403;
    } else if (!ttl || !py_int(ttl, ttl_n, &v) || v < 1 || v > MAX_TTL) {
      a->status = 400;
    } else {
      a->status = 200;
      a->ttl = (long)v;
      token_new(a->ttl, a->token);
      a->body = a->token;
      a->blen = sizeof a->token;
    }
  } else if (get) {
    const struct entry* e = NULL;
    if (!token || !token_valid(token, token_n)) {
      a->status = 401;
    } else {
      if (path_n >= 8 && memcmp(path, "/latest/", 8) == 0) {
        const char* rel = path + 8;
        size_t rel_n = path_n - 8;
        e = lookup(rel, rel_n, 0);
        if (!e && !(rel_n && rel[rel_n - 1] == '/')) e = lookup(rel, rel_n, 1);
      }
      if (e) {
        a->status = 200;
        a->body = e->body;
        a->blen = e->blen;
      } else {
        a->status = 404;
        a->html = 1;
        a->body = HTML_404;
        a->blen = sizeof HTML_404 - 1;
      }
    }
  } else {
    a->status = 501;
  }
  if (body) {
    c->cur = a;
    c->skip = body;
  } else {
    enqueue(c, a);
  }
}

// Finds the end of the head (the blank line) from where the last call stopped. 1 with
// *end just past it, 0 when it has not all arrived.
static int find_head(struct conn* c, size_t* end) {
  for (;;) {
    char* nl = memchr(c->in + c->sp, '\n', c->in_len - c->sp);
    if (!nl) {
      c->sp = c->in_len;
      return 0;
    }
    size_t pos = (size_t)(nl - c->in), ls = c->ls, len = pos - ls;
    c->ls = c->sp = pos + 1;
    if (!c->got_line1) {  // the request line, whatever it holds
      c->got_line1 = 1;
      c->line1_end = pos;
      continue;
    }
    if (len == 0 || (len == 1 && c->in[ls] == '\r')) {
      *end = pos + 1;
      return 1;
    }
  }
}

static void reset_scan(struct conn* c) {
  c->ls = c->sp = c->in_off;
  c->got_line1 = 0;
}

// Parses what has arrived into queued answers, as far as the connection's limits allow;
// closes a connection the client has finished with. Returns -1 when it closed it.
static int process_input(struct conn* c) {
  while (!c->lingering) {
    if (c->cur) {  // skipping a body
      size_t avail = c->in_len - c->in_off;
      size_t k = avail < c->skip ? avail : (size_t)c->skip;
      c->in_off += k;
      c->skip -= k;
      reset_scan(c);
      if (c->skip) break;
      struct answer* a = c->cur;
      c->cur = NULL;
      enqueue(c, a);
      continue;
    }
    if (c->no_more || c->pending >= MAX_PENDING || c->out_len - c->out_off >= OUT_HIGH) break;
    size_t end;
    if (!find_head(c, &end)) {
      if (c->in_len - c->in_off >= REQ_CAP) {  // a head this long is not a request
        struct answer* a = xmalloc(sizeof *a);
        memset(a, 0, sizeof *a);
        a->fd = c->fd;
        a->conn_id = c->id;
        a->status = 400;
        a->close = 1;
        a->body = "";
        enqueue(c, a);
      }
      break;
    }
    handle_request(c, c->in_off, end);
    c->in_off = end;
    reset_scan(c);
  }
  if (c->in_off) {
    size_t rest = c->in_len - c->in_off;
    memmove(c->in, c->in + c->in_off, rest);
    c->ls -= c->in_off;
    c->sp -= c->in_off;
    if (c->got_line1) c->line1_end -= c->in_off;
    c->in_len = rest;
    c->in_off = 0;
  }
  // The client sent FIN: once every answer is out, close (a request cut short is not answered).
  if (c->eof && !c->lingering && c->pending == 0 && c->out_off == c->out_len) {
    conn_close(c);
    return -1;
  }
  set_events(c);
  return 0;
}

static void on_conn_event(struct conn* c, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    conn_close(c);
    return;
  }
  if (events & EPOLLIN) {
    if (c->lingering) {
      char junk[16384];
      for (;;) {
        ssize_t n = read(c->fd, junk, sizeof junk);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_close(c);  // EOF or error: the client is done
        return;
      }
    }
    if (c->in_len < REQ_CAP && !c->eof) {
      ssize_t n = read(c->fd, c->in + c->in_len, REQ_CAP - c->in_len);
      if (n > 0) {
        c->in_len += (size_t)n;
      } else if (n == 0) {
        c->eof = 1;
      } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(c);
        return;
      }
    }
    if (process_input(c) < 0) return;
  }
  if (events & EPOLLOUT) {
    if (flush(c) < 0) return;
    if (process_input(c) < 0) return;  // room again for answers
  }
}

static void on_accept(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // No descriptor for it: stop accepting until a connection closes (the client waits
        // in the backlog).
        struct epoll_event ev = {.events = 0, .data.u64 = TAG_LISTEN};
        epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev);
        accept_paused = 1;
        fprintf(stderr, "imds_server: accept: %s (waiting for a connection to close)\n", strerror(errno));
        return;
      }
      die("accept: %s", strerror(errno));
    }
    if (fd >= 1 << 24) die("descriptor %d: too many connections", fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((size_t)fd >= conns_cap) {
      size_t cap = conns_cap ? conns_cap : 256;
      while (cap <= (size_t)fd) cap *= 2;
      struct conn** p = realloc(conns, cap * sizeof *p);
      if (!p) die("out of memory");
      memset(p + conns_cap, 0, (cap - conns_cap) * sizeof *p);
      conns = p;
      conns_cap = cap;
    }
    struct conn* c = xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->id = ++connections;
    c->in = xmalloc(REQ_CAP);
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = conn_tag(c)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    conns[fd] = c;
  }
}

// Answers whose time has come go into their connections' buffers; then each connection
// touched is flushed once (pipelined answers leave in one write) and read on.
static void fire_due(void) {
  long long now = mono_ns();
  while (queue_head && queue_head->due <= now) {
    struct answer* a = queue_head;
    queue_head = a->next;
    if (!queue_head) queue_tail = NULL;
    struct conn* c = (size_t)a->fd < conns_cap ? conns[a->fd] : NULL;
    if (c && c->id == a->conn_id) {
      append_answer(c, a);
      c->pending--;
      if (a->close) c->close_after = 1;
      if (!c->dirty) {
        c->dirty = 1;
        c->dirty_next = dirty_list;
        dirty_list = c;
      }
    }
    free(a);
  }
  // Connections closed above cannot be on the list: only flush and process_input close,
  // and each runs after its connection has been taken off.
  while (dirty_list) {
    struct conn* c = dirty_list;
    dirty_list = c->dirty_next;
    c->dirty = 0;
    if (flush(c) == 0) process_input(c);
  }
  if (queue_head) arm_timer();
}

static void usage(FILE* f) {
  fputs("usage: imds_server --paths FILE [--address 127.0.0.1|::1] [--port N] [--port-file FILE]\n"
        "                   [--log FILE] [--latency-ms MS] [--max-seconds S]\n", f);
}

int main(int argc, char** argv) {
  const char *paths = NULL, *address = "127.0.0.1", *port_file = NULL, *log_path = NULL;
  long port = 0;
  double latency_ms = 0, max_seconds = 900;
  for (int i = 1; i < argc; i++) {
    const char* o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      usage(stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      usage(stderr);
      return 2;
    }
    const char* v = argv[++i];
    char* end;
    if (!strcmp(o, "--paths")) paths = v;
    else if (!strcmp(o, "--address")) address = v;
    else if (!strcmp(o, "--port-file")) port_file = v;
    else if (!strcmp(o, "--log")) log_path = v;
    else if (!strcmp(o, "--port")) {
      port = strtol(v, &end, 10);
      if (*end || end == v || port < 0 || port > 65535) die("bad --port %s", v);
    } else if (!strcmp(o, "--latency-ms")) {
      latency_ms = strtod(v, &end);  // below 0 is 0, as for the emulator
      if (*end || end == v || !(latency_ms <= 1e6)) die("bad --latency-ms %s", v);
    } else if (!strcmp(o, "--max-seconds")) {
      max_seconds = strtod(v, &end);
      if (*end || end == v || !(max_seconds > 0 && max_seconds <= 1e7)) die("bad --max-seconds %s", v);
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!paths) {
    usage(stderr);
    return 2;
  }
  int v6 = !strcmp(address, "::1");
  if (!v6 && strcmp(address, "127.0.0.1"))
    die("refusing to bind %s: the benchmark serves IMDS on loopback only (127.0.0.1 or ::1)", address);
  latency_ns = latency_ms > 0 ? (long long)(latency_ms * 1e6) : 0;
  load_paths(paths);
  if (getrandom(token_key, sizeof token_key, 0) != (ssize_t)sizeof token_key) die("getrandom: %s", strerror(errno));
  prctl(PR_SET_TIMERSLACK, 1UL);  // a timer for a 1 ms latency fires on time, not up to 50 us late
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  int sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) die("signalfd: %s", strerror(errno));
  if (log_path) {
    log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0) die("%s: %s", log_path, strerror(errno));
  }

  listen_fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (v6) {
    struct sockaddr_in6* s6 = (struct sockaddr_in6*)&ss;
    setsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    s6->sin6_addr = in6addr_loopback;
    sl = sizeof *s6;
  } else {
    struct sockaddr_in* s4 = (struct sockaddr_in*)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sl = sizeof *s4;
  }
  if (bind(listen_fd, (struct sockaddr*)&ss, sl) < 0) die("bind %s port %ld: %s", address, port, strerror(errno));
  if (listen(listen_fd, 1024) < 0) die("listen: %s", strerror(errno));
  sl = sizeof ss;
  if (getsockname(listen_fd, (struct sockaddr*)&ss, &sl) < 0) die("getsockname: %s", strerror(errno));
  unsigned bound = ntohs(v6 ? ((struct sockaddr_in6*)&ss)->sin6_port : ((struct sockaddr_in*)&ss)->sin_port);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (epfd < 0 || timer_fd < 0) die("epoll/timerfd: %s", strerror(errno));
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = TAG_LISTEN;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
  ev.data.u64 = TAG_TIMER;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
  ev.data.u64 = TAG_SIGNAL;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));

  if (port_file) {
    size_t n = strlen(port_file);
    char* tmp = xmalloc(n + 5);
    memcpy(tmp, port_file, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE* f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u", bound) < 0 || fclose(f) != 0) die("%s: %s", tmp, strerror(errno));
    if (rename(tmp, port_file) < 0) die("rename %s: %s", port_file, strerror(errno));
    free(tmp);
  }

  long long stop_at = mono_ns() + (long long)(max_seconds * 1e9);
  struct epoll_event evs[256];
  for (;;) {
    long long now = mono_ns();
    if (now >= stop_at) break;
    while (linger_head && linger_head->linger_until <= now) conn_close(linger_head);
    long long wait = stop_at - now;
    if (linger_head && linger_head->linger_until - now < wait) wait = linger_head->linger_until - now;
    if (queue_head && queue_head->due <= now) wait = 0;  // latency 0: answers queued by the last round
    int timeout = (int)((wait + 999999) / 1000000);      // due answers: timer_fd wakes us on time
    int n = epoll_wait(epfd, evs, 256, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == TAG_LISTEN) {
        on_accept();
      } else if (tag == TAG_TIMER) {
        uint64_t ticks;
        if (read(timer_fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die("timerfd: %s", strerror(errno));
        timer_armed = 0;
      } else if (tag == TAG_SIGNAL) {
        struct signalfd_siginfo si;
        if (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) goto out;  // SIGTERM, SIGINT: stop
      } else {
        size_t fd = (size_t)(tag & ((1 << 24) - 1));
        if (fd < conns_cap && conns[fd] && conns[fd]->id == tag >> 24) on_conn_event(conns[fd], evs[i].events);
      }
    }
    fire_due();
  }
out:
  for (size_t fd = 0; fd < conns_cap; fd++)
    if (conns[fd]) conn_close(conns[fd]);
  close(listen_fd);
  if (log_fd >= 0) close(log_fd);
  return 0;
}
