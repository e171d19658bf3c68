// Who may connect to a pathname socket. Linux checks search permission on every directory of the
// path and write permission on the socket file. Postfix relies on the directories alone: its
// sockets are rw-rw-rw-, private/ is rwx------ (owner postfix), public/ is rwx--x--- (group
// postdrop). Cygwin's emulation opens the socket file for reading instead, and Windows lets
// everyone traverse directories, so there "the 'secret' is world readable" (seed thread).
//
// A service accepts whatever connection arrives before its client says it has tried: an
// event-loop server that never races the client, and never blocks an emulation's handshake.
#include <gtest/gtest.h>
#include <poll.h>

#include <string>

#include "common.h"
#include "scenario.h"

using namespace afunix;

namespace {

// svc makes `dir` with `dir_mode`, listens on dir/srv.sock opened up to rw-rw-rw- as postfix does,
// and accepts the client's connection if one arrives before the client has `tried`.
void PostfixService(Scenario& sc, const std::string& dir, unsigned dir_mode, Event& listening,
                    Event& tried) {
  sc.actor("server", ServiceOwner(), [&, dir, dir_mode](Actor& a) {
    a.mkdir(dir, 0700);
    a.chmod(dir, dir_mode);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path(dir + "/srv.sock"));
    a.chmod(dir + "/srv.sock", 0666);
    a.listen(s, 5);
    listening.post();
    if (a.poll(s, POLLIN, tried) > 0) a.accept(s);
    tried.wait();
  });
}

// A client as `who` connects to path and tells the server it has tried.
void Client(Scenario& sc, const Identity& who, const std::string& path, Event& listening,
            Event& tried) {
  sc.actor("client", who, [&, path](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path(path));
    tried.post();
  });
}

// svc listens on srv.sock (in the scenario directory, which everyone may search) with the given
// socket file mode.
void ServiceWithSocketMode(Scenario& sc, unsigned sock_mode, Event& listening, Event& tried) {
  sc.actor("server", ServiceOwner(), [&, sock_mode](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.chmod("srv.sock", sock_mode);
    a.listen(s, 5);
    listening.post();
    if (a.poll(s, POLLIN, tried) > 0) a.accept(s);
    tried.wait();
  });
}

// The whole postfix pattern: the service's socket in `dir` (with `mode`), one client of `who` tries.
void PostfixClientTries(const char* dir, unsigned mode, const Identity& who) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  PostfixService(sc, dir, mode, listening, tried);
  Client(sc, who, std::string(dir) + "/srv.sock", listening, tried);
  sc.run();
}

// Binds a socket under `mask` and reports the mode of the file bind() made.
void BindUnderUmask(Scenario& sc, unsigned mask) {
  sc.actor("server", [mask](Actor& a) {
    a.umask(mask);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
}

}  // namespace

TEST(Permissions, PrivateDirOwnerConnects) {
  PostfixClientTries("private", 0700, ServiceOwner());
}

TEST(Permissions, PrivateDirGroupMemberRefused) {
  PostfixClientTries("private", 0700, GroupMember());
}

// The heart of the seed thread: a rw-rw-rw- socket that only its directory protects.
TEST(Permissions, PrivateDirStrangerRefused) {
  PostfixClientTries("private", 0700, Stranger());
}

TEST(Permissions, PublicDirOwnerConnects) {
  PostfixClientTries("public", 0710, ServiceOwner());
}

// Search (--x) on the directory is enough: the member cannot list public/ but can connect.
TEST(Permissions, PublicDirGroupMemberConnects) {
  PostfixClientTries("public", 0710, GroupMember());
}

TEST(Permissions, PublicDirStrangerRefused) {
  PostfixClientTries("public", 0710, Stranger());
}

// One directory without search permission anywhere on the path is enough to refuse.
TEST(Permissions, ConnectNeedsSearchOnEveryComponent) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    a.mkdir("a", 0700);
    a.mkdir("a/b", 0700);
    a.mkdir("a/b/c", 0700);
    a.chmod("a", 0755);
    a.chmod("a/b", 0754);  // others may read but not search
    a.chmod("a/b/c", 0755);
    int s = ListenAt(a, "a/b/c/srv.sock", 0666);
    listening.post();
    if (a.poll(s, POLLIN, tried) > 0) a.accept(s);
    tried.wait();
  });
  Client(sc, Stranger(), "a/b/c/srv.sock", listening, tried);
  sc.run();
}

TEST(Permissions, SearchWithoutReadSufficesOnEveryComponent) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    a.mkdir("a", 0700);
    a.mkdir("a/b", 0700);
    a.chmod("a", 0711);
    a.chmod("a/b", 0711);
    int s = ListenAt(a, "a/b/srv.sock", 0666);
    listening.post();
    if (a.poll(s, POLLIN, tried) > 0) a.accept(s);
    tried.wait();
  });
  Client(sc, Stranger(), "a/b/srv.sock", listening, tried);
  sc.run();
}

// Linux needs write permission on the socket file; Cygwin opens it for reading, so r--r--r-- lets
// anyone in there.
TEST(Permissions, ConnectWithoutWriteRefused) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  ServiceWithSocketMode(sc, 0444, listening, tried);
  Client(sc, Stranger(), "srv.sock", listening, tried);
  sc.run();
}

// ... and the other way round: -w--w--w- is enough on Linux, not where connect reads the file.
TEST(Permissions, ConnectNeedsWriteNotRead) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  ServiceWithSocketMode(sc, 0222, listening, tried);
  Client(sc, Stranger(), "srv.sock", listening, tried);
  sc.run();
}

TEST(Permissions, OwnerWithoutWriteRefused) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  ServiceWithSocketMode(sc, 0466, listening, tried);
  Client(sc, ServiceOwner(), "srv.sock", listening, tried);
  sc.run();
}

// bind() creates a directory entry, so it needs write (and search) permission on the directory.
TEST(Permissions, BindNeedsWriteOnDirectory) {
  Scenario sc;
  Event& made = sc.event("made");
  sc.actor("owner", ServiceOwner(), [&](Actor& a) {
    a.mkdir("private", 0700);
    a.chmod("private", 0755);
    made.post();
  });
  sc.actor("binder", Stranger(), [&](Actor& a) {
    made.wait();
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("private/srv.sock"));
    a.stat("private/srv.sock");
  });
  sc.run();
}

// Abstract names have no file, so no umask or mode protects them.
TEST(Permissions, AbstractSocketOpenToEveryone) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& tried = sc.event("tried");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    a.umask(0077);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::abstract("svc"));
    a.listen(s, 5);
    listening.post();
    if (a.poll(s, POLLIN, tried) > 0) a.accept(s);
    tried.wait();
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::abstract("svc"));
    tried.post();
  });
  sc.run();
}

// The socket file gets 0777 & ~umask, as any file created with mode 0777 would.
TEST(Permissions, SocketModeUnderUmask022) {
  Scenario sc;
  BindUnderUmask(sc, 0022);
  sc.run();
}

TEST(Permissions, SocketModeUnderUmask077) {
  Scenario sc;
  BindUnderUmask(sc, 0077);
  sc.run();
}

TEST(Permissions, SocketModeUnderUmask000) {
  Scenario sc;
  BindUnderUmask(sc, 0000);
  sc.run();
}

// Cygwin adds a read bit wherever a write bit is set: write-only sockets do not exist there.
TEST(Permissions, SocketModeUnderUmask444) {
  Scenario sc;
  BindUnderUmask(sc, 0444);
  sc.run();
}

// ---- over socket types --------------------------------------------------------------------------

#include <fcntl.h>


// A socket file is a rendezvous, not a file: open() refuses it.
TEST_KINDS(Permissions, OpenSocketFileFails, SocketTypes()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(kind.type);
    a.bind(s, Addr::path("srv.sock"));
    a.open("srv.sock", O_RDONLY);
    a.open("srv.sock", O_WRONLY);
    a.open("srv.sock", O_RDWR | O_NONBLOCK);
  });
  sc.run();
}

// Write permission on the socket file decides, for every type (bind leaves rwxr-xr-x under 022).
TEST_KINDS(Permissions, ConnectNeedsWriteOnSocketFile, SocketTypes()) {
  Scenario sc;
  Event& bound = sc.event("bound");
  Event& tried = sc.event("tried");
  Event& opened = sc.event("opened");
  Event& retried = sc.event("retried");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    Bound srv = BindKind(a, SocketKind{"", kind.type, Naming::Pathname, false}, "srv");
    a.stat("srv.sock");
    bound.post();
    tried.wait();
    a.chmod("srv.sock", 0666);
    opened.post();
    retried.wait();
    if (kind.type == SOCK_DGRAM) a.recv(srv.fd, 64, MSG_DONTWAIT);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    bound.wait();
    int c = a.socket(kind.type);
    a.connect(c, Addr::path("srv.sock"));
    if (kind.type == SOCK_DGRAM) a.sendto(c, "let me in", Addr::path("srv.sock"));
    tried.post();
    opened.wait();
    a.connect(c, Addr::path("srv.sock"));
    if (kind.type == SOCK_DGRAM) a.send(c, "thanks");
    retried.post();
  });
  sc.run();
}

// Abstract names have no file, hence no permissions: anyone may connect or send.
TEST_KINDS(Permissions, AbstractNamesIgnorePermissions, SocketTypes()) {
  Scenario sc;
  Event& bound = sc.event("bound");
  Event& tried = sc.event("tried");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    Bound srv = BindKind(a, SocketKind{"", kind.type, Naming::Abstract, false}, "private");
    bound.post();
    tried.wait();
    if (kind.type == SOCK_DGRAM) a.recv(srv.fd, 64, MSG_DONTWAIT);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    bound.wait();
    int c = a.socket(kind.type);
    a.connect(c, Addr::abstract("private"));
    if (kind.type == SOCK_DGRAM) a.send(c, "anyone");
    tried.post();
  });
  sc.run();
}
