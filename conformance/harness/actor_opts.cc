// Actor, "Socket options and ioctls" (scenario.h): set, read back, and decoded by name, so that a
// trace says SO_TYPE is "SOCK_STREAM" and SO_PEERCRED's pid is "server", whatever the ABI's struct
// sizes are.
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "actor_util.h"
#include "context.h"
#include "guard.h"
#include "platform_compat.h"
#include "names.h"
#include "observation.h"
#include "platform.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {

using util::outcome;

namespace {

socklen_t natural_length(int level, int option) {
  if (level != SOL_SOCKET) return sizeof(int);
  switch (option) {
#if AFUNIX_HAVE_SO_PEERCRED
    case SO_PEERCRED: return sizeof(ucred);
#endif
    case SO_RCVTIMEO:
    case SO_SNDTIMEO: return sizeof(timeval);
    case SO_LINGER: return sizeof(linger);
    case SO_PEERSEC: return 256;
    case SO_PEERGROUPS: return 64 * sizeof(gid_t);
    case SO_PEERNAME: return sizeof(sockaddr_un);
    default: return sizeof(int);
  }
}

Obs& option_fields(Obs& o, int level, int option) {
  if (level != SOL_SOCKET) o.str("level", level_name(level));
  return o.str("option", socket_option_name(level, option));
}

// An option needs what it names (platform.h): a constant this platform lacks, a feature it may not
// offer, or, in the POSIX-only profile, any option only Linux has.
void require_option(int level, int option) {
  using platform::Feature;
  platform::require_constant(level, level_name(level).c_str());
  platform::require_constant(option, socket_option_name(level, option).c_str());
  if (level != SOL_SOCKET) {
    if (AFUNIX_POSIX_ONLY) platform::require(Feature::LinuxOptions);
    return;
  }
  switch (option) {
    case SO_PEERCRED: platform::require(Feature::SoPeercred); return;
    case SO_PASSCRED: platform::require(Feature::ScmCredentials); return;
    case SO_PEEK_OFF: platform::require(Feature::PeekOffset); return;
    case SO_PEERPIDFD:
    case SO_PASSPIDFD: platform::require(Feature::Pidfd); return;
    case SO_PEERGROUPS: case SO_INQ: case SO_PEERSEC: case SO_PASSSEC: case SO_PASSRIGHTS:
    case SO_DOMAIN: case SO_PROTOCOL: case SO_PRIORITY: case SO_RXQ_OVFL: case SO_ZEROCOPY:
    case SO_SNDBUFFORCE: case SO_RCVBUFFORCE: case SO_NO_CHECK: case SO_MARK: case SO_INCOMING_CPU:
    case SO_BUSY_POLL: case SO_BSDCOMPAT: case SO_PEERNAME: case SO_REUSEPORT:
      if (AFUNIX_POSIX_ONLY) platform::require(Feature::LinuxOptions);
      return;
    default: return;
  }
}

// A struct timeval as "seconds:microseconds", fields as given (a microsecond field may be out of range).
std::string seconds(long sec, long usec) { return std::to_string(sec) + ":" + std::to_string(usec); }

// Adds what the option's value says to o, from the `n` bytes the call wrote.
void decode(Obs& o, int level, int option, const char* p, socklen_t n) {
#if AFUNIX_HAVE_SO_PEERCRED
  if (level == SOL_SOCKET && option == SO_PEERCRED) {
    ucred cred{};
    std::memcpy(&cred, p, std::min<size_t>(n, sizeof cred));
    if (n >= offsetof(ucred, pid) + sizeof cred.pid) o.str("pid", context::pid_name(cred.pid));
    if (n >= offsetof(ucred, uid) + sizeof cred.uid) o.str("uid", context::uid_name(cred.uid));
    if (n >= offsetof(ucred, gid) + sizeof cred.gid) o.str("gid", context::gid_name(cred.gid));
    return;
  }
#endif
  if (level == SOL_SOCKET && (option == SO_RCVTIMEO || option == SO_SNDTIMEO)) {
    if (n < sizeof(timeval)) return;
    timeval tv{};
    std::memcpy(&tv, p, sizeof tv);
    o.str("value", seconds(tv.tv_sec, tv.tv_usec));
    return;
  }
  if (level == SOL_SOCKET && option == SO_LINGER) {
    if (n < sizeof(linger)) return;
    linger l{};
    std::memcpy(&l, p, sizeof l);
    o.json("value", Obs::object().num("l_onoff", l.l_onoff).num("l_linger", l.l_linger).encode());
    return;
  }
  if (level == SOL_SOCKET && option == SO_PEERSEC) {
    std::string label(p, n);
    while (!label.empty() && label.back() == '\0') label.pop_back();
    o.str("value", escape_bytes(label));
    return;
  }
  if (level == SOL_SOCKET && option == SO_PEERGROUPS) {
    std::vector<std::string> groups;
    for (size_t i = 0; i + sizeof(gid_t) <= n; i += sizeof(gid_t)) {
      gid_t g;
      std::memcpy(&g, p + i, sizeof g);
      groups.push_back(context::gid_name(g));
    }
    o.json("value", util::json_list(groups));
    return;
  }
  if (level == SOL_SOCKET && option == SO_PEERNAME) {
    util::record_address(o, "value", "addrlen", p, n, n, std::string(p, n));
    return;
  }
  if (n < sizeof(int)) {
    if (n > 0) o.str("bytes", escape_bytes(std::string(p, n)));
    return;
  }
  int v;
  std::memcpy(&v, p, sizeof v);
  if (level == SOL_SOCKET) {
    switch (option) {
      case SO_TYPE: o.str("value", socket_type_name(v)); return;
      case SO_DOMAIN: o.str("value", family_name(v)); return;
      case SO_ERROR: o.str("value", v ? errno_name(v) : "none"); return;
      case SO_PEERPIDFD:
        o.str("value", "pidfd of " + util::pidfd_process(v));
        ::close(v);
        return;
    }
  }
  o.num("value", v);
}

int get(Actor& a, int fd, int level, int option, socklen_t optlen, bool explicit_len) {
  require_option(level, option);
  Guarded buf(optlen, 0x5a);
  socklen_t len = optlen;
  // An emulation may wait for its peer before it can answer.
  Returned r = under_watchdog([&] { return ::getsockopt(fd, level, option, buf.data_or_null(), &len); });
  Obs o("getsockopt");
  option_fields(o, level, option);
  if (explicit_len) o.num("optlen", optlen);
  o.str("result", outcome(r));
  if (r.ok()) {
    if (explicit_len) o.num("optlen_out", len);
    decode(o, level, option, buf.data(), std::min(len, optlen));
  } else if (r.ret < 0 && r.err == ERANGE && level == SOL_SOCKET && option == SO_PEERGROUPS) {
    o.num("groups_needed", static_cast<long long>(len / sizeof(gid_t)));
  }
  Overruns().check(buf, "optval").add_to(o);
  a.record(o.encode());
  int value = 0;
  if (r.ret == 0 && len >= sizeof(int)) std::memcpy(&value, buf.data(), sizeof value);
  return r.ret == 0 ? value : -1;
}

}  // namespace

int Actor::getsockopt(int fd, int level, int option) {
  return get(*this, fd, level, option, natural_length(level, option), false);
}

int Actor::getsockopt(int fd, int level, int option, socklen_t optlen) {
  return get(*this, fd, level, option, optlen, true);
}

int Actor::getsockopt_at_least(int fd, int level, int option, int minimum) {
  require_option(level, option);
  int value = 0;
  socklen_t len = sizeof value;
  int r = ::getsockopt(fd, level, option, &value, &len);
  int err = errno;
  Obs o("getsockopt");
  option_fields(o, level, option).str("result", outcome(r, err));
  if (r == 0) o.num("at_least", minimum).flag("holds", value >= minimum);
  record(o.encode());
  return r == 0 ? value : -1;
}

// setsockopt with `len` bytes at `optval`, recorded with `value` (already JSON: a number,
// "sec:usec", {l_onoff, l_linger}, a label such as "2 bytes"): how every setsockopt records.
static int set_option(Actor& a, int fd, int level, int option, const void* optval, socklen_t len,
                      const std::string& value) {
  require_option(level, option);
  int r = ::setsockopt(fd, level, option, optval, len);
  int err = errno;
  Obs o("setsockopt");
  option_fields(o, level, option).json("value", value).str("result", outcome(r, err));
  a.record(o.encode());
  return r;
}

int Actor::setsockopt(int fd, int level, int option, int value) {
  return set_option(*this, fd, level, option, &value, sizeof value, std::to_string(value));
}

int Actor::setsockopt_bytes(int fd, int level, int option, const std::string& optval,
                            const std::string& label) {
  return set_option(*this, fd, level, option, optval.data(), static_cast<socklen_t>(optval.size()),
                    json_quote(label));
}

int Actor::setsockopt_timeval(int fd, int option, long sec, long usec) {
  timeval tv{};
  tv.tv_sec = sec;
  tv.tv_usec = usec;
  return set_option(*this, fd, SOL_SOCKET, option, &tv, sizeof tv, json_quote(seconds(sec, usec)));
}

int Actor::setsockopt_linger(int fd, int onoff, int seconds_) {
  linger l{};
  l.l_onoff = onoff;
  l.l_linger = seconds_;
  return set_option(*this, fd, SOL_SOCKET, SO_LINGER, &l, sizeof l,
                    Obs::object().num("l_onoff", onoff).num("l_linger", seconds_).encode());
}

// ---- ioctl ----------------------------------------------------------------------------------

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

}  // namespace afunix
