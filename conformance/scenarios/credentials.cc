// Credentials in messages: SCM_CREDENTIALS, which the receiver asks for with SO_PASSCRED and the
// kernel fills in (or checks, when the sender states them), and SCM_PIDFD. Emulations that carry
// AF_UNIX over TCP must send credentials themselves, so a peer may claim anything: forged
// credentials must be refused unless the sender is privileged.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "linux_compat.h"
#include "scenario.h"

using namespace afunix;

TEST_KINDS(Credentials, NoCredentialsWithoutPasscred, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "plain");
    a.recvmsg(y, Recv(64).room(Room::plenty()));
  });
  sc.run();
}

// With SO_PASSCRED on the receiver every message carries the sender's pid, uid and gid.
TEST_KINDS(Credentials, PasscredGivesEveryMessageCredentials, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.send(x, "one");
    a.send(x, "two");
    a.recvmsg(y, Recv(3).room(Room::creds()));
    a.recvmsg(y, Recv(3).room(Room::creds()));
  });
  sc.run();
}

// Data queued before the receiver asked: what credentials does it carry? (kernel-dependent)
TEST_KINDS(Credentials, QueuedBeforePasscred, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "early");
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.send(x, "late");
    a.recvmsg(y, Recv(5).room(Room::creds()));
    a.recvmsg(y, Recv(5).room(Room::creds()));
  });
  sc.run();
}

// SO_PASSCRED on the sender attaches credentials the receiver sees once it asks.
TEST_KINDS(Credentials, PasscredOnSenderOnly, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(x, SOL_SOCKET, SO_PASSCRED, 1);
    a.send(x, "one");
    a.send(x, "two");
    a.recvmsg(y, Recv(3).room(Room::creds()));
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.recvmsg(y, Recv(3).room(Room::creds()));
  });
  sc.run();
}

// Stating one's own credentials is always allowed.
TEST_KINDS(Credentials, ExplicitOwnCredentials, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.sendmsg(x, Msg("mine").own_creds());
    a.recvmsg(y, Recv(64).room(Room::creds()));
  });
  sc.run();
}

// An unprivileged sender may not claim another uid, gid or pid: EPERM, and nothing is sent.
TEST_KINDS(Credentials, StrangerCannotForge, CoreKinds()) {
  Scenario sc;
  Event& done = sc.event("done");
  sc.actor("bystander", ServiceOwner(), [&](Actor&) { done.wait(); });
  sc.actor("forger", Stranger(), [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    const Identity& me = Stranger();
    const Identity& svc = ServiceOwner();
    a.sendmsg(x, Msg("uid").creds({getpid(), svc.uid, me.gid}));
    a.sendmsg(x, Msg("gid").creds({getpid(), me.uid, svc.gid}));
    a.sendmsg(x, Msg("pid").creds({a.pid_of("bystander"), me.uid, me.gid}));
    a.sendmsg(x, Msg("own").creds({getpid(), me.uid, me.gid}));
    a.recvmsg(y, Recv(64).room(Room::creds()).flags(MSG_DONTWAIT));
    a.recvmsg(y, Recv(64).room(Room::creds()).flags(MSG_DONTWAIT));
    done.post();
  });
  sc.run();
}

// The suite's runner is root natively: root may state any uid, gid and live pid.
TEST_KINDS(Credentials, RootMayForge, CoreKinds()) {
  Scenario sc;
  Event& done = sc.event("done");
  sc.actor("bystander", ServiceOwner(), [&](Actor&) { done.wait(); });
  sc.actor("forger", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    const Identity& svc = ServiceOwner();
    a.sendmsg(x, Msg("as svc").creds({a.pid_of("bystander"), svc.uid, svc.gid}));
    a.recvmsg(y, Recv(64).room(Room::creds()).flags(MSG_DONTWAIT));
    a.sendmsg(x, Msg("dead pid").creds({a.reaped_pid(), svc.uid, svc.gid}));
    a.recvmsg(y, Recv(64).room(Room::creds()).flags(MSG_DONTWAIT));
    done.post();
  });
  sc.run();
}

// Too little room for the credentials: MSG_CTRUNC, and only what fits is written.
TEST_KINDS(Credentials, TruncatedCredentials, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.send(x, "a");
    a.send(x, "b");
    a.send(x, "c");
    a.send(x, "d");
    a.recvmsg(y, Recv(1).room(Room::creds_exact()));
    a.recvmsg(y, Recv(1).room(Room::creds_exact().minus(1)));
    a.recvmsg(y, Recv(1).room(Room::header()));
    a.recvmsg(y, Recv(1).room(Room::header().minus(1)));
  });
  sc.run();
}

// An accepted socket inherits SO_PASSCRED from its listener.
TEST_KINDS(Credentials, AcceptedSocketInheritsPasscred, ListenerKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    a.setsockopt(srv.fd, SOL_SOCKET, SO_PASSCRED, 1);
    a.listen(srv.fd, 5);
    int c = Connect(a, srv.addr, kind.type);
    int s = a.accept(srv.fd);
    a.getsockopt(s, SOL_SOCKET, SO_PASSCRED);
    a.getsockopt(c, SOL_SOCKET, SO_PASSCRED);
    a.send(c, "hello");
    a.recvmsg(s, Recv(64).room(Room::creds()));
  });
  sc.run();
}

// A stream read does not merge bytes sent with different credentials (here: parent and child).
TEST_KINDS(Credentials, StreamKeepsDifferentSendersApart, StreamKinds()) {
  Scenario sc;
  sc.actor("parent", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.send(x, "parent1");
    a.send(x, "parent2");
    Child child = a.fork("child", [&, x = x](Actor& c) { c.send(x, "child"); });
    a.join(child);
    a.send(x, "parent3");
    a.recvmsg(y, Recv(64).room(Room::creds()));
    a.recvmsg(y, Recv(64).room(Room::creds()));
    a.recvmsg(y, Recv(64).room(Room::creds()));
  });
  sc.run();
}

// SO_PASSPIDFD (Linux 6.5+): an SCM_PIDFD naming the sender's process.
TEST_KINDS(Credentials, PidfdOfSender, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PASSPIDFD, 1);
    a.send(x, "who");
    a.recvmsg(y, Recv(64).room(Room::plenty()));
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.send(x, "both");
    a.recvmsg(y, Recv(64).room(Room::plenty()));
  });
  sc.run();
}

// Across identities: the server learns who sent each message from the kernel, not the client.
TEST_KINDS(Credentials, ServerLearnsClientIdentity, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM},
                                                            {Naming::Pathname, Naming::Abstract})) {
  Scenario sc;
  Event& ready = sc.event("ready");
  Event& sent = sc.event("sent");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    ChmodSocketFile(a, kind, "srv", 0666);
    a.setsockopt(srv.fd, SOL_SOCKET, SO_PASSCRED, 1);
    if (kind.connection_oriented()) a.listen(srv.fd, 5);
    ready.post();
    sent.wait();
    int s = kind.connection_oriented() ? a.accept(srv.fd) : srv.fd;
    a.recvmsg(s, Recv(64).room(Room::creds()).flags(MSG_DONTWAIT));
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    ready.wait();
    int c = Connect(a, Addr::named(kind.naming, "srv"), kind.type);
    a.send(c, "who am I?");
    sent.post();
  });
  sc.run();
}
