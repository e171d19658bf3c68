// Socket options: what getsockopt() reports, what setsockopt() accepts, and what is read back.
// Emulations answer from the transport they really use (a TCP socket reports SOCK_STREAM and
// AF_INET), or from a table of their own.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "common.h"
#include "linux_compat.h"
#include "scenario.h"

using namespace afunix;

// Both ends of every kind say what they are.
TEST_KINDS(Options, TypeDomainProtocol, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    for (int fd : {x, y}) {
      a.getsockopt(fd, SOL_SOCKET, SO_TYPE);
      a.getsockopt(fd, SOL_SOCKET, SO_DOMAIN);
      a.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL);
    }
  });
  sc.run();
}

// SOCK_RAW is accepted and becomes SOCK_DGRAM.
TEST(Options, SockRawIsDatagram) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(SOCK_RAW);
    a.getsockopt(s, SOL_SOCKET, SO_TYPE);
    a.bind(s, Addr::path("raw.sock"));
    int t = Connect(a, Addr::path("raw.sock"), SOCK_DGRAM);
    a.send(t, "datagram");
    a.recv(s, 64, MSG_DONTWAIT);
    auto [p, q] = a.socketpair(SOCK_RAW);
    a.getsockopt(p, SOL_SOCKET, SO_TYPE);
  });
  sc.run();
}

// SO_ACCEPTCONN is 1 on a listener only.
TEST_KINDS(Options, AcceptconnOnListenersOnly, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.getsockopt(x, SOL_SOCKET, SO_ACCEPTCONN);
    a.getsockopt(y, SOL_SOCKET, SO_ACCEPTCONN);
    Bound l = Bind(a, kind, "listener");
    a.getsockopt(l.fd, SOL_SOCKET, SO_ACCEPTCONN);
    if (kind.connection_oriented()) {
      a.listen(l.fd, 5);
      a.getsockopt(l.fd, SOL_SOCKET, SO_ACCEPTCONN);
    }
  });
  sc.run();
}

// Timeouts: a microsecond field of a second or more is EDOM; what is set is read back.
TEST_KINDS(Options, TimeoutLimits, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.getsockopt(s, SOL_SOCKET, SO_RCVTIMEO);
    a.setsockopt_timeval(s, SO_RCVTIMEO, 0, 1000000);
    a.setsockopt_timeval(s, SO_RCVTIMEO, 0, -1);
    a.setsockopt_timeval(s, SO_RCVTIMEO, 1, 500000);
    a.getsockopt(s, SOL_SOCKET, SO_RCVTIMEO);
    a.setsockopt_timeval(s, SO_SNDTIMEO, 2, 1000000);
    a.setsockopt_timeval(s, SO_SNDTIMEO, 0, 500000);
    a.getsockopt(s, SOL_SOCKET, SO_SNDTIMEO);
    a.setsockopt_timeval(s, SO_SNDTIMEO, -1, 0);
    a.getsockopt(s, SOL_SOCKET, SO_SNDTIMEO);
  });
  sc.run();
}

// A blocking recv with SO_RCVTIMEO gives up with EAGAIN.
TEST_KINDS(Options, ReceiveTimeoutExpires, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt_timeval(y, SO_RCVTIMEO, 0, 20000);
    a.recv(y, 64);
  });
  sc.run();
}

// Levels AF_UNIX does not have, and options SOL_SOCKET does not know.
TEST_KINDS(Options, BadLevelAndUnknownOption, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.setsockopt(s, IPPROTO_TCP, 1, 1);
    a.getsockopt(s, IPPROTO_TCP, 1);
    a.setsockopt(s, SOL_IP, IP_TTL, 1);
    a.getsockopt(s, 12345, 1);
    a.setsockopt(s, SOL_SOCKET, 9999, 1);
    a.getsockopt(s, SOL_SOCKET, 9999);
  });
  sc.run();
}

// SO_ERROR holds ECONNRESET once the listener went away with our connection; reading clears it.
TEST_KINDS(Options, SoErrorAfterListenerClosed, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int c = Connect(a, srv.addr, kind.type);
    a.getsockopt(c, SOL_SOCKET, SO_ERROR);
    a.close(srv.fd);
    a.getsockopt(c, SOL_SOCKET, SO_ERROR);
    a.getsockopt(c, SOL_SOCKET, SO_ERROR);
  });
  sc.run();
}

// Buffer sizes are doubled when set (for the kernel's bookkeeping), and have a floor.
TEST_KINDS(Options, BufferSizesReadBackDoubled, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.setsockopt(s, SOL_SOCKET, SO_SNDBUF, 16384);
    a.getsockopt(s, SOL_SOCKET, SO_SNDBUF);
    a.setsockopt(s, SOL_SOCKET, SO_RCVBUF, 16384);
    a.getsockopt(s, SOL_SOCKET, SO_RCVBUF);
    // The floors (SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF) are built from the kernel's sk_buff size:
    // compared with a bound every kernel exceeds, not recorded.
    a.setsockopt(s, SOL_SOCKET, SO_SNDBUF, 1);
    a.getsockopt_at_least(s, SOL_SOCKET, SO_SNDBUF, 2048);
    a.setsockopt(s, SOL_SOCKET, SO_RCVBUF, 1);
    a.getsockopt_at_least(s, SOL_SOCKET, SO_RCVBUF, 1024);
  });
  sc.run();
}

// Boolean options: default, set, read back, cleared.
TEST_KINDS(Options, FlagsReadBack, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    for (int option : {SO_PASSCRED, SO_PASSSEC, SO_PASSPIDFD, SO_KEEPALIVE, SO_REUSEADDR, SO_BROADCAST}) {
      a.getsockopt(s, SOL_SOCKET, option);
      a.setsockopt(s, SOL_SOCKET, option, 1);
      a.getsockopt(s, SOL_SOCKET, option);
      a.setsockopt(s, SOL_SOCKET, option, 0);
      a.getsockopt(s, SOL_SOCKET, option);
    }
  });
  sc.run();
}

TEST_KINDS(Options, LingerAndPriorityReadBack, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.getsockopt(s, SOL_SOCKET, SO_LINGER);
    a.setsockopt_linger(s, 1, 5);
    a.getsockopt(s, SOL_SOCKET, SO_LINGER);
    a.getsockopt(s, SOL_SOCKET, SO_PRIORITY);
    a.setsockopt(s, SOL_SOCKET, SO_PRIORITY, 3);
    a.getsockopt(s, SOL_SOCKET, SO_PRIORITY);
    a.getsockopt(s, SOL_SOCKET, SO_RCVLOWAT);
    a.setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, 4);
    a.getsockopt(s, SOL_SOCKET, SO_RCVLOWAT);
    a.setsockopt(s, SOL_SOCKET, SO_SNDLOWAT, 4);
  });
  sc.run();
}

// An int option read into a short buffer: only optlen bytes are written, and optlen says so.
TEST_KINDS(Options, ShortOptionBuffer, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.getsockopt(s, SOL_SOCKET, SO_TYPE, 2);
    a.getsockopt(s, SOL_SOCKET, SO_TYPE, 0);
    a.getsockopt(s, SOL_SOCKET, SO_TYPE, 8);
    a.getsockopt(s, SOL_SOCKET, SO_RCVBUF, 1);
  });
  sc.run();
}

// An option value shorter than the option needs is refused.
TEST_KINDS(Options, ShortOptionValue, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.setsockopt_bytes(s, SOL_SOCKET, SO_PASSCRED, std::string(2, '\1'), "2 bytes");
    a.setsockopt_bytes(s, SOL_SOCKET, SO_RCVTIMEO, std::string(4, '\0'), "4 bytes");
    a.setsockopt_bytes(s, SOL_SOCKET, SO_LINGER, std::string(2, '\0'), "2 bytes");
    a.getsockopt(s, SOL_SOCKET, SO_PASSCRED);
  });
  sc.run();
}

// SO_PEERNAME: the peer's address as an option. The kernel refuses an optlen longer than the
// address (EINVAL), so a program must ask for exactly its length: "y.sock" is 2 + 6 + 1 bytes.
TEST_KINDS(Options, PeernameOption, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, {Naming::Pathname})) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.getsockopt(x, SOL_SOCKET, SO_PEERNAME);
    a.getsockopt(x, SOL_SOCKET, SO_PEERNAME, 9);
    a.getsockopt(x, SOL_SOCKET, SO_PEERNAME, 4);
    a.getsockopt(y, SOL_SOCKET, SO_PEERNAME, sizeof(sa_family_t));
    int s = a.socket(kind.type);
    a.getsockopt(s, SOL_SOCKET, SO_PEERNAME);
  });
  sc.run();
}

// SO_PEEK_OFF: unset (-1) by default; a negative value turns it off again.
TEST_KINDS(Options, PeekOffsetDefault, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.getsockopt(s, SOL_SOCKET, SO_PEEK_OFF);
    a.setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, 5);
    a.getsockopt(s, SOL_SOCKET, SO_PEEK_OFF);
    a.setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, -1);
    a.getsockopt(s, SOL_SOCKET, SO_PEEK_OFF);
  });
  sc.run();
}
