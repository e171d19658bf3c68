// Steps many scenarios share, built from recorded operations only.
#pragma once

#include <string>

#include "observation.h"
#include "scenario.h"

namespace afunix {

// A socket of the kind's type, bound to `name` the kind's way (a socketpair kind binds a pathname),
// listening with `backlog` when the type has listeners and backlog >= 0. `addr` is where others
// reach it: for autobind, the name the kernel chose, as getsockname reported it.
struct Bound {
  int fd = -1;
  Addr addr;
};

// A server's first steps in most stories: a stream socket bound to `path`, its socket file opened
// to `mode` (postfix makes its sockets rw-rw-rw- and relies on directories), listening.
inline int ListenAt(Actor& a, const std::string& path, unsigned mode, int backlog = 5) {
  int s = a.socket(SOCK_STREAM);
  a.bind(s, Addr::path(path));
  a.chmod(path, mode);
  a.listen(s, backlog);
  return s;
}

// A client's first steps: a stream socket connected to `path` (the outcome is in the trace).
inline int ConnectTo(Actor& a, const std::string& path) {
  int s = a.socket(SOCK_STREAM);
  a.connect(s, Addr::path(path));
  return s;
}

inline Naming BindableNaming(const SocketKind& kind) {
  return kind.named() ? kind.naming : Naming::Pathname;
}

inline Bound BindKind(Actor& a, const SocketKind& kind, const std::string& name, int backlog = 5) {
  Bound b;
  Naming naming = BindableNaming(kind);
  b.fd = a.socket(kind.type);
  a.bind(b.fd, Addr::named(naming, name));
  b.addr = naming == Naming::Autobind ? a.sockname(b.fd) : Addr::named(naming, name);
  if (kind.connection_oriented() && backlog >= 0) a.listen(b.fd, backlog);
  return b;
}

}  // namespace afunix
