// The recorded operations of an actor: each performs one real call and writes one observation.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstring>
#include <vector>

#include "actor_util.h"
#include "context.h"
#include "guard.h"
#include "names.h"
#include "observation.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {
namespace {

// The outcome of a call returning 0 or -1 (or an fd): "ok", "blocked" or the errno's name.
std::string outcome(long ret, int err, bool blocked = false) {
  if (blocked) return "blocked";
  return ret >= 0 ? "ok" : errno_name(err);
}

// For calls returning a byte count: the count, or "blocked"/errno name.
Obs& count_or_error(Obs& o, long ret, int err, bool blocked) {
  if (ret >= 0 && !blocked) return o.num("result", ret);
  return o.str("result", outcome(ret, err, blocked));
}

}  // namespace

// ---- addresses ------------------------------------------------------------------------------

Addr Addr::path(const std::string& path) {
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  std::memcpy(a.storage_.un.sun_path, path.data(),
              std::min(path.size(), sizeof a.storage_.un.sun_path));
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  if (a.len_ > sizeof(sockaddr_un)) a.len_ = sizeof(sockaddr_un);
  a.label_ = escape_bytes(path);
  return a;
}

Addr Addr::abstract(const std::string& name) {
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  std::string bytes = std::string(1, '\0') + context::run_tag() + name;
  size_t n = std::min(bytes.size(), sizeof a.storage_.un.sun_path);
  std::memcpy(a.storage_.un.sun_path, bytes.data(), n);
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  a.label_ = "@" + escape_bytes(name);
  return a;
}

Addr Addr::autobind() {
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  a.len_ = sizeof(sa_family_t);
  a.label_ = "<autobind>";
  return a;
}

Addr Addr::from_kernel(const sockaddr* sa, socklen_t len) {
  Addr a;
  std::memcpy(&a.storage_, sa, std::min<size_t>(len, sizeof a.storage_));
  a.len_ = len;
  a.label_ = context::address_name(sa, len);
  return a;
}

Addr Addr::named(Naming naming, const std::string& name) {
  switch (naming) {
    case Naming::Pathname: return path(name + ".sock");
    case Naming::Abstract: return abstract(name);
    default: return autobind();
  }
}

Addr Addr::with_family(int family) const {
  Addr a = *this;
  a.storage_.un.sun_family = static_cast<sa_family_t>(family);
  a.label_ = label_.empty() ? family_name(family) : label_ + " (" + family_name(family) + ")";
  return a;
}

Addr Addr::raw(const std::string& sun_path_bytes, socklen_t addrlen, const std::string& label) {
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  std::memcpy(a.storage_.un.sun_path, sun_path_bytes.data(),
              std::min(sun_path_bytes.size(), sizeof a.storage_.un.sun_path + sizeof a.storage_.slack));
  a.len_ = addrlen;
  a.label_ = label;
  return a;
}

// ---- actor operations -----------------------------------------------------------------------

void Actor::write_line(const std::string& line) {
  std::string l = line + "\n";
  size_t off = 0;
  while (off < l.size()) {
    ssize_t n = ::write(trace_fd_, l.data() + off, l.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += n;
  }
}

void Actor::record(const std::string& encoded_json_line) { write_line(encoded_json_line); }

int Actor::socket(int type) { return socket_in_domain(AF_UNIX, type); }

int Actor::socket_in_domain(int domain, int type) {
  int fd = ::socket(domain, type, 0);
  int err = errno;
  Obs o("socket");
  if (domain != AF_UNIX) o.num("domain", domain);
  record(o.str("type", socket_type_name(type)).str("result", outcome(fd, err)).encode());
  return fd;
}

std::pair<int, int> Actor::socketpair(int type) {
  int fds[2] = {-1, -1};
  int r = ::socketpair(AF_UNIX, type, 0, fds);
  int err = errno;
  record(Obs("socketpair").str("type", socket_type_name(type)).str("result", outcome(r, err)).encode());
  return {fds[0], fds[1]};
}

int Actor::bind(int fd, const Addr& addr) {
  int r = ::bind(fd, addr.sa(), addr.len());
  int err = errno;
  record(Obs("bind").str("addr", addr.label()).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::listen(int fd, int backlog) {
  int r = ::listen(fd, backlog);
  int err = errno;
  record(Obs("listen").num("backlog", backlog).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::connect(int fd, const Addr& addr) {
  long r;
  int err;
  bool blocked;
  {
    Watchdog w;
    r = ::connect(fd, addr.sa(), addr.len());
    err = errno;
    blocked = w.blocked(r, err);
  }
  record(Obs("connect").str("addr", addr.label()).str("result", outcome(r, err, blocked)).encode());
  return static_cast<int>(r);
}

int Actor::accept(int fd) { return accept(fd, sizeof(sockaddr_un), false); }

int Actor::accept(int fd, socklen_t buffer) { return accept(fd, buffer, true); }

int Actor::accept(int fd, socklen_t buffer, bool record_sizes) {
  Guarded peer(buffer, 0x5a);
  socklen_t len = buffer;
  long r;
  int err;
  bool blocked;
  {
    Watchdog w;
    r = ::accept(fd, reinterpret_cast<sockaddr*>(peer.data_or_null()), &len);
    err = errno;
    blocked = w.blocked(r, err);
  }
  Obs o("accept");
  if (record_sizes) o.num("buffer", buffer);
  o.str("result", outcome(r, err, blocked));
  if (r >= 0 && !record_sizes)
    o.str("peer", context::address_name(reinterpret_cast<sockaddr*>(peer.data()), std::min(len, buffer)));
  if (r >= 0 && record_sizes) util::record_address(o, "peer", "addrlen", peer.data(), buffer, len);
  Overruns().check(peer, "addr").add_to(o);
  record(o.encode());
  return static_cast<int>(r);
}

long Actor::send(int fd, const std::string& data, int flags) {
  long r;
  int err;
  bool blocked;
  {
    Watchdog w;
    r = ::send(fd, data.data(), data.size(), flags);
    err = errno;
    blocked = w.blocked(r, err);
  }
  Obs o("send");
  o.str("data", escape_bytes(data));
  if (flags) o.str("flags", msg_flags_name(flags));
  record(count_or_error(o, r, err, blocked).encode());
  return r;
}

std::string Actor::recv(int fd, size_t max, int flags) {
  Guarded buf(max);
  long r;
  int err;
  bool blocked;
  {
    Watchdog w;
    r = ::recv(fd, buf.data_or_null(), max, flags);
    err = errno;
    blocked = w.blocked(r, err);
  }
  Obs o("recv");
  o.num("max", static_cast<long long>(max));
  if (flags) o.str("flags", msg_flags_name(flags));
  count_or_error(o, r, err, blocked);
  std::string data = r > 0 ? std::string(buf.data(), std::min<size_t>(r, max)) : "";
  if (r > 0) o.str("data", escape_bytes(data));
  Overruns().check(buf, "data").add_to(o);
  record(o.encode());
  return data;
}

int Actor::shutdown(int fd, int how) {
  int r = ::shutdown(fd, how);
  int err = errno;
  const char* names[] = {"SHUT_RD", "SHUT_WR", "SHUT_RDWR"};
  record(Obs("shutdown")
             .str("how", how >= 0 && how <= 2 ? names[how] : "invalid")
             .str("result", outcome(r, err))
             .encode());
  return r;
}

int Actor::close(int fd) {
  int r = ::close(fd);
  int err = errno;
  record(Obs("close").str("result", outcome(r, err)).encode());
  return r;
}

int Actor::set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  int r = flags < 0 ? -1 : ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int err = errno;
  record(Obs("set_nonblocking").str("result", outcome(r, err)).encode());
  return r;
}

void Actor::peercred(int fd) {
  Guarded buf(sizeof(ucred), 0x5a);
  socklen_t len = sizeof(ucred);
  int r;
  int err;
  bool blocked;
  {
    // Never blocks on Linux, but an emulation may first wait for the peer's credentials.
    Watchdog w;
    r = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf.data(), &len);
    err = errno;
    blocked = w.blocked(r, err);
  }
  ucred cred{};
  std::memcpy(&cred, buf.data(), sizeof cred);
  Obs o("peercred");
  o.str("result", outcome(r, err, blocked));
  if (r == 0) {
    o.str("pid", context::pid_name(cred.pid))
        .str("uid", context::uid_name(cred.uid))
        .str("gid", context::gid_name(cred.gid));
  }
  Overruns().check(buf, "optval").add_to(o);
  record(o.encode());
}

// getsockname/getpeername into a guarded buffer of `buffer` bytes.
static Addr name_call(Actor& a, const char* op, int (*call)(int, sockaddr*, socklen_t*), int fd,
                      socklen_t buffer, bool record_buffer) {
  Guarded buf(buffer, 0x5a);
  socklen_t len = buffer;
  int r = call(fd, reinterpret_cast<sockaddr*>(buf.data_or_null()), &len);
  int err = errno;
  Obs o(op);
  if (record_buffer) o.num("buffer", buffer);
  o.str("result", util::outcome(r, err));
  if (r == 0) util::record_address(o, "addr", "addrlen", buf.data(), buffer, len);
  Overruns().check(buf, "addr").add_to(o);
  a.record(o.encode());
  if (r != 0) return Addr::raw("", 0, "none");
  return Addr::from_kernel(reinterpret_cast<sockaddr*>(buf.data()), std::min(len, buffer));
}

Addr Actor::sockname(int fd) { return name_call(*this, "getsockname", ::getsockname, fd, sizeof(sockaddr_un), false); }
Addr Actor::sockname(int fd, socklen_t buffer) { return name_call(*this, "getsockname", ::getsockname, fd, buffer, true); }
void Actor::peername(int fd) { name_call(*this, "getpeername", ::getpeername, fd, sizeof(sockaddr_un), false); }
void Actor::peername(int fd, socklen_t buffer) { name_call(*this, "getpeername", ::getpeername, fd, buffer, true); }

int Actor::poll(int fd, short events, Wait wait) {
  pollfd p{fd, events, 0};
  int timeout = wait == Wait::Now ? 0 : context::event_timeout_ms();
  int r;
  do {
    r = ::poll(&p, 1, timeout);
  } while (r < 0 && errno == EINTR);
  int err = errno;
  Obs o("poll");
  o.str("events", poll_events_name(events)).str("wait", wait == Wait::Now ? "now" : "until-ready");
  if (r < 0)
    o.str("result", errno_name(err));
  else
    o.str("result", r == 0 ? "timeout" : "ready").str("revents", poll_events_name(p.revents));
  record(o.encode());
  return r;
}

int Actor::poll(int fd, short events, Event& until) {
  pollfd p[2] = {{fd, events, 0}, {until.read_fd_, POLLIN, 0}};
  int r;
  do {
    r = ::poll(p, 2, context::event_timeout_ms());
  } while (r < 0 && errno == EINTR);
  int err = errno;
  // poll() reports every ready descriptor of one scan, and the other actor posts after the step
  // that would make the socket ready, so when the event is seen that readiness is seen with it.
  Obs o("poll");
  o.str("events", poll_events_name(events)).str("wait", "until-ready-or-event").str("event", until.name());
  if (r < 0)
    o.str("result", errno_name(err));
  else
    o.str("result", r == 0 ? "timeout" : p[0].revents ? "ready" : "not-ready")
        .str("revents", poll_events_name(p[0].revents));
  record(o.encode());
  return r > 0 && p[0].revents ? 1 : 0;
}

int Actor::mkdir(const std::string& path, unsigned mode) {
  int r = ::mkdir(path.c_str(), mode);
  int err = errno;
  record(Obs("mkdir").str("path", path).str("mode", octal_mode(mode)).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::create_file(const std::string& path, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  int err = errno;
  if (fd >= 0) ::close(fd);
  record(Obs("create_file").str("path", path).str("mode", octal_mode(mode)).str("result", outcome(fd, err)).encode());
  return fd >= 0 ? 0 : -1;
}

int Actor::chmod(const std::string& path, unsigned mode) {
  int r = ::chmod(path.c_str(), mode);
  int err = errno;
  record(Obs("chmod").str("path", path).str("mode", octal_mode(mode)).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::unlink(const std::string& path) {
  int r = ::unlink(path.c_str());
  int err = errno;
  record(Obs("unlink").str("path", path).str("result", outcome(r, err)).encode());
  return r;
}

void Actor::stat(const std::string& path) {
  struct stat st {};
  int r = ::stat(path.c_str(), &st);
  int err = errno;
  Obs o("stat");
  o.str("path", path).str("result", outcome(r, err));
  if (r == 0) o.str("type", file_type_name(st.st_mode)).str("mode", octal_mode(st.st_mode));
  record(o.encode());
}

void Actor::umask(unsigned mask) {
  ::umask(mask);
  record(Obs("umask").str("mask", octal_mode(mask)).encode());
}

int Actor::become(const Identity& who) {
  int r = 0;
  if (!who.is_runner) {
    r = setgroups(who.groups.size(), who.groups.data());
    if (r == 0) r = setgid(who.gid);
    if (r == 0) r = setuid(who.uid);
  }
  int err = errno;
  record(Obs("become").str("identity", who.name).str("result", outcome(r, err)).encode());
  return r;
}

}  // namespace afunix
