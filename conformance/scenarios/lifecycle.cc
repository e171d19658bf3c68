// Lifecycle: listen, accept, connect, shutdown and close, and what each end sees when the other
// goes away. Emulations over TCP inherit TCP's answers here (RST, half-close), which are often not
// AF_UNIX's: EPIPE against ECONNRESET, a datagram peer that vanished, a backlog that never fills.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <csignal>

#include "common.h"
#include "scenario.h"

using namespace afunix;

TEST_KINDS(Lifecycle, ListenOnUnboundSocket, ConnectionTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.listen(s, 5);
    a.getsockname(s);
  });
  sc.run();
}

// A second listen() is allowed and changes only the backlog.
TEST_KINDS(Lifecycle, ListenAgain, ListenerKinds()) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    a.listen(srv.fd, 1);
    a.getsockopt(srv.fd, SOL_SOCKET, SO_ACCEPTCONN);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, DatagramHasNoListenOrAccept, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound s = Bind(a, kind, "srv");
    a.listen(s.fd, 5);
    a.accept(s.fd);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, AcceptOnNonListeningSocket, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int unbound = a.socket(kind.type);
    a.accept(unbound);
    Bound s = Bind(a, kind, "srv");
    a.accept(s.fd);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, ConnectToBoundNotListening, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound s = Bind(a, kind, "srv");
    Connect(a, s.addr, kind.type);
  });
  sc.run();
}

// A connected socket cannot connect again, whoever it would connect to.
TEST_KINDS(Lifecycle, SecondConnectIsConnected, ConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    Bound other = Listen(a, kind, "other");
    a.connect(x, other.addr);
    a.connect(y, other.addr);
  });
  sc.run();
}

// listen(0) still admits one pending connection; the next nonblocking connect is told EAGAIN (not
// EINPROGRESS: an AF_UNIX connect never completes later on its own). Accepting makes room again.
TEST_KINDS(Lifecycle, BacklogZeroAdmitsOne, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv", 0);
    int first = a.socket(kind.type | SOCK_NONBLOCK);
    a.connect(first, srv.addr);
    int second = a.socket(kind.type | SOCK_NONBLOCK);
    a.connect(second, srv.addr);
    a.accept(srv.fd);
    a.connect(second, srv.addr);
  });
  sc.run();
}

// A blocking connect to a full backlog waits for room (the watchdog ends the wait).
TEST_KINDS(Lifecycle, BlockingConnectToFullBacklogBlocks, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv", 0);
    Connect(a, srv.addr, kind.type);
    Connect(a, srv.addr, kind.type);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, AcceptTakesConnectionsInOrder, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int first = Connect(a, srv.addr, kind.type);
    a.send(first, "first");
    int second = Connect(a, srv.addr, kind.type);
    a.send(second, "second");
    int c1 = a.accept(srv.fd);
    a.recv(c1, 64);
    int c2 = a.accept(srv.fd);
    a.recv(c2, 64);
  });
  sc.run();
}

// The listener goes away with a connection nobody accepted: the client's connection is reset.
TEST_KINDS(Lifecycle, ListenerClosedWithPendingConnection, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int c = Connect(a, srv.addr, kind.type);
    a.send(c, "hello");
    a.close(srv.fd);
    a.recv(c, 64, MSG_DONTWAIT);
    a.send(c, "again", MSG_NOSIGNAL);
    a.recv(c, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// Writing to a closed peer: EPIPE and SIGPIPE on connections, ECONNREFUSED on datagrams.
TEST_KINDS(Lifecycle, SendAfterPeerClosed, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.catch_signal(SIGPIPE);
    auto [x, y] = a.pair(kind);
    a.close(y);
    a.send(x, "anyone?");
    a.caught(SIGPIPE);
    a.send(x, "anyone?");
    a.caught(SIGPIPE);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, SendAfterPeerClosedNosignal, CoreConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.catch_signal(SIGPIPE);
    auto [x, y] = a.pair(kind);
    a.close(y);
    a.send(x, "anyone?", MSG_NOSIGNAL);
    a.caught(SIGPIPE);
  });
  sc.run();
}

// Nobody handles SIGPIPE: the writer dies of it, as a careless daemon does.
TEST_KINDS(Lifecycle, SigpipeKillsUnpreparedWriter, CoreConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.close(y);
    a.send(x, "anyone?");
    a.record(Obs("still_alive").encode());
  });
  sc.run();
}

// The peer closed after writing: its data, then end of file, again and again.
TEST_KINDS(Lifecycle, ReadAfterPeerClosed, ConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "bye");
    a.close(x);
    a.recv(y, 64);
    a.recv(y, 64);
    a.recv(y, 64);
  });
  sc.run();
}

// The peer closed without reading what we sent it: our next read says ECONNRESET, once.
TEST_KINDS(Lifecycle, PeerClosedWithUnreadData, CoreConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(y, "never read");
    a.close(x);
    a.recv(y, 64, MSG_DONTWAIT);
    a.recv(y, 64, MSG_DONTWAIT);
    a.getsockopt(y, SOL_SOCKET, SO_ERROR);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, ConnectedDatagramPeerClosed, DatagramKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "queued");
    a.close(y);
    a.send(x, "to nobody");
    a.send(x, "to nobody");
    a.getpeername(x);
    a.recv(x, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// SHUT_RD on one end: what the other end's writes do, and what the reader then gets.
TEST_KINDS(Lifecycle, ShutdownReadThenPeerWrites, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "before");
    a.shutdown(y, SHUT_RD);
    a.send(x, "after", MSG_NOSIGNAL);
    a.recv(y, 64, MSG_DONTWAIT);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// SHUT_WR: our own sends fail, the other direction still works.
TEST_KINDS(Lifecycle, ShutdownWriteStopsOwnSends, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.shutdown(x, SHUT_WR);
    a.send(x, "more", MSG_NOSIGNAL);
    a.send(y, "reply", MSG_NOSIGNAL);
    a.recv(x, 64, MSG_DONTWAIT);
    a.shutdown(x, SHUT_WR);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, ShutdownUnconnectedSocket, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.shutdown(s, SHUT_RDWR);
  });
  sc.run();
}

// A datagram socket may connect again, to someone else: only the new peer hears from it.
TEST_KINDS(Lifecycle, DatagramReconnects, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound first = Bind(a, kind, "first");
    Bound second = Bind(a, kind, "second");
    int s = Connect(a, first.addr, SOCK_DGRAM);
    a.connect(s, second.addr);
    a.send(s, "hello");
    a.recv(first.fd, 64, MSG_DONTWAIT);
    a.recv(second.fd, 64, MSG_DONTWAIT);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, DatagramConnectsToItself, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound s = Bind(a, kind, "self");
    a.connect(s.fd, s.addr);
    a.send(s.fd, "echo");
    a.recv(s.fd, 64, MSG_DONTWAIT);
    a.getpeername(s.fd);
  });
  sc.run();
}

// connect(AF_UNSPEC) dissolves a datagram socket's association.
TEST_KINDS(Lifecycle, DatagramDisconnect, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    int s = Connect(a, srv.addr, SOCK_DGRAM);
    a.connect(s, Addr::path("").with_family(AF_UNSPEC));
    a.getpeername(s);
    a.send(s, "where to?");
  });
  sc.run();
}

// sendto() with an address on a connection: EISCONN on a stream, ignored (or not) elsewhere.
TEST_KINDS(Lifecycle, SendtoOnConnectedSocket, CoreConnectionKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    Bound other = Listen(a, kind, "other");
    a.sendto(x, "misdirected", other.addr, MSG_NOSIGNAL);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

TEST_KINDS(Lifecycle, SendtoOnUnconnectedSocket, ConnectionTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Listen(a, Addr::path("srv.sock"), kind.type);
    int s = a.socket(kind.type);
    a.sendto(s, "hello", Addr::path("srv.sock"), MSG_NOSIGNAL);
    a.send(s, "hello", MSG_NOSIGNAL);
  });
  sc.run();
}
