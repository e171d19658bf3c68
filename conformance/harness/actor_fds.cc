// Descriptors, files and signals: what an actor needs to say which file a received descriptor is,
// whether a flag survived, whether a signal came.
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "actor_util.h"
#include "context.h"
#include "guard.h"
#include "names.h"
#include "observation.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {
namespace util {

std::string describe_fd(int fd, bool flags) {
  if (fd < 0) return "fd " + std::to_string(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "closed";
  std::string label = context::object_label(st.st_dev, st.st_ino);
  if (label.empty()) label = "unknown " + file_type_name(st.st_mode);
  if (flags) {
    int fdflags = ::fcntl(fd, F_GETFD);
    if (fdflags >= 0 && (fdflags & FD_CLOEXEC)) label += " cloexec";
  }
  return label;
}

std::string describe_fds(const std::vector<int>& fds, bool flags) {
  std::vector<std::string> items;
  std::string last;
  int run = 0;
  auto flush = [&] {
    if (run == 1) items.push_back(last);
    if (run > 1) items.push_back(last + "*" + std::to_string(run));
  };
  for (int fd : fds) {
    std::string d = describe_fd(fd, flags);
    if (run > 0 && d == last) {
      ++run;
      continue;
    }
    flush();
    last = d;
    run = 1;
  }
  flush();
  return json_list(items);
}

std::string pidfd_process(int pidfd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(pidfd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pid:", 0) == 0) {
      long pid = std::strtol(line.c_str() + 4, nullptr, 10);
      if (pid == -1) return "exited";
      return context::pid_name(static_cast<pid_t>(pid));
    }
  }
  return "unknown";
}

int count_open_fds() {
  // The kernel lists them: a few syscalls, where probing every number up to the descriptor limit
  // cost thousands per call (and, under ptrace, most of a scenario's time). The directory's own
  // descriptor is not counted.
  for (const char* listing : {"/proc/self/fd", "/dev/fd"}) {
    DIR* dir = ::opendir(listing);
    if (!dir) continue;
    int n = 0;
    while (const dirent* e = ::readdir(dir))
      if (e->d_name[0] != '.') ++n;
    ::closedir(dir);
    return n - 1;
  }
  // Neither exists: probe, bounded. Descriptors opened before a lowered limit may sit above it.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  int limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 4096 ? 4096 : static_cast<int>(rl.rlim_cur);
  limit = std::max(limit, 1024);
  int n = 0;
  for (int fd = 0; fd < limit; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  return n;
}

std::string filler(size_t n) {
  std::string s(n, '.');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

}  // namespace util

using util::outcome;

void Actor::label(int fd, const std::string& name) {
  struct stat st {};
  if (::fstat(fd, &st) == 0) context::label_object(st.st_dev, st.st_ino, name);
}

void Actor::describe(int fd) {
  record(Obs("describe").str("is", util::describe_fd(fd, false)).encode());
}

void Actor::fd_flags(int fd) {
  int fdflags = ::fcntl(fd, F_GETFD);
  int err = errno;
  int flflags = ::fcntl(fd, F_GETFL);
  Obs o("fd_flags");
  o.str("result", outcome(fdflags < 0 || flflags < 0 ? -1 : 0, err));
  if (fdflags >= 0 && flflags >= 0)
    o.flag("cloexec", fdflags & FD_CLOEXEC).flag("nonblock", flflags & O_NONBLOCK);
  record(o.encode());
}

int Actor::set_cloexec(int fd) {
  int r = ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  int err = errno;
  record(Obs("set_cloexec").str("result", outcome(r, err)).encode());
  return r;
}

int Actor::dup(int fd) {
  int r = ::dup(fd);
  int err = errno;
  record(Obs("dup").str("result", outcome(r, err)).encode());
  return r;
}

std::vector<int> Actor::dups(int fd, int n) {
  std::vector<int> out;
  int err = 0;
  for (int i = 0; i < n; ++i) {
    int d = ::dup(fd);
    if (d < 0) {
      err = errno;
      break;
    }
    out.push_back(d);
  }
  record(Obs("dups").num("count", n).str("result", err ? errno_name(err) : "ok").encode());
  return out;
}

void Actor::close_all(const std::vector<int>& fds) {
  int err = 0;
  for (int fd : fds)
    if (::close(fd) != 0 && !err) err = errno;
  record(Obs("close_all").num("count", static_cast<long long>(fds.size())).str("result", err ? errno_name(err) : "ok").encode());
}

int Actor::open(const std::string& path, int flags, unsigned mode) {
  int fd = ::open(path.c_str(), flags, mode);
  int err = errno;
  Obs o("open");
  o.str("path", path).str("flags", open_flags_name(flags)).str("result", outcome(fd, err));
  record(o.encode());
  if (fd >= 0) label(fd, path);
  return fd;
}

std::string Actor::read(int fd, size_t max) {
  Guarded buf(max);
  long r;
  int err;
  bool blocked;
  {
    Watchdog w;
    r = ::read(fd, buf.data_or_null(), max);
    err = errno;
    blocked = w.blocked(r, err);
  }
  Obs o("read");
  o.num("max", static_cast<long long>(max));
  util::count_or_error(o, r, err, blocked);
  std::string data = r > 0 ? std::string(buf.data(), std::min<size_t>(r, max)) : "";
  if (r > 0) o.str("data", escape_bytes(data));
  Overruns().check(buf, "data").add_to(o);
  record(o.encode());
  return data;
}

long Actor::write(int fd, const std::string& data) {
  long r;
  int err;
  bool blocked;
  {
    Watchdog w;
    r = ::write(fd, data.data(), data.size());
    err = errno;
    blocked = w.blocked(r, err);
  }
  Obs o("write");
  o.str("data", escape_bytes(data));
  record(util::count_or_error(o, r, err, blocked).encode());
  return r;
}

std::string Actor::pread(int fd, size_t max, long offset) {
  Guarded buf(max);
  long r = ::pread(fd, buf.data_or_null(), max, offset);
  int err = errno;
  Obs o("pread");
  o.num("max", static_cast<long long>(max)).num("offset", offset);
  util::count_or_error(o, r, err);
  std::string data = r > 0 ? std::string(buf.data(), std::min<size_t>(r, max)) : "";
  if (r > 0) o.str("data", escape_bytes(data));
  Overruns().check(buf, "data").add_to(o);
  record(o.encode());
  return data;
}

int Actor::allow_fds(int n) {
  // Descriptors take the lowest free numbers, and RLIMIT_NOFILE bounds the numbers: the limit just
  // above the n-th free number lets exactly n more in.
  int free_seen = 0;
  int limit = 0;
  for (int fd = 0; fd < 65536 && free_seen < n; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ++free_seen;
    limit = fd + 1;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = static_cast<rlim_t>(limit);
  int r = setrlimit(RLIMIT_NOFILE, &rl);
  int err = errno;
  record(Obs("allow_fds").num("more", n).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::mknod(const std::string& path, unsigned mode) {
  int r = ::mknod(path.c_str(), mode, 0);
  int err = errno;
  record(Obs("mknod")
             .str("path", path)
             .str("type", file_type_name(mode))
             .str("mode", octal_mode(mode))
             .str("result", outcome(r, err))
             .encode());
  return r;
}

int Actor::ioctl(int fd, unsigned long request) {
  int value = -1;
  int r = ::ioctl(fd, request, &value);
  int err = errno;
  std::string name = request == FIONREAD ? "FIONREAD" : request == TIOCOUTQ ? "SIOCOUTQ"
                                                                            : "ioctl-" + std::to_string(request);
  Obs o("ioctl");
  o.str("request", name).str("result", outcome(r, err));
  if (r >= 0) o.num("value", value);
  record(o.encode());
  return r < 0 ? -1 : value;
}

// ---- /proc/net/unix -------------------------------------------------------------------------

void Actor::proc_net_unix(int fd) {
  struct stat st {};
  ::fstat(fd, &st);
  std::ifstream in("/proc/net/unix");
  Obs o("proc_net_unix");
  if (!in) {
    record(o.str("result", errno_name(errno)).encode());
    return;
  }
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refcount, protocol, flags, type, state, inode, path;
    fields >> num >> refcount >> protocol >> flags >> type >> state >> inode;
    std::getline(fields, path);
    if (std::strtoull(inode.c_str(), nullptr, 10) != static_cast<unsigned long long>(st.st_ino)) continue;
    path.erase(0, path.find_first_not_of(' '));
    unsigned long fl = std::strtoul(flags.c_str(), nullptr, 16);
    int t = static_cast<int>(std::strtol(type.c_str(), nullptr, 16));
    int s = static_cast<int>(std::strtol(state.c_str(), nullptr, 16));
    const char* states[] = {"free", "unconnected", "connecting", "connected", "disconnecting"};
    o.str("result", "listed").str("type", socket_type_name(t));
    o.str("state", s >= 0 && s <= 4 ? states[s] : "state-" + std::to_string(s));
    o.flag("listening", fl & 0x10000);  // __SO_ACCEPTCON
    if (path.empty()) {
      o.str("path", "none");
    } else if (path[0] == '@') {
      // /proc shows an abstract name's NULs as '@'.
      std::string name = path.substr(1);
      const std::string& tag = context::run_tag();
      if (!tag.empty() && name.compare(0, tag.size(), tag) == 0) name = name.substr(tag.size());
      else if (name.size() == 5 && name.find_first_not_of("0123456789abcdef") == std::string::npos)
        name = "<autobind>";
      o.str("path", "@" + name);
    } else {
      const std::string& dir = context::scenario_dir();
      if (!dir.empty() && path.compare(0, dir.size() + 1, dir + "/") == 0) path = path.substr(dir.size() + 1);
      o.str("path", path);
    }
    record(o.encode());
    return;
  }
  record(o.str("result", "not listed").encode());
}

// ---- signals --------------------------------------------------------------------------------

namespace {
volatile sig_atomic_t g_caught[65];
void count_signal(int sig) {
  if (sig > 0 && sig < 65) g_caught[sig] = g_caught[sig] + 1;
}
}  // namespace

void Actor::catch_signal(int sig) {
  struct sigaction sa {};
  sa.sa_handler = count_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int r = sigaction(sig, &sa, nullptr);
  int err = errno;
  record(Obs("catch_signal").str("signal", signal_name(sig)).str("result", outcome(r, err)).encode());
}

void Actor::caught(int sig) {
  int n = sig > 0 && sig < 65 ? g_caught[sig] : 0;
  record(Obs("caught").str("signal", signal_name(sig)).num("count", n).encode());
}

int Actor::set_async(int fd) {
  int r = ::fcntl(fd, F_SETOWN, getpid());
  int flags = r < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (flags >= 0) r = ::fcntl(fd, F_SETFL, flags | O_ASYNC);
  int err = errno;
  record(Obs("set_async").str("result", outcome(flags < 0 ? -1 : r, err)).encode());
  return r;
}

}  // namespace afunix
