// The adversary module of the seed's designs (docs/adversary.md): what a local attacker who knows a
// design's wire protocol can do with it. One module serves all three: the socket file says which
// design made it ("!<socket-table>": proposal-2; "!<socket >" with two secrets: proposal-1; with
// one: cygwin-2014), and AFUNIX_EMU_NOHANDSHAKE (set for the whole run by the nohandshake backend)
// says whether the handshake is off. The Attack scenarios dlopen it in an attacker actor of another
// user; the verdict rests on the victims. Each function uses only what the attacker may read (the
// socket file, through Windows' traverse bypass as the emulation itself does) and the kernel API,
// and never waits for its peer: everything the protocol needs is sent up front.
//
//   cygwin-2014   connect: send the file's secret and any creds in one go (self-reported creds).
//                 squat + accept: bind the dead server's port, answer with the file's secret.
//   proposal-1    the same with the client secret / the server secret.
//   proposal-2    connect: register a slot with any creds (needs write permission on the file);
//                 squat: bind the dead server's port (clients still read slot 0's creds).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "emu_types.h"
#include "slot_table.h"
#include "socket_file.h"

#define ADVERSARY_EXPORT extern "C" __attribute__((visibility("default")))

using namespace afunix_emu;

namespace {

int fail(int err) {
  errno = err;
  return -1;
}

bool handshake_off() {
  const char* nh = std::getenv("AFUNIX_EMU_NOHANDSHAKE");
  return nh && *nh && std::strcmp(nh, "0") != 0;
}

// Runs fn on path, and again through the traverse link if the path is refused.
template <typename F>
int reach(const char* path, F fn) {
  int err = fn(path);
  char link[4096];
  if (err == EACCES && traverse_link_for(path, link, sizeof link)) err = fn(link);
  return err;
}

// What the socket file tells a reader: which design made it, port, type, secrets (proposal-2:
// slot 0's port).
struct Target {
  Design design = Design::kCygwin2014;
  SocketFile f;
};

int read_target(const char* path, Target* t) {
  char buf[kSocketFileMax];
  size_t len = 0;
  int err = reach(path, [&](const char* p) { return read_socket_file(p, O_RDONLY, buf, sizeof buf, &len); });
  if (err) return err;
  if (len >= kTableMagicLen && std::memcmp(buf, kTableMagic, kTableMagicLen) == 0) {
    t->design = Design::kProposal2;
    Slot server;
    int type = 0;
    err = reach(path, [&](const char* p) { return table_read_server(p, &type, &server); });
    if (err) return err;
    t->f.port = server.port;
    t->f.type = type;
    return 0;
  }
  if ((err = parse_socket_file(buf, len, &t->f)) != 0) return err;
  t->design = t->f.has_client_secret ? Design::kProposal1 : Design::kCygwin2014;
  return 0;
}

bool send_all(int fd, const uint8_t* p, size_t len) {
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Sends secret and creds as one 28-byte packet.
bool send_secret_and_creds(int fd, const Secret& s, const Cred& c) {
  uint8_t packet[kSecretBytes + kCredBytes];
  encode_secret(s, packet);
  encode_cred(c, packet + kSecretBytes);
  return send_all(fd, packet, sizeof packet);
}

int connect_as(const char* path, int type, const Cred& creds) {
  if (!path) return fail(EFAULT);
  Target t;
  if (int err = read_target(path, &t)) return fail(err);
  int fd = ::socket(AF_INET, (type == SOCK_DGRAM ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int err = 0;
  sockaddr_in sin = loopback(t.f.port);
  if (t.design == Design::kProposal2 && type != SOCK_DGRAM) {
    // Bind first, then claim to be whoever we like in a slot of the table.
    sockaddr_in mine = loopback(0);
    socklen_t len = sizeof mine;
    Slot server{};
    if (::bind(fd, reinterpret_cast<sockaddr*>(&mine), sizeof mine) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &len) != 0) {
      err = errno;
    } else {
      Slot slot{ntohs(mine.sin_port), creds, static_cast<int64_t>(::time(nullptr))};
      err = reach(path, [&](const char* p) { return table_register(p, SOCK_STREAM, slot, &server); });
      sin = loopback(server.port);
    }
  }
  if (err == 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) err = errno;
  if (err == 0 && type != SOCK_DGRAM && t.design != Design::kProposal2 && !handshake_off()) {
    // cygwin-2014's server reads secret, sends its own, reads creds: both can go now.
    const Secret& secret = t.design == Design::kProposal1 ? t.f.client_secret : t.f.secret;
    if (!send_secret_and_creds(fd, secret, creds)) err = errno ? errno : EPIPE;
  }
  if (err == 0) return fd;
  ::close(fd);
  return fail(err);
}

}  // namespace

ADVERSARY_EXPORT int afunix_adversary_connect_via_file(const char* path, int type) {
  return connect_as(path, type, current_cred());
}

ADVERSARY_EXPORT int afunix_adversary_connect_forged(const char* path, int type, int pid,
                                                     unsigned uid, unsigned gid) {
  return connect_as(path, type, Cred{pid, uid, gid});
}

ADVERSARY_EXPORT int afunix_adversary_squat(const char* path, int type) {
  if (!path) return fail(EFAULT);
  Target t;
  if (int err = read_target(path, &t)) return fail(err);
  bool dgram = type == SOCK_DGRAM;
  int fd = ::socket(AF_INET, (dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sin = loopback(t.f.port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      (!dgram && ::listen(fd, 8) != 0)) {
    int err = errno;
    ::close(fd);
    return fail(err);
  }
  return fd;
}

ADVERSARY_EXPORT int afunix_adversary_accept(int squat_fd, const char* path) {
  int c = ::accept4(squat_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0 || handshake_off()) return c;
  // Play the server: its secret (read from the file) and our own creds, without waiting for the
  // client's half, which stays in the socket for the attacker to read.
  Target t;
  if (!path || read_target(path, &t) != 0) t.f.secret = Secret{{0, 0, 0, 0}};
  if (t.design == Design::kProposal2) return c;  // nothing is exchanged over TCP
  if (!send_secret_and_creds(c, t.f.secret, current_cred())) {
    int err = errno ? errno : EPIPE;
    ::close(c);
    return fail(err);
  }
  return c;
}

ADVERSARY_EXPORT long afunix_adversary_send_datagram(const char* path, const void* buf,
                                                     unsigned long len) {
  if (!path) return fail(EFAULT);
  Target t;
  if (int err = read_target(path, &t)) return fail(err);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sin = loopback(t.f.port);
  long n = ::sendto(fd, buf, len, 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  int err = errno;
  ::close(fd);
  errno = err;
  return n;
}
