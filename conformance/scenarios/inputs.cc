// Inputs: addresses the way real programs pass them, not the tidy way the other areas do. A program
// reuses one sockaddr_un across calls, so the bytes past the length it passes hold what the struct
// held before (the kernel reads only addrlen bytes); it names its sockets with absolute paths, and
// through symlinked directories and ".."; it hands accept(), getsockname() and recvfrom() buffers
// that still hold an earlier address, of any size. A path translator that rewrites only some
// forms of a path, or reads a name up to its NUL instead of up to addrlen, is seen here.
//
// Returned addresses record what the kernel defines about them (docs/trace-format.md, "Returned
// addresses"): the length, the name class, whether a pathname's NUL is within the length, and any
// byte of the buffer past the length that the call changed.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <functional>
#include <string>

#include "common.h"
#include "scenario.h"

using namespace afunix;

namespace {

// What the reused struct held before: longer than the names written over it, so stale bytes are
// left just past addrlen.
Addr OldPath() { return Addr::path("old-service.sock"); }
Addr OldName() { return Addr::abstract("old-service"); }

// The server's side of one connection attempt: accept it if it came before the client says it
// tried (a failed connect leaves nothing to accept, and nothing waits for it).
int AcceptIfTried(Actor& a, int listener, Event& tried) {
  int c = a.poll(listener, POLLIN, tried) > 0 ? a.accept(listener) : -1;
  tried.wait();
  return c;
}

// A server listening at `bound` and a client that connects to `dialed`, each looking at its
// socket (the server before it posts "listening", the client before it posts "tried"); the server
// accepts the connection if it came (Rendezvous::accept_if_tried). The story can build the
// addresses in its body: `Scenario sc;` has already set the directory and the run tag that
// Addr::absolute and Addr::abstract put in them.
void ListenAndConnect(Scenario& sc, const Addr& bound, const Addr& dialed, LookAt server_looks,
                      LookAt client_looks) {
  Rendezvous rv(sc);
  sc.actor("server", [=](Actor& a) mutable {
    int s = Listen(a, bound);
    server_looks(a, s);
    rv.ready();
    rv.accept_if_tried(a, s);
  });
  sc.actor("client", [=](Actor& a) mutable {
    int s = rv.connect(a, dialed);
    client_looks(a, s);
    rv.tried();
  });
}

// The server makes its directories (`prepare`) and listens at `bound`; the client connects to
// `path` as given, then to the same path made absolute, and posts "tried relative" and "tried
// absolute" after each, so the server accepts each connection that came and waits for none that
// failed.
void ConnectRelativeThenAbsolute(Scenario& sc, std::function<void(Actor&)> prepare,
                                 const Addr& bound, const std::string& path) {
  Event& listening = sc.event("listening");
  Event& tried_relative = sc.event("tried relative");
  Event& tried_absolute = sc.event("tried absolute");
  sc.actor("server", [=, &listening, &tried_relative, &tried_absolute](Actor& a) {
    prepare(a);
    int s = Listen(a, bound);
    listening.post();
    AcceptIfTried(a, s, tried_relative);
    AcceptIfTried(a, s, tried_absolute);
  });
  sc.actor("client", [=, &listening, &tried_relative, &tried_absolute](Actor& a) {
    listening.wait();
    Connect(a, Addr::path(path));
    tried_relative.post();
    Connect(a, Addr::absolute(path));
    tried_absolute.post();
  });
}

// What a side of ListenAndConnect looks at: its socket's own name, or its peer's.
void ReadOwnName(Actor& a, int s) { a.getsockname(s); }
void ReadPeerName(Actor& a, int s) { a.getpeername(s); }

enum class Via { Sendto, Sendmsg };

// "hello" from socket `fd` to `to`, by the call `via` names.
void SendHello(Actor& a, int fd, const Addr& to, Via via) {
  if (via == Via::Sendto) {
    a.sendto(fd, "hello", to);
  } else {
    a.sendmsg(fd, Msg("hello").to(to));
  }
}

// A datagram socket bound at `bound`, an unnamed one that sends it "hello" addressed `to`, and
// whether it arrived there (recvfrom, not waiting; an unnamed sender has no name to ask for).
void SendOneDatagram(Scenario& sc, const Addr& bound, const Addr& to, Via via) {
  sc.actor("owner", [=](Actor& a) {
    int srv = Listen(a, bound, SOCK_DGRAM);
    int cli = a.socket(SOCK_DGRAM);
    SendHello(a, cli, to, via);
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
  });
}

// The same from a socket bound at `from`, so the receiver sees the name the sender bound: read
// with the datagram by the call that mirrors the sending one (recvfrom after sendto, recvmsg
// after sendmsg).
void SendOneDatagramFrom(Scenario& sc, const Addr& from, const Addr& bound, const Addr& to,
                         Via via) {
  sc.actor("owner", [=](Actor& a) {
    int srv = Listen(a, bound, SOCK_DGRAM);
    int cli = Listen(a, from, SOCK_DGRAM);
    SendHello(a, cli, to, via);
    if (via == Via::Sendto) {
      a.recvfrom(srv, 64, sizeof(sockaddr_un), MSG_DONTWAIT);
    } else {
      a.recvmsg(srv, Recv(64).name(sizeof(sockaddr_un)).flags(MSG_DONTWAIT));
    }
  });
}

}  // namespace

// ---- stale bytes past addrlen: the kernel reads addrlen bytes and no more ----------------------

TEST(Inputs, BindReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  auto read_name_and_file = [](Actor& a, int s) {
    a.getsockname(s);
    a.stat("srv.sock");
  };
  ListenAndConnect(sc, Addr::path("srv.sock").over(OldPath()), Addr::path("srv.sock"),
                   read_name_and_file, LookAtNothing);
  sc.run();
}

TEST(Inputs, ConnectReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  ListenAndConnect(sc, Addr::path("srv.sock"), Addr::path("srv.sock").over(OldPath()),
                   LookAtNothing, ReadPeerName);
  sc.run();
}

TEST(Inputs, SendtoReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  SendOneDatagram(sc, Addr::path("srv.sock"), Addr::path("srv.sock").over(OldPath()), Via::Sendto);
  sc.run();
}

TEST(Inputs, SendmsgReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  SendOneDatagram(sc, Addr::path("srv.sock"), Addr::path("srv.sock").over(OldPath()), Via::Sendmsg);
  sc.run();
}

// An abstract name is every byte addrlen covers: a longer stale name past it is no part of it.
TEST(Inputs, BindReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  ListenAndConnect(sc, Addr::abstract("srv").over(OldName()), Addr::abstract("srv"),
                   ReadOwnName, LookAtNothing);
  sc.run();
}

TEST(Inputs, ConnectReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  ListenAndConnect(sc, Addr::abstract("srv"), Addr::abstract("srv").over(OldName()),
                   LookAtNothing, ReadPeerName);
  sc.run();
}

TEST(Inputs, SendtoReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  SendOneDatagram(sc, Addr::abstract("srv"), Addr::abstract("srv").over(OldName()), Via::Sendto);
  sc.run();
}

TEST(Inputs, SendmsgReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  SendOneDatagram(sc, Addr::abstract("srv"), Addr::abstract("srv").over(OldName()), Via::Sendmsg);
  sc.run();
}

// The struct held an abstract name, and a pathname is written over it: what is left past the
// path's bytes is the rest of that name, not a NUL.
TEST(Inputs, ConnectReadsOnlyAddrlenOfPathOverAbstractName) {
  Scenario sc;
  ListenAndConnect(sc, Addr::path("srv.sock"), Addr::path("srv.sock").over(OldName()),
                   LookAtNothing, LookAtNothing);
  sc.run();
}

// ---- absolute and relative forms of one path -----------------------------------------------------

// getsockname() gives back the name as it was bound: absolute here, relative to nothing.
TEST(Inputs, BindAbsoluteConnectRelative) {
  Scenario sc;
  ListenAndConnect(sc, Addr::absolute("srv.sock"), Addr::path("srv.sock"),
                   ReadOwnName, ReadPeerName);
  sc.run();
}

TEST(Inputs, BindRelativeConnectAbsolute) {
  Scenario sc;
  ListenAndConnect(sc, Addr::path("srv.sock"), Addr::absolute("srv.sock"),
                   LookAtNothing, ReadPeerName);
  sc.run();
}

// The receiver sees the sender's name as the sender bound it.
TEST(Inputs, SendtoAbsolutePathFromAbsolutePath) {
  Scenario sc;
  SendOneDatagramFrom(sc, Addr::absolute("cli.sock"), Addr::path("srv.sock"),
                      Addr::absolute("srv.sock"), Via::Sendto);
  sc.run();
}

TEST(Inputs, SendmsgAbsolutePathFromAbsolutePath) {
  Scenario sc;
  SendOneDatagramFrom(sc, Addr::absolute("cli.sock"), Addr::path("srv.sock"),
                      Addr::absolute("srv.sock"), Via::Sendmsg);
  sc.run();
}

// A socket in real/ reached through link/ -> real, in both forms.
TEST(Inputs, ConnectThroughSymlinkedDirectory) {
  Scenario sc;
  auto make_link = [](Actor& a) {
    a.mkdir("real", 0755);
    a.symlink("real", "link");
  };
  ConnectRelativeThenAbsolute(sc, make_link, Addr::path("real/srv.sock"), "link/srv.sock");
  sc.run();
}

// Bound through the link, the socket file is in real/; its name is the path it was bound with.
TEST(Inputs, BindAbsoluteThroughSymlinkedDirectory) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.mkdir("real", 0755);
    a.symlink("real", "link");
    int srv = Listen(a, Addr::absolute("link/srv.sock"), SOCK_DGRAM);
    a.getsockname(srv);
    a.stat("real/srv.sock");
    int cli = a.socket(SOCK_DGRAM);
    a.sendto(cli, "hello", Addr::path("real/srv.sock"));
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
  });
  sc.run();
}

TEST(Inputs, ConnectThroughDotDot) {
  Scenario sc;
  auto make_sub = [](Actor& a) { a.mkdir("sub", 0755); };
  ConnectRelativeThenAbsolute(sc, make_sub, Addr::path("srv.sock"), "sub/../srv.sock");
  sc.run();
}

// ".." after a symlink goes up from where the link leads, not from the link: link -> real/inner,
// so link/../srv.sock is real/srv.sock. A translator that folds ".." away as text reaches the
// decoy at srv.sock instead.
TEST(Inputs, DotDotAfterSymlinkIsTheTargetsParent) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    a.mkdir("real", 0755);
    a.mkdir("real/inner", 0755);
    a.symlink("real/inner", "link");
    int decoy = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int srv = Listen(a, Addr::path("real/srv.sock"), SOCK_DGRAM);
    int cli = a.socket(SOCK_DGRAM);
    a.sendto(cli, "relative", Addr::path("link/../srv.sock"));
    a.sendto(cli, "absolute", Addr::absolute("link/../srv.sock"));
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
    a.recvfrom(decoy, 64, 0, MSG_DONTWAIT);
  });
  sc.run();
}

// ---- buffers that still hold an earlier address ------------------------------------------------
// Sizes: a whole sockaddr_un (110 on every ABI), exactly the name (2 + 8 + 1 for srv.sock), one
// byte short (the NUL does not fit), and room for little more than the family.

TEST(Inputs, GetsocknameIntoReusedBuffers) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    for (socklen_t size : {110, 11, 10, 4}) a.getsockname(s, AddrBuf(size).holding(OldPath()));
  });
  sc.run();
}

TEST(Inputs, GetpeernameIntoReusedBuffers) {
  Scenario sc;
  auto read_peer_name_at_each_size = [](Actor& a, int s) {
    for (socklen_t size : {110, 11, 10, 4}) a.getpeername(s, AddrBuf(size).holding(OldPath()));
  };
  ListenAndConnect(sc, Addr::path("srv.sock"), Addr::path("srv.sock"),
                   LookAtNothing, read_peer_name_at_each_size);
  sc.run();
}

// Clients bound to c1.sock .. c4.sock (2 + 7 + 1 bytes each), one accept per buffer size.
TEST(Inputs, AcceptNamedPeerIntoReusedBuffers) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& connected = sc.event("connected");
  Event& accepted = sc.event("accepted");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    connected.wait();
    for (socklen_t size : {110, 10, 9, 4}) a.accept(s, AddrBuf(size).holding(OldPath()));
    accepted.post();
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    for (const char* name : {"c1.sock", "c2.sock", "c3.sock", "c4.sock"}) {
      int c = a.socket(SOCK_STREAM);
      a.bind(c, Addr::path(name));
      a.connect(c, Addr::path("srv.sock"));
    }
    connected.post();
    accepted.wait();
  });
  sc.run();
}

// An unnamed peer: the kernel writes the family alone and reports 2; the old name stays.
TEST(Inputs, AcceptUnnamedPeerIntoReusedBuffer) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& connected = sc.event("connected");
  Event& accepted = sc.event("accepted");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    connected.wait();
    a.accept(s, AddrBuf().holding(OldPath()));
    accepted.post();
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    Connect(a, Addr::path("srv.sock"));
    connected.post();
    accepted.wait();
  });
  sc.run();
}

TEST(Inputs, RecvfromIntoReusedBuffers) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int cli = Listen(a, Addr::path("cli.sock"), SOCK_DGRAM);
    for (socklen_t size : {110, 11, 10, 4}) {
      a.sendto(cli, "hello", Addr::path("srv.sock"));
      a.recvfrom(srv, 64, AddrBuf(size).holding(OldPath()), MSG_DONTWAIT);
    }
  });
  sc.run();
}

TEST(Inputs, RecvmsgIntoReusedBuffers) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int cli = Listen(a, Addr::path("cli.sock"), SOCK_DGRAM);
    for (size_t size : {110, 11, 10, 4}) {
      a.sendto(cli, "hello", Addr::path("srv.sock"));
      a.recvmsg(srv, Recv(64).name(size, OldPath()).flags(MSG_DONTWAIT));
    }
  });
  sc.run();
}

// An abstract name has no NUL to end it; a buffer that held a pathname keeps its tail.
TEST(Inputs, AbstractNameIntoReusedBuffers) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = Listen(a, Addr::abstract("srv"));
    for (socklen_t size : {110, 8}) a.getsockname(s, AddrBuf(size).holding(OldPath()));
  });
  sc.run();
}

// Autobind: "\0" and five hex digits, length 8, written over a longer name.
TEST(Inputs, AutoboundNameIntoReusedBuffer) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(SOCK_DGRAM);
    a.bind(s, Addr::autobind());
    a.getsockname(s, AddrBuf().holding(OldPath()));
  });
  sc.run();
}
