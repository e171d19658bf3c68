// The scenario vocabulary: the steps most stories share. Each helper is made of recorded Actor
// operations only and records exactly the operations its comment lists, so a trace reads as if the
// story had spelled them out.
//
//   Listen(a, Addr::path("srv.sock"))           socket, bind, listen(5)
//   Connect(a, Addr::path("srv.sock"))          socket, connect
//   Bind(a, SOCK_DGRAM, Naming::Abstract, "srv") socket, bind (+ getsockname when autobound)
//   Bind(a, kind, "srv")                        the same, for a kind (a socketpair kind binds "srv.sock")
//   Listen(a, kind, "srv")                      the kind's server end: Bind, then listen(5) unless datagram
//   ListenWithMode(a, "private/srv.sock", 0666) socket, bind, chmod, listen(5): postfix's sockets
//   ChmodSocketFile(a, kind, "srv", 0666)      chmod srv.sock, for a kind named by a file
//   Rendezvous: a server that announces its listener and accepts whatever connection arrived by
//   the time its client says it has tried (see below).
//   ConnectedAcross(sc, ServiceOwner(), Stranger(), ...): a server and its client as two users,
//   each looking at its end of the connection (below).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <functional>
#include <string>

#include "kinds.h"
#include "observation.h"
#include "scenario.h"

namespace afunix {

// ---- servers and clients at an address -----------------------------------------------------------

// socket, bind, listen(backlog): a server's first steps. A datagram socket has no listen(): just
// socket and bind.
inline int Listen(Actor& a, const Addr& addr, int type = SOCK_STREAM, int backlog = 5) {
  int s = a.socket(type);
  a.bind(s, addr);
  if (type != SOCK_DGRAM) a.listen(s, backlog);
  return s;
}

// socket, connect: a client's first steps (the connect outcome is in the trace).
inline int Connect(Actor& a, const Addr& addr, int type = SOCK_STREAM) {
  int s = a.socket(type);
  a.connect(s, addr);
  return s;
}

// socket, bind, chmod, listen(backlog): a server whose socket file is opened to `mode`, as postfix
// makes its sockets rw-rw-rw- and relies on their directories. Datagram sockets: no listen.
inline int ListenWithMode(Actor& a, const std::string& path, unsigned mode, int backlog = 5,
                          int type = SOCK_STREAM) {
  int s = a.socket(type);
  a.bind(s, Addr::path(path));
  a.chmod(path, mode);
  if (type != SOCK_DGRAM) a.listen(s, backlog);
  return s;
}

// mkdir(dir, 0700), chmod(dir, mode): a service's directory, made private and then opened to
// `mode` (postfix's private/ is 0700, public/ 0710), whatever the umask.
inline void ServiceDir(Actor& a, const std::string& dir, unsigned mode) {
  a.mkdir(dir, 0700);
  a.chmod(dir, mode);
}

// ---- sockets named the way of a kind ---------------------------------------------------------------

// A bound socket and where others reach it: for autobind, the name the kernel chose.
struct Bound {
  int fd = -1;
  Addr addr;
};

// socket, bind (and getsockname when autobound): a socket of `type` named `name` the `naming`
// way ("name.sock", "@name", or autobind).
inline Bound Bind(Actor& a, int type, Naming naming, const std::string& name) {
  Bound b;
  b.fd = a.socket(type);
  a.bind(b.fd, Addr::named(naming, name));
  b.addr = naming == Naming::Autobind ? a.getsockname(b.fd) : Addr::named(naming, name);
  return b;
}

// How a kind's sockets are named when bound: a socketpair kind binds a pathname.
inline Naming BindableNaming(const SocketKind& kind) {
  return kind.named() ? kind.naming : Naming::Pathname;
}

// socket, bind (and getsockname when autobound): a socket of the kind's type, named its way.
inline Bound Bind(Actor& a, const SocketKind& kind, const std::string& name) {
  return Bind(a, kind.type, BindableNaming(kind), name);
}

// The kind's server end: Bind, then listen(backlog) when the kind has listeners.
inline Bound Listen(Actor& a, const SocketKind& kind, const std::string& name, int backlog = 5) {
  Bound b = Bind(a, kind.type, BindableNaming(kind), name);
  if (kind.connection_oriented()) a.listen(b.fd, backlog);
  return b;
}

// chmod(file, mode) when the kind names its sockets with a file ("name.sock"), to open a server to
// other users; an abstract name has no file and no permissions, and nothing is recorded for it.
inline void ChmodSocketFile(Actor& a, const SocketKind& kind, const std::string& name, unsigned mode) {
  if (BindableNaming(kind) == Naming::Pathname) a.chmod(name + ".sock", mode);
}

// ---- the rendezvous of a server and its client ------------------------------------------------

// Two events most client/server stories share: the server posts "listening" (or the name given)
// once its socket is ready, the client waits for it before it connects and posts "tried" after.
// accept_if_tried() is how a server accepts a connection that may or may not come: whatever
// arrives before the client has tried, never racing it and never blocking an emulation whose
// connect() waits for the server's accept(); then it stays until the client has tried.
class Rendezvous {
 public:
  explicit Rendezvous(Scenario& sc, const std::string& ready = "listening")
      : ready_(sc.event(ready)), tried_(sc.event("tried")) {}

  // The server: post "listening".
  void ready() { ready_.post(); }
  // The server: Listen at addr, then post "listening".
  int listen(Actor& a, const Addr& addr, int type = SOCK_STREAM, int backlog = 5) {
    int s = Listen(a, addr, type, backlog);
    ready();
    return s;
  }
  // The server: poll until a connection or "tried" comes, accept if it was a connection, then
  // wait for "tried". Returns the accepted socket or -1.
  int accept_if_tried(Actor& a, int listener) {
    int c = a.poll(listener, POLLIN, tried_) > 0 ? a.accept(listener) : -1;
    tried_.wait();
    return c;
  }
  // The server: wait for "tried".
  void wait_tried() { tried_.wait(); }

  // The client: wait for "listening".
  void wait_ready() { ready_.wait(); }
  // The client: wait for "listening", then Connect.
  int connect(Actor& a, const Addr& addr, int type = SOCK_STREAM) {
    wait_ready();
    return Connect(a, addr, type);
  }
  // The client: post "tried".
  void tried() { tried_.post(); }

 private:
  Event& ready_;
  Event& tried_;
};

// poll(POLLIN, until ready), accept: how a server takes a connection it knows is coming (the
// client connects after "listening"), without racing it.
inline int AcceptWhenReady(Actor& a, int listener) {
  a.poll(listener, POLLIN, Wait::UntilReady);
  return a.accept(listener);
}

// ---- a connection across two identities -----------------------------------------------------------

// Which side of a ConnectedAcross story looks at its end last.
enum class LooksLast { Server, Client };
// What a side does with its end of the connection.
using LookAt = std::function<void(Actor&, int)>;

// socket, bind, chmod 0666, listen(5) on srv.sock: a service open to every user, as postfix's are.
inline int ListenOpenToAll(Actor& a) { return ListenWithMode(a, "srv.sock", 0666); }

// The story of most credential checks: the "server", as server_id, listens (ListenOpenToAll, or
// the `listen` step given), posts "listening" and accepts its client when it arrives
// (AcceptWhenReady); the "client", as client_id, waits for "listening" and connects to srv.sock.
// Then each looks at its end (server_looks(a, accepted), client_looks(a, connected)), and the
// connection stays up until both have: the side that looks last posts "checked", the other waits
// for it. Declare the scenario's other events before calling it.
inline void ConnectedAcross(Scenario& sc, const Identity& server_id, const Identity& client_id,
                            LooksLast last, LookAt server_looks, LookAt client_looks,
                            std::function<int(Actor&)> listen = ListenOpenToAll) {
  Rendezvous rv(sc);
  Event& checked = sc.event("checked");
  sc.actor("server", server_id, [=, &checked](Actor& a) mutable {
    int s = listen(a);
    rv.ready();
    int c = AcceptWhenReady(a, s);
    server_looks(a, c);
    if (last == LooksLast::Server) checked.post(); else checked.wait();
  });
  sc.actor("client", client_id, [=, &checked](Actor& a) mutable {
    int s = rv.connect(a, Addr::path("srv.sock"));
    client_looks(a, s);
    if (last == LooksLast::Client) checked.post(); else checked.wait();
  });
}

// Looks at nothing: the side only keeps its end open for the other.
inline void LookAtNothing(Actor&, int) {}

}  // namespace afunix
