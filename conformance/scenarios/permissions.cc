// Who may connect to a pathname socket. Linux checks search permission on every directory of the
// path and write permission on the socket file. Postfix relies on the directories alone: its
// sockets are rw-rw-rw-, private/ is rwx------ (owner postfix), public/ is rwx--x--- (group
// postdrop). Cygwin's emulation opens the socket file for reading instead, and Windows lets
// everyone traverse directories, so there "the 'secret' is world readable" (seed thread).
//
// A service accepts whatever connection arrives before its client says it has tried: an
// event-loop server that never races the client, and never blocks an emulation's handshake.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "scenario.h"

using namespace afunix;

namespace {

// A client as `who` connects to addr once the server listens, and says it has tried.
void ClientTries(Scenario& sc, Rendezvous& rv, const Identity& who, const Addr& addr) {
  sc.actor("client", who, [&rv, addr](Actor& a) {
    rv.connect(a, addr);
    rv.tried();
  });
}

// postfix's pattern: svc's socket is rw-rw-rw- in its directory `dir`, opened to `mode`; one
// client of `who` tries to connect.
void PostfixClientTries(const std::string& dir, unsigned mode, const Identity& who) {
  Scenario sc;
  Rendezvous rv(sc);
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    ServiceDir(a, dir, mode);
    int s = ListenWithMode(a, dir + "/srv.sock", 0666);
    rv.ready();
    rv.accept_if_tried(a, s);
  });
  ClientTries(sc, rv, who, Addr::path(dir + "/srv.sock"));
  sc.run();
}

// svc's socket file srv.sock, opened to `mode`, in the scenario directory (which everyone may
// search); one client of `who` tries to connect.
void SocketModeClientTries(unsigned mode, const Identity& who) {
  Scenario sc;
  Rendezvous rv(sc);
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = ListenWithMode(a, "srv.sock", mode);
    rv.ready();
    rv.accept_if_tried(a, s);
  });
  ClientTries(sc, rv, who, Addr::path("srv.sock"));
  sc.run();
}

// svc's socket at the end of nested directories, each made private and then, once all are made,
// opened to its mode; one stranger tries to connect.
void NestedDirsClientTries(const std::vector<std::pair<std::string, unsigned>>& dirs) {
  const std::string path = dirs.back().first + "/srv.sock";
  Scenario sc;
  Rendezvous rv(sc);
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    for (const auto& [dir, mode] : dirs) a.mkdir(dir, 0700);
    for (const auto& [dir, mode] : dirs) a.chmod(dir, mode);
    int s = ListenWithMode(a, path, 0666);
    rv.ready();
    rv.accept_if_tried(a, s);
  });
  ClientTries(sc, rv, Stranger(), Addr::path(path));
  sc.run();
}

// Binds a socket under `mask` and reports the mode of the file bind() made.
void BindUnderUmask(unsigned mask) {
  Scenario sc;
  sc.actor("server", [mask](Actor& a) {
    a.umask(mask);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
  sc.run();
}

}  // namespace

TEST(Permissions, PrivateDirOwnerConnects) { PostfixClientTries("private", 0700, ServiceOwner()); }
TEST(Permissions, PrivateDirGroupMemberRefused) { PostfixClientTries("private", 0700, GroupMember()); }
// The heart of the seed thread: a rw-rw-rw- socket that only its directory protects.
TEST(Permissions, PrivateDirStrangerRefused) { PostfixClientTries("private", 0700, Stranger()); }
TEST(Permissions, PublicDirOwnerConnects) { PostfixClientTries("public", 0710, ServiceOwner()); }
// Search (--x) on the directory is enough: the member cannot list public/ but can connect.
TEST(Permissions, PublicDirGroupMemberConnects) { PostfixClientTries("public", 0710, GroupMember()); }
TEST(Permissions, PublicDirStrangerRefused) { PostfixClientTries("public", 0710, Stranger()); }

// Linux needs write permission on the socket file; Cygwin opens it for reading, so r--r--r-- lets
// anyone in there.
TEST(Permissions, ConnectWithoutWriteRefused) { SocketModeClientTries(0444, Stranger()); }
// ... and the other way round: -w--w--w- is enough on Linux, not where connect reads the file.
TEST(Permissions, ConnectNeedsWriteNotRead) { SocketModeClientTries(0222, Stranger()); }
TEST(Permissions, OwnerWithoutWriteRefused) { SocketModeClientTries(0466, ServiceOwner()); }

// One directory without search permission anywhere on the path is enough to refuse.
TEST(Permissions, ConnectNeedsSearchOnEveryComponent) {
  NestedDirsClientTries({{"a", 0755}, {"a/b", 0754}, {"a/b/c", 0755}});  // a/b: others may read, not search
}

TEST(Permissions, SearchWithoutReadSufficesOnEveryComponent) {
  NestedDirsClientTries({{"a", 0711}, {"a/b", 0711}});
}

// bind() creates a directory entry, so it needs write (and search) permission on the directory.
TEST(Permissions, BindNeedsWriteOnDirectory) {
  Scenario sc;
  Event& made = sc.event("made");
  sc.actor("owner", ServiceOwner(), [&](Actor& a) {
    ServiceDir(a, "private", 0755);
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
  Rendezvous rv(sc);
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    a.umask(0077);
    int s = rv.listen(a, Addr::abstract("svc"));
    rv.accept_if_tried(a, s);
  });
  ClientTries(sc, rv, Stranger(), Addr::abstract("svc"));
  sc.run();
}

// The socket file gets 0777 & ~umask, as any file created with mode 0777 would.
TEST(Permissions, SocketModeUnderUmask022) { BindUnderUmask(0022); }

TEST(Permissions, SocketModeUnderUmask077) { BindUnderUmask(0077); }

TEST(Permissions, SocketModeUnderUmask000) { BindUnderUmask(0000); }

// Cygwin adds a read bit wherever a write bit is set: write-only sockets do not exist there.
TEST(Permissions, SocketModeUnderUmask444) { BindUnderUmask(0444); }

// ---- over socket types --------------------------------------------------------------------------

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
    int srv = Listen(a, Addr::path("srv.sock"), kind.type);
    a.stat("srv.sock");
    bound.post();
    tried.wait();
    a.chmod("srv.sock", 0666);
    opened.post();
    retried.wait();
    if (kind.type == SOCK_DGRAM) a.recv(srv, 64, MSG_DONTWAIT);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    bound.wait();
    int c = Connect(a, Addr::path("srv.sock"), kind.type);
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
    int srv = Listen(a, Addr::abstract("private"), kind.type);
    bound.post();
    tried.wait();
    if (kind.type == SOCK_DGRAM) a.recv(srv, 64, MSG_DONTWAIT);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    bound.wait();
    int c = Connect(a, Addr::abstract("private"), kind.type);
    if (kind.type == SOCK_DGRAM) a.send(c, "anyone");
    tried.post();
  });
  sc.run();
}
