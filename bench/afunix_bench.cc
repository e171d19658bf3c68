// A small AF_UNIX benchmark, run natively and under each emulation library by bench/emulations.py.
// A server process accepts connections on a pathname socket one after another; the client measures
//
//   connect: socket() + connect() until connect() returns (median of --connects runs)
//   first:   socket() until the first byte the server sends right after accept() arrives, so it
//            covers accept() and any handshake or exchange (median)
//   rtt:     one-byte request, one-byte reply, on one warmed-up connection (mean of --pingpongs)
//   bulk:    --bulk-mb MiB in 64 KiB writes, then the server's byte count (MiB/s)
//
// and prints one JSON object. Not a test: it checks only that the bytes arrived.
//
// Client and server are pinned to one CPU (--cpu, default the first one allowed; -1 leaves them
// free): across CPUs the round trip depends on wake-up latencies and varies several-fold from run
// to run, on one CPU it is the cost of the calls and two context switches, which is what differs
// between native and emulated sockets.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "afunix-bench: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  return a;
}

bool read_full(int fd, void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool write_full(int fd, const void* buf, size_t len) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// The server: one connection at a time; the first byte says what the client wants.
[[noreturn]] void serve(int listener) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    int c = accept(listener, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      _exit(2);
    }
    char cmd;
    if (write(c, "k", 1) != 1 || !read_full(c, &cmd, 1)) {
      close(c);
      continue;
    }
    if (cmd == 'p') {
      char b;
      while (read_full(c, &b, 1) && write_full(c, &b, 1)) {
      }
    } else if (cmd == 'b') {
      uint64_t total = 0;
      for (;;) {
        ssize_t n = read(c, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += static_cast<uint64_t>(n);
      }
      write_full(c, &total, sizeof total);
    }
    close(c);
  }
}

int connect_to(const sockaddr_un& a) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  if (connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) die("connect");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int connects = 500, pingpongs = 20000, bulk_mb = 256, cpu = -2;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string opt = argv[i];
    if (opt == "--connects") connects = std::atoi(argv[i + 1]);
    else if (opt == "--pingpongs") pingpongs = std::atoi(argv[i + 1]);
    else if (opt == "--bulk-mb") bulk_mb = std::atoi(argv[i + 1]);
    else if (opt == "--dir") dir = argv[i + 1];
    else if (opt == "--cpu") cpu = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--connects N] [--pingpongs N] [--bulk-mb N] [--dir D] [--cpu N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (cpu != -1) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu == -2 && sched_getaffinity(0, sizeof set, &set) == 0) {
      for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); ++cpu) {
      }
      CPU_ZERO(&set);
    }
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/afunix-bench-XXXXXX";
    if (!mkdtemp(tmpl)) die("mkdtemp");
    dir = tmpl;
  }
  std::string path = dir + "/bench.sock";
  sockaddr_un addr = address(path);
  signal(SIGPIPE, SIG_IGN);

  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(listener, 128) != 0) die("listen");
  pid_t server = fork();
  if (server < 0) die("fork");
  if (server == 0) serve(listener);
  close(listener);

  // connect, and connect until the server's first byte
  std::vector<double> lat, first;
  lat.reserve(static_cast<size_t>(connects));
  first.reserve(static_cast<size_t>(connects));
  for (int i = 0; i < connects; ++i) {
    double t0 = now_us();
    int s = connect_to(addr);
    lat.push_back(now_us() - t0);
    char k;
    if (!read_full(s, &k, 1) || k != 'k') die("connect reply");
    first.push_back(now_us() - t0);
    write_full(s, "c", 1);
    close(s);
  }
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  double connect_us = median(lat), first_us = median(first);

  // one-byte round trips
  int s = connect_to(addr);
  char k;
  if (!read_full(s, &k, 1) || !write_full(s, "p", 1)) die("ping setup");
  for (int i = 0; i < 100; ++i) {  // warm up: the first exchanges may wait for delayed ACKs
    char b = 'w', r;
    if (!write_full(s, &b, 1) || !read_full(s, &r, 1)) die("ping warm-up");
  }
  double t0 = now_us();
  for (int i = 0; i < pingpongs; ++i) {
    char b = static_cast<char>(i), r;
    if (!write_full(s, &b, 1) || !read_full(s, &r, 1) || r != b) die("ping");
  }
  double rtt_us = pingpongs ? (now_us() - t0) / pingpongs : 0;
  close(s);

  // bulk
  s = connect_to(addr);
  if (!read_full(s, &k, 1) || !write_full(s, "b", 1)) die("bulk setup");
  std::vector<char> chunk(1 << 16, 'x');
  uint64_t total = static_cast<uint64_t>(bulk_mb) << 20;
  t0 = now_us();
  for (uint64_t sent = 0; sent < total; sent += chunk.size())
    if (!write_full(s, chunk.data(), chunk.size())) die("bulk write");
  shutdown(s, SHUT_WR);
  uint64_t got = 0;
  if (!read_full(s, &got, sizeof got) || got != total) die("bulk count");
  double mbps = bulk_mb / ((now_us() - t0) / 1e6);
  close(s);

  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);
  unlink(path.c_str());
  if (own_dir) rmdir(dir.c_str());
  std::printf("{\"connect_us\": %.2f, \"first_byte_us\": %.2f, \"rtt_us\": %.3f, "
              "\"bulk_mib_s\": %.1f}\n",
              connect_us, first_us, rtt_us, mbps);
  return 0;
}
