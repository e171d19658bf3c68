// Actor, "Sockets" (scenario.h): each operation performs one real call and writes one observation.
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
#include "platform.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {

using util::count_or_error;
using util::outcome;

namespace {

// A socket type needs what it names: SOCK_SEQPACKET, SOCK_NONBLOCK and SOCK_CLOEXEC (platform.h).
void require_type(int type) {
  platform::require_constant(type, "SOCK_CLOEXEC/SOCK_NONBLOCK");
  const int flags = AFUNIX_REAL(SOCK_NONBLOCK) | AFUNIX_REAL(SOCK_CLOEXEC);
  if ((type & ~flags) == SOCK_SEQPACKET) platform::require(platform::Feature::SeqPacket);
  if (type & flags) platform::require(platform::Feature::SockFlags);
}

}  // namespace

int Actor::socket(int type) { return socket_in_domain(AF_UNIX, type); }

int Actor::socket_in_domain(int domain, int type) {
  platform::require_constant(domain, "this address family");
  require_type(type);
  int fd = ::socket(domain, type, 0);
  int err = errno;
  Obs o("socket");
  if (domain != AF_UNIX) o.num("domain", domain);
  record(o.str("type", socket_type_name(type)).str("result", outcome(fd, err)).encode());
  return fd;
}

std::pair<int, int> Actor::socketpair(int type) {
  require_type(type);
  int fds[2] = {-1, -1};
  int r = ::socketpair(AF_UNIX, type, 0, fds);
  int err = errno;
  record(Obs("socketpair").str("type", socket_type_name(type)).str("result", outcome(r, err)).encode());
  return {fds[0], fds[1]};
}

int Actor::bind(int fd, const Addr& addr) {
  int r = ::bind(fd, addr.sa(), addr.len());
  int err = errno;
  Obs o("bind");
  o.str("addr", addr.label());
  if (!addr.stale().empty()) o.str("stale", addr.stale());
  record(o.str("result", outcome(r, err)).encode());
  return r;
}

int Actor::listen(int fd, int backlog) {
  int r = ::listen(fd, backlog);
  int err = errno;
  record(Obs("listen").num("backlog", backlog).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::connect(int fd, const Addr& addr) {
  Returned r = under_watchdog([&] { return ::connect(fd, addr.sa(), addr.len()); });
  Obs o("connect");
  o.str("addr", addr.label());
  if (!addr.stale().empty()) o.str("stale", addr.stale());
  record(o.str("result", outcome(r)).encode());
  return static_cast<int>(r.ret);
}

int Actor::accept(int fd) { return accept(fd, AddrBuf(), false); }

int Actor::accept(int fd, socklen_t buffer) { return accept(fd, AddrBuf(buffer), true); }

int Actor::accept(int fd, const AddrBuf& buffer) { return accept(fd, buffer, true); }

int Actor::accept(int fd, const AddrBuf& how, bool record_buffer) {
  const socklen_t buffer = how.bytes();
  Guarded peer(buffer, 0x5a);
  util::prefill(peer.data(), buffer, how);
  const std::string before(peer.data(), buffer);
  socklen_t len = buffer;
  Returned r = under_watchdog([&] { return ::accept(fd, reinterpret_cast<sockaddr*>(peer.data_or_null()), &len); });
  Obs o("accept");
  if (record_buffer) util::record_buffer(o, how);
  o.str("result", outcome(r));
  if (r.ok()) util::record_address(o, "peer", "addrlen", peer.data(), buffer, len, before);
  Overruns().check(peer, "addr").add_to(o);
  record(o.encode());
  return static_cast<int>(r.ret);
}

long Actor::send(int fd, const std::string& data, int flags) {
  platform::require_msg_flags(flags);
  Returned r = under_watchdog([&] { return ::send(fd, data.data(), data.size(), flags); });
  Obs o("send");
  o.str("data", escape_bytes(data));
  if (flags) o.str("flags", msg_flags_name(flags));
  record(count_or_error(o, r).encode());
  return r.ret;
}

std::string Actor::recv(int fd, size_t max, int flags) {
  platform::require_msg_flags(flags);
  Guarded buf(max);
  Returned r = under_watchdog([&] { return ::recv(fd, buf.data_or_null(), max, flags); });
  Obs o("recv");
  o.num("max", static_cast<long long>(max));
  if (flags) o.str("flags", msg_flags_name(flags));
  count_or_error(o, r);
  std::string data = r.ret > 0 ? std::string(buf.data(), std::min<size_t>(r.ret, max)) : "";
  if (r.ret > 0) o.str("data", escape_bytes(data));
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
  platform::require(platform::Feature::PeerCredentials);
#if AFUNIX_HAVE_SO_PEERCRED
  // Linux and Cygwin: SO_PEERCRED into a guarded struct ucred, so a backend that writes past it shows.
  Guarded buf(sizeof(ucred), 0x5a);
  socklen_t len = sizeof(ucred);
  // Never blocks on Linux, but an emulation may first wait for the peer's credentials.
  Returned r = under_watchdog([&] { return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf.data(), &len); });
  ucred cred{};
  std::memcpy(&cred, buf.data(), sizeof cred);
  Obs o("peercred");
  o.str("result", outcome(r));
  if (r.ret == 0) {
    o.str("pid", context::pid_name(cred.pid))
        .str("uid", context::uid_name(cred.uid))
        .str("gid", context::gid_name(cred.gid));
  }
  Overruns().check(buf, "optval").add_to(o);
#else
  // Elsewhere the platform's own API (platform/<system>.cc); the observation is the same.
  platform::PeerCredentials cred;
  Returned r = under_watchdog([&] {
    cred = platform::peer_credentials(fd);
    errno = cred.err;
    return cred.err ? -1 : 0;
  });
  Obs o("peercred");
  o.str("result", outcome(r));
  if (r.ret == 0) {
    o.str("pid", cred.has_pid ? context::pid_name(cred.pid) : "unknown")
        .str("uid", context::uid_name(cred.uid))
        .str("gid", context::gid_name(cred.gid));
  }
#endif
  record(o.encode());
}

// getsockname/getpeername into a guarded buffer of `buffer` bytes.
static Addr name_call(Actor& a, const char* op, int (*call)(int, sockaddr*, socklen_t*), int fd,
                      const AddrBuf& how, bool record_buffer) {
  const socklen_t buffer = how.bytes();
  Guarded buf(buffer, 0x5a);
  util::prefill(buf.data(), buffer, how);
  const std::string before(buf.data(), buffer);
  socklen_t len = buffer;
  int r = call(fd, reinterpret_cast<sockaddr*>(buf.data_or_null()), &len);
  int err = errno;
  Obs o(op);
  if (record_buffer) util::record_buffer(o, how);
  o.str("result", util::outcome(r, err));
  if (r == 0) util::record_address(o, "addr", "addrlen", buf.data(), buffer, len, before);
  Overruns().check(buf, "addr").add_to(o);
  a.record(o.encode());
  if (r != 0) return Addr::raw("", 0, "none");
  return Addr::from_kernel(reinterpret_cast<sockaddr*>(buf.data()), std::min(len, buffer));
}

Addr Actor::getsockname(int fd) { return name_call(*this, "getsockname", ::getsockname, fd, AddrBuf(), false); }
Addr Actor::getsockname(int fd, socklen_t buffer) {
  return name_call(*this, "getsockname", ::getsockname, fd, AddrBuf(buffer), true);
}
Addr Actor::getsockname(int fd, const AddrBuf& buffer) {
  return name_call(*this, "getsockname", ::getsockname, fd, buffer, true);
}
Addr Actor::getpeername(int fd) { return name_call(*this, "getpeername", ::getpeername, fd, AddrBuf(), false); }
Addr Actor::getpeername(int fd, socklen_t buffer) {
  return name_call(*this, "getpeername", ::getpeername, fd, AddrBuf(buffer), true);
}
Addr Actor::getpeername(int fd, const AddrBuf& buffer) {
  return name_call(*this, "getpeername", ::getpeername, fd, buffer, true);
}

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

}  // namespace afunix
