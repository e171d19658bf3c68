// SO_PEERCRED: who each end of a connection says the other is. The kernel records the client's
// credentials at connect() and the server's at listen(); emulations that exchange credentials over
// the wire report whatever the peer claims, or nothing at all.
//
// Servers wait for a pending connection with poll() before accept(), as event-loop servers do:
// accept() then never races the client on Linux, and an emulation whose connect() waits for the
// server (Cygwin's 2014 handshake) still gets its accept.
#include <gtest/gtest.h>
#include <poll.h>

#include "common.h"
#include "linux_compat.h"
#include "scenario.h"

using namespace afunix;

TEST(Peercred, ServerSeesClientCredsAfterAccept) {
  Scenario sc;
  ConnectedAcross(sc, ServiceOwner(), Stranger(), LooksLast::Server,
                  [](Actor& a, int c) { a.peercred(c); }, LookAtNothing);
  sc.run();
}

TEST(Peercred, ClientSeesListenerCreds) {
  Scenario sc;
  ConnectedAcross(sc, ServiceOwner(), Stranger(), LooksLast::Client,
                  LookAtNothing, [](Actor& a, int s) { a.peercred(s); });
  sc.run();
}

// Linux knows the listener's creds at connect(); in Christian Franke's first proposal (seed thread)
// the client learns them only from the server's first packet, which comes after accept().
TEST(Peercred, ClientSeesListenerCredsBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& checked = sc.event("checked");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = ListenWithMode(a, "srv.sock", 0666);
    rv.ready();
    checked.wait();
    a.accept(s);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.peercred(s);
    checked.post();
  });
  sc.run();
}

TEST(Peercred, SameUserBothDirections) {
  Scenario sc;
  ConnectedAcross(sc, Runner(), Runner(), LooksLast::Client,
                  [](Actor& a, int c) { a.peercred(c); }, [](Actor& a, int s) { a.peercred(s); },
                  [](Actor& a) { return Listen(a, Addr::path("srv.sock")); });
  sc.run();
}

TEST(Peercred, SocketpairSeesCreator) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.socketpair(SOCK_STREAM);
    a.peercred(x);
    a.peercred(y);
  });
  sc.run();
}

// Cygwin answers SO_PEERCRED only for SOCK_STREAM (EINVAL otherwise); Linux sets creds on any pair.
TEST(Peercred, DatagramSocketpairSeesCreator) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.socketpair(SOCK_DGRAM);
    a.peercred(x);
    a.peercred(y);
  });
  sc.run();
}

// Cygwin reports ENOTCONN for anything not connected; Linux answers with "nobody".
TEST(Peercred, UnconnectedSocket) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.peercred(s);
  });
  sc.run();
}

TEST(Peercred, BoundSocketBeforeListen) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.peercred(s);
  });
  sc.run();
}

// listen() stores the listener's own creds, which its clients will be given.
TEST(Peercred, ListenerAfterListen) {
  Scenario sc;
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    a.peercred(s);
  });
  sc.run();
}

TEST(Peercred, DatagramConnectGivesNoCreds) {
  Scenario sc;
  Event& bound = sc.event("bound");
  Event& checked = sc.event("checked");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = a.socket(SOCK_DGRAM);
    a.bind(s, Addr::path("srv.sock"));
    a.chmod("srv.sock", 0666);
    bound.post();
    checked.wait();
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    bound.wait();
    int s = Connect(a, Addr::path("srv.sock"), SOCK_DGRAM);
    a.peercred(s);
    checked.post();
  });
  sc.run();
}

// The creds are a snapshot taken at connect(), not a live view of a process that may be gone.
TEST(Peercred, ServerSeesClientCredsAfterClientExit) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& client_gone = sc.ended("client");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = ListenWithMode(a, "srv.sock", 0666);
    rv.ready();
    int c = AcceptWhenReady(a, s);
    client_gone.wait();
    a.peercred(c);
    a.recv(c, 16);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    rv.connect(a, Addr::path("srv.sock"));
  });
  sc.run();
}

TEST(Peercred, ClientSeesListenerCredsAfterServerExit) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& server_gone = sc.ended("server");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = ListenWithMode(a, "srv.sock", 0666);
    rv.ready();
    AcceptWhenReady(a, s);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    server_gone.wait();
    a.peercred(s);
    a.recv(s, 16);
  });
  sc.run();
}

// A daemon that drops privileges after listen(): clients still see who listened. Cygwin captures
// the creds at listen() too, but sends them only when a client arrives.
TEST(Peercred, ClientSeesCredsAsOfListenAfterServerSetuid) {
  Scenario sc;
  sc.uses(Stranger());
  ConnectedAcross(sc, Runner(), GroupMember(), LooksLast::Client,
                  [](Actor& a, int c) { a.peercred(c); }, [](Actor& a, int s) { a.peercred(s); },
                  [](Actor& a) {
                    int s = ListenOpenToAll(a);
                    a.become(Stranger());
                    return s;
                  });
  sc.run();
}

// Dropping privileges between bind() and listen(): the creds are those of listen(), not bind().
TEST(Peercred, CredsTakenAtListenNotBind) {
  Scenario sc;
  sc.uses(Stranger());
  ConnectedAcross(sc, Runner(), GroupMember(), LooksLast::Client,
                  LookAtNothing, [](Actor& a, int s) { a.peercred(s); },
                  [](Actor& a) {
                    int s = a.socket(SOCK_STREAM);
                    a.bind(s, Addr::path("srv.sock"));
                    a.chmod("srv.sock", 0666);
                    a.become(Stranger());
                    a.listen(s, 5);
                    return s;
                  });
  sc.run();
}

// The client drops privileges after connect(): the server still sees who connected.
TEST(Peercred, ServerSeesCredsAsOfConnectAfterClientSetuid) {
  Scenario sc;
  sc.uses(Stranger());
  Event& dropped = sc.event("dropped");
  ConnectedAcross(sc, ServiceOwner(), Runner(), LooksLast::Server,
                  [&](Actor& a, int c) {
                    dropped.wait();
                    a.peercred(c);
                  },
                  [&](Actor& a, int) {
                    a.become(Stranger());
                    dropped.post();
                  });
  sc.run();
}

// ---- over socket kinds ------------------------------------------------------------------------

// Both ends of every kind of pair: the creator, or the connecting and listening processes, or
// nobody for datagrams (they have no connection to carry credentials).
TEST_KINDS(Peercred, BothEndsOfAPair, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.peercred(x);
    a.peercred(y);
  });
  sc.run();
}

// optlen shorter than struct ucred (12 bytes on every ABI): only optlen bytes are written.
TEST_KINDS(Peercred, ShortOptlen, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.getsockopt(x, SOL_SOCKET, SO_PEERCRED, 4);
    a.getsockopt(x, SOL_SOCKET, SO_PEERCRED, 10);
    a.getsockopt(x, SOL_SOCKET, SO_PEERCRED, 0);
    a.getsockopt(x, SOL_SOCKET, SO_PEERCRED, 16);
  });
  sc.run();
}

// SO_PEERPIDFD (Linux 6.5+): a pidfd for the peer process.
TEST_KINDS(Peercred, PeerPidfd, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.getsockopt(x, SOL_SOCKET, SO_PEERPIDFD);
    a.getsockopt(y, SOL_SOCKET, SO_PEERPIDFD);
  });
  sc.run();
}

// SO_PEERSEC depends on the LSM: without one there is no label.
TEST_KINDS(Peercred, PeerSecurityLabel, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, {Naming::Socketpair})) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.getsockopt(x, SOL_SOCKET, SO_PEERSEC);
  });
  sc.run();
}

// SO_PEERGROUPS: the peer's supplementary groups as of connect/listen; ERANGE says how many.
TEST(Peercred, PeerGroups) {
  Scenario sc;
  ConnectedAcross(sc, ServiceOwner(), GroupMember(), LooksLast::Client,
                  [](Actor& a, int c) {
                    a.getsockopt(c, SOL_SOCKET, SO_PEERGROUPS);
                    a.getsockopt(c, SOL_SOCKET, SO_PEERGROUPS, 0);
                  },
                  [](Actor& a, int s) { a.getsockopt(s, SOL_SOCKET, SO_PEERGROUPS); });
  sc.run();
}
