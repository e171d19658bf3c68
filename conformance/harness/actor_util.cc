// The helpers of actor_util.h: describing descriptors and addresses the way traces name them.
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "actor_util.h"
#include "context.h"
#include "names.h"
#include "observation.h"
#include "platform.h"

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
  if (!platform::has(platform::Feature::Pidfd)) return "unknown";
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

void record_address(Obs& o, const char* key, const char* len_key, const char* buf, size_t bufsize,
                    socklen_t reported, const std::string& before) {
  struct {
    sockaddr_un un;
    char slack[16];
  } tmp{};
  const size_t path = offsetof(sockaddr_un, sun_path);
  size_t visible = std::min<size_t>(std::min<size_t>(reported, bufsize), sizeof tmp.un);
  std::memcpy(&tmp, buf, visible);
  const bool named = visible > path;
  const bool abstract = named && tmp.un.sun_path[0] == '\0';
  const std::string& dir = context::scenario_dir();
  // An absolute path inside the scenario directory: its length is recorded as if it were relative,
  // since the directory's own path differs between runs; its name says it was absolute.
  const bool in_dir = named && !abstract && !dir.empty() && visible - path > dir.size() &&
                      std::memcmp(tmp.un.sun_path, dir.data(), dir.size()) == 0 &&
                      tmp.un.sun_path[dir.size()] == '/';
  if (reported <= bufsize) {
    o.str(key, context::address_name(reinterpret_cast<sockaddr*>(&tmp), static_cast<socklen_t>(visible)));
  } else if (abstract) {
    // The start of an abstract name is the run tag or random autobind digits: say only how much.
    o.str(key, "@<" + std::to_string(visible - path - 1) + " bytes>");
  } else if (in_dir) {
    o.str(key, "<scenario-dir>" + escape_bytes(std::string(tmp.un.sun_path + dir.size(), visible - path - dir.size())));
  } else {
    // What the buffer holds of a pathname (nothing when only the family fit).
    o.str(key, named ? escape_bytes(std::string(tmp.un.sun_path, visible - path)) : "");
  }
  long len = reported;
  const std::string& tag = context::run_tag();
  if (abstract && !tag.empty() && reported > path + tag.size()) {
    size_t shown = std::min(visible - path - 1, tag.size());
    if (std::memcmp(tmp.un.sun_path + 1, tag.data(), shown) == 0) len -= static_cast<long>(tag.size());
  }
  if (in_dir) len -= static_cast<long>(dir.size() + 1);
  o.num(len_key, len);
  // What the kernel defines about the address it reported, whatever the name normalises to: its
  // class, and for a pathname whether a NUL ends it within the reported length.
  if (reported <= path) {
    o.str("name_class", "unnamed");
  } else if (named) {
    o.str("name_class", abstract ? "abstract" : "pathname");
    if (!abstract) o.flag("nul_terminated", std::memchr(tmp.un.sun_path, '\0', visible - path) != nullptr);
  }
  // The kernel writes the reported length and leaves the rest of the buffer as it was.
  size_t past = 0;
  for (size_t i = bufsize; i > std::min<size_t>(reported, bufsize); --i)
    if (i - 1 < before.size() && buf[i - 1] != before[i - 1]) {
      past = i - reported;
      break;
    }
  if (past) o.num("written_past_length", static_cast<long long>(past));
}

void prefill(char* buf, size_t bufsize, const AddrBuf& how) {
  if (!how.holds()) return;
  const Addr& old = how.held();
  std::memcpy(buf, old.sa(), std::min<size_t>(std::min<size_t>(old.len(), bufsize), sizeof(sockaddr_un)));
}

void record_buffer(Obs& o, const AddrBuf& how) {
  o.num("buffer", how.bytes());
  if (how.holds()) o.str("held", how.held().label());
}

}  // namespace util
}  // namespace afunix
