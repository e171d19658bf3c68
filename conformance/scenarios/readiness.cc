// Readiness: what poll(), epoll and SIGIO say about a socket, which event loops (postfix, sshd's
// agent forwarding, every libevent program) trust to decide when to read, write or give up.
// Emulations over TCP report TCP's readiness, and a half-closed or reset connection looks
// different there.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <csignal>

#include "common.h"
#include "scenario.h"

using namespace afunix;

namespace {
constexpr short kAll = POLLIN | POLLOUT | POLLRDHUP | POLLPRI;
}  // namespace

// A new pair can be written, has nothing to read; after a send the other end is readable.
TEST_KINDS(Readiness, FreshPairThenData, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.poll(x, kAll);
    a.poll(y, kAll);
    a.send(x, "ping");
    a.poll(y, kAll);
    a.recv(y, 64);
    a.poll(y, kAll);
  });
  sc.run();
}

// A full buffer is not writable; it becomes writable when the reader makes room.
TEST_KINDS(Readiness, FullBufferNotWritable, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.fill(x);
    a.poll(x, POLLOUT);
    a.drain(y);
    a.poll(x, POLLOUT);
  });
  sc.run();
}

TEST_KINDS(Readiness, PeerClosed, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.close(x);
    a.poll(y, kAll);
  });
  sc.run();
}

TEST_KINDS(Readiness, PeerClosedWithDataUnread, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "last words");
    a.close(x);
    a.poll(y, kAll);
    a.recv(y, 64, MSG_DONTWAIT);
    a.poll(y, kAll);
  });
  sc.run();
}

TEST_KINDS(Readiness, PeerShutdownWrite, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.shutdown(x, SHUT_WR);
    a.poll(y, kAll);
    a.poll(x, kAll);
  });
  sc.run();
}

TEST_KINDS(Readiness, ShutdownBothWays, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.shutdown(y, SHUT_RDWR);
    a.poll(y, kAll);
    a.poll(x, kAll);
  });
  sc.run();
}

TEST_KINDS(Readiness, UnconnectedSocket, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.poll(s, kAll);
    a.bind(s, Addr::path("srv.sock"));
    a.poll(s, kAll);
    if (kind.type != SOCK_DGRAM) {
      a.listen(s, 5);
      a.poll(s, kAll);
    }
  });
  sc.run();
}

// A listener is readable while a connection waits to be accepted.
TEST_KINDS(Readiness, ListenerReadableWhenConnectionPending, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    a.poll(srv.fd, kAll);
    Connect(a, srv.addr, kind.type);
    a.poll(srv.fd, kAll);
    a.accept(srv.fd);
    a.poll(srv.fd, kAll);
  });
  sc.run();
}

// Edge-triggered epoll reports new data once, and again only when more arrives.
TEST_KINDS(Readiness, EpollEdgeTriggered, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int ep = a.epoll_create();
    a.epoll_add(ep, y, EPOLLIN | EPOLLRDHUP | EPOLLET, "y");
    a.epoll_wait(ep);
    a.send(x, "one");
    a.epoll_wait(ep);
    a.epoll_wait(ep);
    a.send(x, "two");
    a.epoll_wait(ep);
    a.close(x);
    a.epoll_wait(ep);
  });
  sc.run();
}

TEST_KINDS(Readiness, EpollLevelTriggeredWritable, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int ep = a.epoll_create();
    a.epoll_add(ep, x, EPOLLOUT, "x");
    a.epoll_add(ep, y, EPOLLIN, "y");
    a.epoll_wait(ep);
    a.send(x, "data");
    a.epoll_wait(ep);
    a.epoll_wait(ep);
  });
  sc.run();
}

TEST_KINDS(Readiness, EpollOnListener, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int ep = a.epoll_create();
    a.epoll_add(ep, srv.fd, EPOLLIN | EPOLLET, "listener");
    a.epoll_wait(ep);
    Connect(a, srv.addr, kind.type);
    a.epoll_wait(ep);
    a.epoll_wait(ep);
    a.accept(srv.fd);
    a.epoll_wait(ep);
  });
  sc.run();
}

// O_ASYNC: SIGIO to the owner when data arrives (and when the peer goes away).
TEST_KINDS(Readiness, SigioOnArrival, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.catch_signal(SIGIO);
    auto [x, y] = a.pair(kind);
    a.set_async(y);
    a.caught(SIGIO);
    a.send(x, "wake up");
    a.caught(SIGIO);
    a.close(x);
    a.caught(SIGIO);
  });
  sc.run();
}

// Across processes: a blocked reader is woken by the writer's data, then by its close.
TEST_KINDS(Readiness, ReaderWokenByAnotherProcess, CoreKinds()) {
  Scenario sc;
  Event& forked = sc.event("forked");
  Event& read = sc.event("read");
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    Child writer = a.fork("writer", [&, x = x, y = y](Actor& w) {
      w.close(y);
      forked.wait();
      w.send(x, "hello");
      read.wait();
      w.close(x);
    });
    a.close(x);
    forked.post();
    a.poll(y, POLLIN, Wait::UntilReady);
    a.recv(y, 64);
    read.post();
    a.join(writer);
    a.poll(y, kAll);
  });
  sc.run();
}
