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

}  // namespace

// ---- stale bytes past addrlen: the kernel reads addrlen bytes and no more ----------------------

TEST(Inputs, BindReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock").over(OldPath()));
    a.getsockname(s);
    a.stat("srv.sock");
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    Connect(a, Addr::path("srv.sock"));
    tried.post();
  });
  sc.run();
}

TEST(Inputs, ConnectReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = Connect(a, Addr::path("srv.sock").over(OldPath()));
    a.getpeername(s);
    tried.post();
  });
  sc.run();
}

TEST(Inputs, SendtoReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int cli = a.socket(SOCK_DGRAM);
    a.sendto(cli, "hello", Addr::path("srv.sock").over(OldPath()));
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
  });
  sc.run();
}

TEST(Inputs, SendmsgReadsOnlyAddrlenOfReusedPath) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int cli = a.socket(SOCK_DGRAM);
    a.sendmsg(cli, Msg("hello").to(Addr::path("srv.sock").over(OldPath())));
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
  });
  sc.run();
}

// An abstract name is every byte addrlen covers: a longer stale name past it is no part of it.
TEST(Inputs, BindReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::abstract("srv").over(OldName()));
    a.getsockname(s);
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    Connect(a, Addr::abstract("srv"));
    tried.post();
  });
  sc.run();
}

TEST(Inputs, ConnectReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::abstract("srv"));
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = Connect(a, Addr::abstract("srv").over(OldName()));
    a.getpeername(s);
    tried.post();
  });
  sc.run();
}

TEST(Inputs, SendtoReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::abstract("srv"), SOCK_DGRAM);
    int cli = a.socket(SOCK_DGRAM);
    a.sendto(cli, "hello", Addr::abstract("srv").over(OldName()));
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
  });
  sc.run();
}

TEST(Inputs, SendmsgReadsOnlyAddrlenOfReusedAbstractName) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::abstract("srv"), SOCK_DGRAM);
    int cli = a.socket(SOCK_DGRAM);
    a.sendmsg(cli, Msg("hello").to(Addr::abstract("srv").over(OldName())));
    a.recvfrom(srv, 64, 0, MSG_DONTWAIT);
  });
  sc.run();
}

// The struct held an abstract name, and a pathname is written over it: what is left past the
// path's bytes is the rest of that name, not a NUL.
TEST(Inputs, ConnectReadsOnlyAddrlenOfPathOverAbstractName) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    Connect(a, Addr::path("srv.sock").over(OldName()));
    tried.post();
  });
  sc.run();
}

// ---- absolute and relative forms of one path -----------------------------------------------------

// getsockname() gives back the name as it was bound: absolute here, relative to nothing.
TEST(Inputs, BindAbsoluteConnectRelative) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::absolute("srv.sock"));
    a.getsockname(s);
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = Connect(a, Addr::path("srv.sock"));
    a.getpeername(s);
    tried.post();
  });
  sc.run();
}

TEST(Inputs, BindRelativeConnectAbsolute) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = Connect(a, Addr::absolute("srv.sock"));
    a.getpeername(s);
    tried.post();
  });
  sc.run();
}

// The receiver sees the sender's name as the sender bound it.
TEST(Inputs, SendtoAbsolutePathFromAbsolutePath) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int cli = Listen(a, Addr::absolute("cli.sock"), SOCK_DGRAM);
    a.sendto(cli, "hello", Addr::absolute("srv.sock"));
    a.recvfrom(srv, 64, sizeof(sockaddr_un), MSG_DONTWAIT);
  });
  sc.run();
}

TEST(Inputs, SendmsgAbsolutePathFromAbsolutePath) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int srv = Listen(a, Addr::path("srv.sock"), SOCK_DGRAM);
    int cli = Listen(a, Addr::absolute("cli.sock"), SOCK_DGRAM);
    a.sendmsg(cli, Msg("hello").to(Addr::absolute("srv.sock")));
    a.recvmsg(srv, Recv(64).name(sizeof(sockaddr_un)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// A socket in real/ reached through link/ -> real, in both forms.
TEST(Inputs, ConnectThroughSymlinkedDirectory) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried_relative = sc.event("tried relative");
  Event& tried_absolute = sc.event("tried absolute");
  sc.actor("server", [&](Actor& a) {
    a.mkdir("real", 0755);
    a.symlink("real", "link");
    int s = Listen(a, Addr::path("real/srv.sock"));
    listening.post();
    AcceptIfTried(a, s, tried_relative);
    AcceptIfTried(a, s, tried_absolute);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    Connect(a, Addr::path("link/srv.sock"));
    tried_relative.post();
    Connect(a, Addr::absolute("link/srv.sock"));
    tried_absolute.post();
  });
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
  Event& listening = sc.event("listening");
  Event& tried_relative = sc.event("tried relative");
  Event& tried_absolute = sc.event("tried absolute");
  sc.actor("server", [&](Actor& a) {
    a.mkdir("sub", 0755);
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    AcceptIfTried(a, s, tried_relative);
    AcceptIfTried(a, s, tried_absolute);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    Connect(a, Addr::path("sub/../srv.sock"));
    tried_relative.post();
    Connect(a, Addr::absolute("sub/../srv.sock"));
    tried_absolute.post();
  });
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
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", [&](Actor& a) {
    int s = Listen(a, Addr::path("srv.sock"));
    listening.post();
    AcceptIfTried(a, s, tried);
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = Connect(a, Addr::path("srv.sock"));
    for (socklen_t size : {110, 11, 10, 4}) a.getpeername(s, AddrBuf(size).holding(OldPath()));
    tried.post();
  });
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
