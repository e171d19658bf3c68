// Actor, "Descriptors and files" (scenario.h): what an actor needs to say which file a descriptor
// is, whether a flag survived, how many more descriptors fit.
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
#include "platform.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {
namespace util {

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

// ---- /proc/net/unix -------------------------------------------------------------------------

void Actor::proc_net_unix(int fd) {
  platform::require(platform::Feature::ProcFs);
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
      if (!dir.empty() && path.compare(0, dir.size() + 1, dir + "/") == 0) path = "<scenario-dir>/" + path.substr(dir.size() + 1);
      o.str("path", path);
    }
    record(o.encode());
    return;
  }
  record(o.str("result", "not listed").encode());
}

}  // namespace afunix
