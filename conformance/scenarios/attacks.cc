// Adversarial conformance: can a local attacker do on the backend what the kernel would never allow?
// The seed thread's worries, one scenario each: a TCP-based emulation exposes a port any local
// process can reach, credentials that are self-reported, a secret in a file whose protection depends
// on directory permissions, and a port a squatter can take after the server dies.
//
// The attacker runs as another unprivileged user and is not judged: its observations are evidence.
// The verdict rests on the victims: what the server accepted and what its peer-credential calls
// said, or what the client sent and to whom. On native Linux every attack fails; the same-user
// cases at the end must succeed everywhere, so a backend cannot pass by refusing everyone.
#include <gtest/gtest.h>
#include <poll.h>

#include <functional>
#include <string>

#include "attack.h"
#include "common.h"
#include "scenario.h"

using namespace afunix;
using namespace afunix::attack;

namespace {

// Where svc's server listens: a directory of its own, and the mode of the socket file in it.
struct Place {
  const char* dir;
  unsigned dir_mode;
  unsigned socket_mode;
  std::string path() const { return std::string(dir) + "/srv.sock"; }
};
// postfix's private/: the socket is rw-rw-rw-, the directory rwx------ and the only protection.
const Place kPrivate{"private", 0700, 0666};
// postfix's public/: rwx--x--- lets svc's group (postdrop) reach the socket.
const Place kPublic{"public", 0710, 0666};
// A socket file everyone may read but only svc may write.
const Place kShared{"shared", 0755, 0644};

// mkdir(dir, dir_mode), then socket, bind, chmod(socket_mode), listen(8) at place.path().
int ListenAt(Actor& a, const Place& place, int type = SOCK_STREAM) {
  a.mkdir(place.dir, place.dir_mode);
  return ListenWithMode(a, place.path(), place.socket_mode, 8, type);
}

// Who faces svc's server: an attacker, never judged, or a client of a same-user case, judged
// (it must get through).
enum class Side { Attacker, Client };

void AddOtherSide(Scenario& sc, Side side, const std::string& role, const Identity& who,
                  std::function<void(Actor&)> body) {
  if (side == Side::Attacker) sc.attacker(role, who, std::move(body));
  else sc.actor(role, who, std::move(body));
}

// The story of the stream cases: svc's server listens at `place`, posts "listening" and accepts
// whatever arrives until the other side is done ("attack-done", "client-done"); the other side,
// as `who`, waits for "listening", does `tries` and says it is done.
void AgainstStreamServer(Scenario& sc, const Place& place, Side side, const std::string& role,
                         const Identity& who, std::function<void(Actor&)> tries) {
  Rendezvous rv(sc);
  Event& done = sc.event(side == Side::Attacker ? "attack-done" : "client-done");
  sc.actor("server", ServiceOwner(), [=, &done](Actor& a) mutable {
    int s = ListenAt(a, place);
    rv.ready();
    accept_until(a, s, done);
  });
  AddOtherSide(sc, side, role, who, [=, &done](Actor& a) mutable {
    rv.wait_ready();
    tries(a);
    done.post();
  });
}

// The same with datagrams: svc's server binds at `place` and posts "bound"; once the other side
// is done it reads everything that arrived.
void AgainstDatagramServer(Scenario& sc, const Place& place, Side side, const std::string& role,
                           const Identity& who, std::function<void(Actor&)> tries) {
  Event& bound = sc.event("bound");
  Event& done = sc.event(side == Side::Attacker ? "attack-done" : "client-done");
  sc.actor("server", ServiceOwner(), [=, &bound, &done](Actor& a) {
    int s = ListenAt(a, place, SOCK_DGRAM);
    bound.post();
    done.wait();
    receive_everything(a, s);
  });
  AddOtherSide(sc, side, role, who, [=, &bound, &done](Actor& a) {
    bound.wait();
    tries(a);
    done.post();
  });
}

// Everything an attacker can try against a stream server at path with a payload.
void TryEveryMeans(Actor& a, const std::string& path, const std::string& payload) {
  int s = a.socket(SOCK_STREAM);
  if (a.connect(s, Addr::path(path)) == 0) a.send(s, payload, MSG_NOSIGNAL);
  Adversary adversary(a);
  int fd = adversary.connect_via_file(path, SOCK_STREAM);
  if (fd >= 0) a.send(fd, payload, MSG_NOSIGNAL);
}

}  // namespace

TEST(Attack, PrivateServerUnreachable) {
  Scenario sc;
  AgainstStreamServer(sc, kPrivate, Side::Attacker, "attacker", Stranger(), [](Actor& a) {
    TryEveryMeans(a, kPrivate.path(), "ATTACK");
    connect_to_owners_tcp_ports(a, ServiceOwner(), "ATTACK");
  });
  sc.run();
}

TEST(Attack, PortGuessingReachesNoServer) {
  Scenario sc;
  AgainstStreamServer(sc, kPrivate, Side::Attacker, "attacker", Stranger(), [](Actor& a) {
    connect_to_owners_tcp_ports(a, ServiceOwner(), "GUESSED");
  });
  sc.run();
}

// A peer that may connect (postfix's public/ is rwx--x--- for the postdrop group) must not make the
// server's SO_PEERCRED name anyone else: the kernel records credentials, emulations may take the
// peer's word for them.
TEST(Attack, PeerCannotForgeCredentials) {
  Scenario sc;
  AgainstStreamServer(sc, kPublic, Side::Attacker, "member", GroupMember(), [](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    if (a.connect(s, Addr::path(kPublic.path())) == 0) a.send(s, "HONEST", MSG_NOSIGNAL);
    Adversary adversary(a);
    int fd = adversary.connect_forged(kPublic.path(), SOCK_STREAM, 1, 0, 0);
    if (fd >= 0) a.send(fd, "FORGED", MSG_NOSIGNAL);
  });
  sc.run();
}

// The server exits and leaves its socket file. On Linux the name is dead (ECONNREFUSED) and nobody
// but the directory's owner can replace it; an emulation that points the file at a TCP port lets
// whoever binds that port next receive the client's secrets and answer as the server.
TEST(Attack, SquatterCannotImpersonateDeadServer) {
  Scenario sc;
  Event& squatted = sc.event("squatted");
  Event& sent = sc.event("client-sent");
  Event& replied = sc.event("attacker-replied");
  Event& server_gone = sc.ended("server");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    a.mkdir("public", 0755);
    ListenWithMode(a, "public/srv.sock", 0666, 8);
  });
  sc.attacker("squatter", Stranger(), [&](Actor& a) {
    server_gone.wait();
    // With the kernel API: replace the name. With the adversary module: take over the endpoint.
    int squat = a.socket(SOCK_STREAM);
    a.unlink("public/srv.sock");
    bool kernel_squat = a.bind(squat, Addr::path("public/srv.sock")) == 0 && a.listen(squat, 8) == 0;
    Adversary adversary(a);
    if (!kernel_squat) squat = adversary.squat("public/srv.sock", SOCK_STREAM);
    squatted.post();
    int fd = -1;
    if (squat >= 0 && a.poll(squat, POLLIN, sent) > 0)
      fd = kernel_squat ? a.accept(squat) : adversary.accept(squat, "public/srv.sock");
    sent.wait();
    if (fd >= 0) {
      a.recv(fd, 64, MSG_DONTWAIT);
      a.send(fd, "EVIL-REPLY", MSG_NOSIGNAL);
    }
    replied.post();
  });
  sc.actor("client", GroupMember(), [&](Actor& a) {
    squatted.wait();
    int s = Connect(a, Addr::path("public/srv.sock"));
    a.send(s, "PASSWORD", MSG_NOSIGNAL);
    sent.post();
    replied.wait();
    a.recv(s, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// The socket file is readable by everyone but writable only by its owner: Linux refuses connect()
// without write permission. An emulation that keeps a secret in the file and opens it for reading
// hands the secret to every reader.
TEST(Attack, ReadableSocketFileGrantsNoAccess) {
  Scenario sc;
  AgainstStreamServer(sc, kShared, Side::Attacker, "attacker", Stranger(), [](Actor& a) {
    TryEveryMeans(a, kShared.path(), "REPLAYED");
  });
  sc.run();
}

TEST(Attack, DatagramInjectionReachesNoServer) {
  Scenario sc;
  AgainstDatagramServer(sc, kPrivate, Side::Attacker, "attacker", Stranger(), [](Actor& a) {
    int s = a.socket(SOCK_DGRAM);
    if (a.connect(s, Addr::path(kPrivate.path())) == 0) a.send(s, "INJECTED", MSG_NOSIGNAL);
    send_to_owners_udp_ports(a, ServiceOwner(), "GUESSED");
    Adversary adversary(a);
    adversary.send_datagram(kPrivate.path(), "FORGED");
  });
  sc.run();
}

// ---- the same-user cases: what must still work --------------------------------------------------

TEST(Attack, OwnerStillReachesPrivateServer) {
  Scenario sc;
  AgainstStreamServer(sc, kPrivate, Side::Client, "client", ServiceOwner(), [](Actor& a) {
    int s = Connect(a, Addr::path(kPrivate.path()));
    a.send(s, "HELLO", MSG_NOSIGNAL);
  });
  sc.run();
}

TEST(Attack, GroupMemberStillReachesPublicServer) {
  Scenario sc;
  AgainstStreamServer(sc, kPublic, Side::Client, "client", GroupMember(), [](Actor& a) {
    int s = Connect(a, Addr::path(kPublic.path()));
    a.send(s, "HELLO", MSG_NOSIGNAL);
  });
  sc.run();
}

TEST(Attack, OwnerStillSendsDatagrams) {
  Scenario sc;
  AgainstDatagramServer(sc, kPrivate, Side::Client, "client", ServiceOwner(), [](Actor& a) {
    int s = Connect(a, Addr::path(kPrivate.path()), SOCK_DGRAM);
    a.send(s, "HELLO");
  });
  sc.run();
}

TEST(Attack, ClientOfLiveServerTalksToIt) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& done = sc.event("client-done");
  Event& answered = sc.event("answered");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    a.mkdir("public", 0755);
    int s = ListenWithMode(a, "public/srv.sock", 0666, 8);
    rv.ready();
    int c = AcceptWhenReady(a, s);
    done.wait();
    a.recv(c, 64, MSG_DONTWAIT);
    a.send(c, "REPLY", MSG_NOSIGNAL);
    answered.post();
  });
  sc.actor("client", GroupMember(), [&](Actor& a) {
    int s = rv.connect(a, Addr::path("public/srv.sock"));
    a.send(s, "PASSWORD", MSG_NOSIGNAL);
    done.post();
    answered.wait();
    a.recv(s, 64, MSG_DONTWAIT);
  });
  sc.run();
}
