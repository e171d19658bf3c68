// Names: what bind() and connect() make of a path or an abstract name, and which errno says what
// went wrong. Cygwin's emulation keeps a TCP port in a regular file, so "not a socket", "nobody
// listening" and "wrong type" come out of different places there (EBADF for a non-socket file,
// where Linux says ECONNREFUSED); path translators (proot, fakechroot) rewrite the names.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>

#include "common.h"
#include "observation.h"
#include "scenario.h"

using namespace afunix;

namespace {

// A server holds srv.sock bound, with a socket of `server_type` that never listens, until a
// stream client has tried to connect to it ("bound", then "done").
void ConnectWhileBound(Scenario& sc, int server_type) {
  Event& bound = sc.event("bound");
  Event& done = sc.event("done");
  sc.actor("server", [=, &bound, &done](Actor& a) {
    Bind(a, server_type, Naming::Pathname, "srv");
    bound.post();
    done.wait();
  });
  sc.actor("client", [&bound, &done](Actor& a) {
    bound.wait();
    Connect(a, Addr::path("srv.sock"));
    done.post();
  });
}

}  // namespace

TEST(Addressing, ConnectMissingPath) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    Connect(a, Addr::path("missing.sock"));
  });
  sc.run();
}

TEST(Addressing, ConnectMissingAbstractName) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    Connect(a, Addr::abstract("missing"));
  });
  sc.run();
}

// The server died and left its socket file behind: the name exists, nobody listens.
TEST(Addressing, ConnectStaleSocketFile) {
  Scenario sc;
  Event& server_gone = sc.ended("server");
  sc.actor("server", [&](Actor& a) {
    Listen(a, Addr::path("srv.sock"));
  });
  sc.actor("client", [&](Actor& a) {
    server_gone.wait();
    a.stat("srv.sock");
    Connect(a, Addr::path("srv.sock"));
  });
  sc.run();
}

TEST(Addressing, ConnectBoundNotListening) {
  Scenario sc;
  ConnectWhileBound(sc, SOCK_STREAM);
  sc.run();
}

TEST(Addressing, ConnectRegularFile) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    a.create_file("file.sock", 0666);
    Connect(a, Addr::path("file.sock"));
  });
  sc.run();
}

TEST(Addressing, ConnectDirectory) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    a.mkdir("dir.sock", 0755);
    Connect(a, Addr::path("dir.sock"));
  });
  sc.run();
}

// The Cygwin socket file records 's' or 'd'; Linux compares the socket types.
TEST(Addressing, ConnectDatagramToStreamListener) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    rv.listen(a, Addr::path("srv.sock"));
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    rv.connect(a, Addr::path("srv.sock"), SOCK_DGRAM);
    done.post();
  });
  sc.run();
}

TEST(Addressing, ConnectStreamToDatagramSocket) {
  Scenario sc;
  ConnectWhileBound(sc, SOCK_DGRAM);
  sc.run();
}

TEST(Addressing, BindExistingPath) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    Listen(a, Addr::path("srv.sock"));
    int second = a.socket(SOCK_STREAM);
    a.bind(second, Addr::path("srv.sock"));
  });
  sc.run();
}

// Daemons unlink() before bind() because a dead predecessor's file still holds the name.
TEST(Addressing, BindOverStaleSocketFileNeedsUnlink) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int old = a.socket(SOCK_STREAM);
    a.bind(old, Addr::path("srv.sock"));
    a.close(old);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.unlink("srv.sock");
    a.bind(s, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
  sc.run();
}

TEST(Addressing, BindOverRegularFile) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    a.create_file("srv.sock", 0644);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
  sc.run();
}

// A socket has one name: binding it again fails and creates no second file.
TEST(Addressing, RebindFailsAndLeavesNoFile) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("first.sock"));
    a.bind(s, Addr::path("second.sock"));
    a.stat("second.sock");
    a.getsockname(s);
  });
  sc.run();
}

TEST(Addressing, BindInMissingDirectory) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("missing/srv.sock"));
    a.stat("missing");
  });
  sc.run();
}

TEST(Addressing, GetsocknameUnbound) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.getsockname(s);
  });
  sc.run();
}

TEST(Addressing, GetsocknameAfterBind) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.getsockname(s);
    a.stat("srv.sock");
  });
  sc.run();
}

TEST(Addressing, GetpeernameUnconnected) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    a.getpeername(s);
  });
  sc.run();
}

// Both ends name the listener's path; the client side, never bound, is unnamed.
TEST(Addressing, ClientPeernameIsListenerAddress) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& checked = sc.event("checked");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    int c = AcceptWhenReady(a, s);
    a.getsockname(c);
    a.getpeername(c);
    checked.wait();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.getpeername(s);
    a.getsockname(s);
    checked.post();
  });
  sc.run();
}

TEST(Addressing, AbstractNameRoundTrip) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& checked = sc.event("checked");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::abstract("svc"));
    a.getsockname(s);
    a.listen(s, 5);
    rv.ready();
    AcceptWhenReady(a, s);
    checked.wait();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::abstract("svc"));
    a.getpeername(s);
    checked.post();
  });
  sc.run();
}

TEST(Addressing, SecondConnectIsConnected) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    AcceptWhenReady(a, s);
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.connect(s, Addr::path("srv.sock"));
    done.post();
  });
  sc.run();
}

// ---- over socket types and namings -----------------------------------------------------------
// The edges unix(7) documents: addrlen limits, a 108-byte path with no room for its NUL, bytes
// after the NUL, abstract names whose every byte counts, autobind, and buffers too small for the
// address a call returns (the kernel truncates and reports the full length).

namespace {

// Listen at addr, then Connect a second socket to `connect_to`.
void BindAndConnect(Actor& a, int type, const Addr& addr, const Addr& connect_to) {
  Listen(a, addr, type);
  Connect(a, connect_to, type);
}

void CompareNames(Actor& a, const Addr& first, const Addr& second) {
  bool same = first.len() == second.len() && std::memcmp(first.sa(), second.sa(), first.len()) == 0;
  a.record(Obs("compare_names").flag("same", same).encode());
}

// A pathname of exactly sizeof(sun_path) bytes: no room for a terminating NUL.
const std::string k108BytePath = std::string(103, 'p') + ".sock";

}  // namespace

// addrlen may be at most sizeof(struct sockaddr_un) (110 on every ABI); the length bind() got does
// not change the length getsockname() reports.
TEST_KINDS(Addressing, BindAddrlenLimits, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::raw("full.sock", sizeof(sockaddr_un), "full.sock (addrlen 110)"));
    a.getsockname(s);
    int t = a.socket(kind.type);
    a.bind(t, Addr::raw("over.sock", sizeof(sockaddr_un) + 1, "over.sock (addrlen 111)"));
    a.stat("over.sock");
  });
  sc.run();
}

// unix(7) BUGS: a path filling all 108 bytes of sun_path binds, and getsockname() then reports 111,
// one more than the structure (the kernel counts a NUL that is not there).
TEST_KINDS(Addressing, Bind108BytePath, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Addr full = Addr::raw(k108BytePath, sizeof(sockaddr_un), "<108-byte path>");
    int s = a.socket(kind.type);
    a.bind(s, full);
    a.getsockname(s);
    a.getsockname(s, sizeof(sockaddr_un));
    a.stat(k108BytePath);
    if (kind.type != SOCK_DGRAM) a.listen(s, 5);
    int c = a.socket(kind.type);
    a.connect(c, full);
    a.getpeername(c);
  });
  sc.run();
}

TEST_KINDS(Addressing, WrongAddressFamily, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::path("srv.sock").with_family(AF_INET));
    a.stat("srv.sock");
    a.bind(s, Addr::path("srv.sock"));
    if (kind.type != SOCK_DGRAM) a.listen(s, 5);
    Connect(a, Addr::path("srv.sock").with_family(AF_INET), kind.type);
  });
  sc.run();
}

// A pathname ends at its first NUL, whatever addrlen says.
TEST_KINDS(Addressing, BytesAfterNulIgnored, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    std::string bytes = std::string("srv.sock") + '\0' + "junk";
    Addr padded = Addr::raw(bytes, offsetof(sockaddr_un, sun_path) + bytes.size(), "srv.sock\\x00junk");
    BindAndConnect(a, kind.type, padded, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
  sc.run();
}

TEST_KINDS(Addressing, GetsocknameLengthIgnoresBindLength, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::raw("srv.sock", sizeof(sockaddr_un), "srv.sock (addrlen 110)"));
    a.getsockname(s);
    int t = a.socket(kind.type);
    a.bind(t, Addr::raw("two.sock", offsetof(sockaddr_un, sun_path) + 8, "two.sock (no NUL)"));
    a.getsockname(t);
  });
  sc.run();
}

// Every byte of an abstract name counts, a trailing NUL too.
TEST_KINDS(Addressing, AbstractTrailingNulIsSignificant, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    BindAndConnect(a, kind.type, Addr::abstract("svc"), Addr::abstract(std::string("svc") + '\0'));
    Connect(a, Addr::abstract("svc"), kind.type);
  });
  sc.run();
}

TEST_KINDS(Addressing, AbstractEmbeddedNul, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    std::string name = std::string("a") + '\0' + "b";
    BindAndConnect(a, kind.type, Addr::abstract(name), Addr::abstract("a"));
    int c = Connect(a, Addr::abstract(name), kind.type);
    a.getpeername(c);
  });
  sc.run();
}

// An abstract name may fill sun_path (1 NUL + 107 bytes); one byte more is an addrlen of 111.
// (Traces report lengths as if the name had no run tag: 110 shows as 110 minus the tag.)
TEST_KINDS(Addressing, AbstractNameOfMaximumLength, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::abstract_of_size(sizeof(sockaddr_un::sun_path)));
    a.getsockname(s);
    int t = a.socket(kind.type);
    a.bind(t, Addr::abstract_of_size(sizeof(sockaddr_un::sun_path) + 1));
  });
  sc.run();
}

// bind() with addrlen sizeof(sa_family_t): the kernel picks "\0" + five hex digits, unique.
TEST_KINDS(Addressing, AutobindNames, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::autobind());
    Addr first = a.getsockname(s);
    int t = a.socket(kind.type);
    a.bind(t, Addr::autobind());
    Addr second = a.getsockname(t);
    CompareNames(a, first, second);
    a.bind(s, Addr::autobind());
    a.bind(s, Addr::path("later.sock"));
  });
  sc.run();
}

TEST_KINDS(Addressing, AutoboundNameIsTaken, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::autobind());
    Addr name = a.getsockname(s);
    int t = a.socket(kind.type);
    a.bind(t, name);
  });
  sc.run();
}

// An unbound socket with SO_PASSCRED gets an autobind name when it connects or sends; one without
// stays unnamed.
TEST_KINDS(Addressing, PasscredAutobindsOnConnect, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM},
                                                           BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int plain = Connect(a, srv.addr, kind.type);
    a.getsockname(plain);
    int passcred = a.socket(kind.type);
    a.setsockopt(passcred, SOL_SOCKET, SO_PASSCRED, 1);
    a.connect(passcred, srv.addr);
    a.getsockname(passcred);
  });
  sc.run();
}

TEST_KINDS(Addressing, PasscredAutobindsOnSendto, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    int s = a.socket(SOCK_DGRAM);
    a.setsockopt(s, SOL_SOCKET, SO_PASSCRED, 1);
    a.sendto(s, "hi", srv.addr);
    a.getsockname(s);
    a.recvfrom(srv.fd, 64, sizeof(sockaddr_un), MSG_DONTWAIT);
  });
  sc.run();
}

// Closing the last socket frees an abstract name; a pathname stays taken until it is unlinked.
TEST_KINDS(Addressing, CloseFreesAbstractNameNotPath, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::abstract("svc"));
    a.close(s);
    int t = a.socket(kind.type);
    a.bind(t, Addr::abstract("svc"));
    int p = a.socket(kind.type);
    a.bind(p, Addr::path("srv.sock"));
    a.close(p);
    int q = a.socket(kind.type);
    a.bind(q, Addr::path("srv.sock"));
    a.unlink("srv.sock");
    a.bind(q, Addr::path("srv.sock"));
  });
  sc.run();
}

// recvfrom()/recvmsg() name the sender: its bound name, or nothing (addrlen 0) when unbound. An
// accepted socket's name is its listener's.
TEST_KINDS(Addressing, RecvfromNamesTheSender, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "from x");
    a.recvfrom(y, 64, sizeof(sockaddr_un));
    a.send(y, "from y");
    a.recvfrom(x, 64, sizeof(sockaddr_un));
  });
  sc.run();
}

TEST_KINDS(Addressing, DatagramFromUnboundSender, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    int s = a.socket(SOCK_DGRAM);
    a.sendto(s, "anonymous", srv.addr);
    a.recvmsg(srv.fd, Recv(64).name(sizeof(sockaddr_un)).flags(MSG_DONTWAIT));
    a.getsockname(s);
  });
  sc.run();
}

// Address buffers shorter than the address: the kernel writes what fits, reports the full length,
// and writes nothing past the buffer.
TEST_KINDS(Addressing, ShortAddressBuffers, ConnectionTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int l = Listen(a, Addr::path("srv.sock"), kind.type);
    a.getsockname(l, 6);
    a.getsockname(l, sizeof(sa_family_t));
    a.getsockname(l, 0);
    int c = a.socket(kind.type);
    a.bind(c, Addr::path("client.sock"));
    a.connect(c, Addr::path("srv.sock"));
    a.getpeername(c, 7);
    a.accept(l, 5);
  });
  sc.run();
}

TEST_KINDS(Addressing, ShortNameBufferOnRecvfrom, KindsOf({SOCK_DGRAM}, BoundNamings())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    Bound sender = Bind(a, kind, "sender");
    a.sendto(sender.fd, "one", srv.addr);
    a.sendto(sender.fd, "two", srv.addr);
    a.recvfrom(srv.fd, 64, 5, MSG_DONTWAIT);
    a.recvmsg(srv.fd, Recv(64).name(3).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// /proc/net/unix lists every AF_UNIX socket: type, state, and name.
TEST_KINDS(Addressing, ProcNetUnixListsSockets, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.proc_net_unix(x);
    a.proc_net_unix(y);
    if (kind.connection_oriented()) {
      Bound l = Listen(a, kind, "listener");
      a.proc_net_unix(l.fd);
    }
  });
  sc.run();
}

// A socket inode made by mknod() has no socket behind it.
TEST_KINDS(Addressing, MknodSocketNode, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.mknod("node.sock", S_IFSOCK | 0666);
    a.stat("node.sock");
    Connect(a, Addr::path("node.sock"), kind.type);
    int s = a.socket(kind.type);
    a.bind(s, Addr::path("node.sock"));
  });
  sc.run();
}

// A client of the wrong type: EPROTOTYPE through a socket file, ECONNREFUSED by abstract name.
TEST_KINDS(Addressing, ConnectWrongType, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM},
                                                 {Naming::Pathname, Naming::Abstract})) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    int other = kind.type == SOCK_STREAM ? SOCK_SEQPACKET : SOCK_STREAM;
    Connect(a, srv.addr, other);
    if (kind.type != SOCK_DGRAM) {
      Connect(a, srv.addr, SOCK_DGRAM);
    }
  });
  sc.run();
}

TEST_KINDS(Addressing, BindPathErrors, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.create_file("file", 0644);
    int s = a.socket(kind.type);
    a.bind(s, Addr::path("missing/srv.sock"));
    a.bind(s, Addr::path("file/srv.sock"));
    a.bind(s, Addr::path("srv.sock/"));
    a.getsockname(s);
  });
  sc.run();
}
