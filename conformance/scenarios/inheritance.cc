// Fork, exec and inheritance: descriptors outlive the process that opened them, copies keep a
// connection open until the last one closes, SOCK_CLOEXEC decides what survives exec, and a
// connection remembers who connected it, not who holds it now. Emulations keep per-process
// state next to the descriptor (a handshake secret, a peer's credentials) that fork and exec may
// not carry.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <functional>

#include "common.h"
#include "scenario.h"

using namespace afunix;

TEST_KINDS(Inheritance, SocketFlags, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int plain = a.socket(kind.type);
    a.label(plain, "plain");
    int cloexec = a.socket(kind.type | SOCK_CLOEXEC);
    a.label(cloexec, "cloexec");
    int nonblock = a.socket(kind.type | SOCK_NONBLOCK);
    a.fd_flags(plain);
    a.fd_flags(cloexec);
    a.fd_flags(nonblock);
    a.exec_probe(plain);
    a.exec_probe(cloexec);
  });
  sc.run();
}

TEST_KINDS(Inheritance, SocketpairFlags, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [p, q] = a.socketpair(kind.type);
    auto [c, d] = a.socketpair(kind.type | SOCK_CLOEXEC | SOCK_NONBLOCK);
    a.label(p, "plain");
    a.label(c, "cloexec");
    a.fd_flags(p);
    a.fd_flags(q);
    a.fd_flags(c);
    a.fd_flags(d);
    a.exec_probe(p);
    a.exec_probe(c);
  });
  sc.run();
}

// accept() gives a descriptor of its own: the listener's O_NONBLOCK and FD_CLOEXEC stay behind.
TEST_KINDS(Inheritance, AcceptedSocketDoesNotInheritFlags, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    a.set_nonblocking(srv.fd);
    a.set_cloexec(srv.fd);
    Connect(a, srv.addr, kind.type);
    int s = a.accept(srv.fd);
    a.fd_flags(srv.fd);
    a.fd_flags(s);
  });
  sc.run();
}

// A duplicate of a listener accepts, and closing one copy neither stops it nor removes its name.
TEST_KINDS(Inheritance, DuplicatedListener, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int copy = a.dup(srv.fd);
    a.close(srv.fd);
    if (kind.naming == Naming::Pathname) a.stat("srv.sock");
    int c = Connect(a, srv.addr, kind.type);
    int s = a.accept(copy);
    a.send(c, "via the copy");
    a.recv(s, 64);
  });
  sc.run();
}

// A pre-forking server: the child accepts on the listener it inherited.
TEST_KINDS(Inheritance, ChildAcceptsOnInheritedListener, ListenerKinds()) {
  Scenario sc;
  Event& answered = sc.event("answered");
  sc.actor("server", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    Child worker = a.fork("worker", [&, l = srv.fd](Actor& w) {
      w.poll(l, POLLIN, Wait::UntilReady);
      int s = w.accept(l);
      w.recv(s, 64);
      w.send(s, "served by the child");
      answered.wait();
    });
    int c = Connect(a, srv.addr, kind.type);
    a.send(c, "request");
    a.poll(c, POLLIN, Wait::UntilReady);
    a.recv(c, 64);
    answered.post();
    a.join(worker);
  });
  sc.run();
}

namespace {

// The server's side of the PeercredNamesConnector stories: it listens, forks the "client" (which
// connects and hands its connection to a process of its own, the "holder"), waits for it, then
// accepts and asks who connected and reads what the holder sent.
void ServerAsksWhoConnected(Actor& a, const SocketKind& kind, std::function<void(Actor&, const Addr&)> client) {
  Bound srv = Listen(a, kind, "srv");
  Child forked = a.fork("client", [client, addr = srv.addr](Actor& c) { client(c, addr); });
  a.join(forked);
  int s = a.accept(srv.fd);
  a.peercred(s);
  a.recv(s, 64);
}

}  // namespace

// SO_PEERCRED names the process that connected, even once another process holds the socket.
TEST_KINDS(Inheritance, PeercredNamesConnectorAfterFork, ListenerKinds()) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    ServerAsksWhoConnected(a, kind, [&](Actor& c, const Addr& addr) {
      int s = c.socket(kind.type);
      c.connect(s, addr);
      Child holder = c.fork("holder", [s](Actor& h) {
        h.peercred(s);
        h.send(s, "from the holder");
      });
      c.close(s);
      c.join(holder);
    });
  });
  sc.run();
}

// The same after the connected socket travelled over SCM_RIGHTS to another process.
TEST_KINDS(Inheritance, PeercredNamesConnectorAfterPassing, ListenerKinds()) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    ServerAsksWhoConnected(a, kind, [&](Actor& c, const Addr& addr) {
      auto [mine, theirs] = c.socketpair(SOCK_STREAM);
      Child holder = c.fork("holder", [theirs = theirs](Actor& h) {
        Received got = h.recvmsg(theirs, Recv(64).room(Room::fds(1)));
        if (got.fds.empty()) return;
        h.peercred(got.fds[0]);
        h.send(got.fds[0], "from the holder");
      });
      int s = c.socket(kind.type);
      c.connect(s, addr);
      c.label(s, "connection");
      c.sendmsg(mine, Msg("take it").rights({s}));
      c.close(s);
      c.join(holder);
    });
  });
  sc.run();
}

// End of file only when the last copy of the peer's descriptor is closed.
TEST_KINDS(Inheritance, EofOnlyAfterLastCopyCloses, CoreConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int copy = a.dup(x);
    a.close(x);
    a.poll(y, POLLIN | POLLRDHUP);
    a.recv(y, 64, MSG_DONTWAIT);
    a.close(copy);
    a.poll(y, POLLIN | POLLRDHUP);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

TEST_KINDS(Inheritance, EofWhenChildHoldingCopyExits, CoreConnectionKinds()) {
  Scenario sc;
  Event& checked = sc.event("checked");
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    Child holder = a.fork("holder", [&, y = y](Actor& h) {
      h.close(y);
      checked.wait();
    });
    a.close(x);
    a.poll(y, POLLIN | POLLRDHUP);
    checked.post();
    a.join(holder);
    a.poll(y, POLLIN | POLLRDHUP);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// The classic: socketpair(), fork(), parent and child talk; each sees the pair's creator.
TEST_KINDS(Inheritance, SocketpairAcrossFork, SocketTypes()) {
  Scenario sc;
  sc.actor("parent", [&](Actor& a) {
    auto [p, q] = a.socketpair(kind.type);
    Child child = a.fork("child", [&, p = p, q = q](Actor& c) {
      c.close(p);
      c.peercred(q);
      c.send(q, "from the child");
      c.recv(q, 64);
    });
    a.close(q);
    a.recv(p, 64);
    a.send(p, "from the parent");
    a.peercred(p);
    a.join(child);
  });
  sc.run();
}

// A listener handed to another process over SCM_RIGHTS (socket activation): it accepts there.
TEST_KINDS(Inheritance, ListenerPassedToAnotherProcess, ListenerKinds()) {
  Scenario sc;
  sc.actor("manager", [&](Actor& a) {
    auto [mine, theirs] = a.socketpair(SOCK_STREAM);
    Child service = a.fork("service", [&, theirs = theirs](Actor& s) {
      Received got = s.recvmsg(theirs, Recv(64).room(Room::fds(1)));
      if (got.fds.empty()) return;
      s.poll(got.fds[0], POLLIN, Wait::UntilReady);
      int c = s.accept(got.fds[0]);
      s.recv(c, 64);
    });
    Bound srv = Listen(a, kind, "srv");
    a.label(srv.fd, "listener");
    a.sendmsg(mine, Msg("listen for me").rights({srv.fd}));
    a.close(srv.fd);
    int c = Connect(a, srv.addr, kind.type);
    a.send(c, "hello service");
    a.join(service);
  });
  sc.run();
}
