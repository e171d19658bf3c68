// Interposition of the socket calls: every AF_UNIX socket becomes a loopback TCP (stream) or UDP
// (datagram) socket and each call does what the library's design (kDesign, design.h) would do.
// Other address families pass through. The exchange a connection runs is driven in drive.cc; the
// mirror of "bypass traverse checking" is in traverse.cc.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "drive.h"
#include "exchange.h"
#include "shim.h"
#include "slot_table.h"
#include "socket_file.h"
#include "traverse.h"

namespace afunix_emu {
namespace {

// Binds fd to 127.0.0.1:0 and reports the port.
int bind_loopback(int fd, uint16_t* port) {
  sockaddr_in sin = loopback(0);
  if (real.bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) return errno;
  socklen_t len = sizeof sin;
  if (real.getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) return errno;
  *port = ntohs(sin.sin_port);
  return 0;
}

// The absolute path of the socket file, so accept() finds it after a chdir().
void absolute_path(const char* path, char* out, size_t cap) {
  if (path[0] == '/') {
    std::snprintf(out, cap, "%s", path);
    return;
  }
  char cwd[kFileBytes];
  if (!getcwd(cwd, sizeof cwd) ||
      std::snprintf(out, cap, "%s/%s", cwd, path) >= static_cast<int>(cap))
    std::snprintf(out, cap, "%s", path);
}

mode_t current_umask() {
  // /proc/self/status has it without changing it (umask() would, racing other threads).
  int fd = raw_open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[2048];
    ssize_t n = real.read(fd, buf, sizeof buf - 1);
    real.close(fd);
    if (n > 0) {
      buf[n] = '\0';
      if (const char* p = std::strstr(buf, "\nUmask:")) {
        unsigned m = 0;
        if (std::sscanf(p + 7, "%o", &m) == 1) return static_cast<mode_t>(m);
      }
    }
  }
  mode_t m = ::umask(022);
  ::umask(m);
  return m;
}

// ---- the socket file's target ------------------------------------------------------------------

// What connect()/sendto() learn from a socket file.
struct Target {
  uint16_t port = 0;
  int type = 0;
  Secret secret{};
  Secret client_secret{};
};

// Reads the socket file at path for this design. cygwin-2014/proposal-1 open it for reading only
// (Cygwin's connect needs read, not write, permission); proposal-2's datagram sendto reads slot 0.
int read_target(const char* path, Target* t) {
  if (kDesign.connection_table) {
    Slot server;
    if (int err = reach(path, [&](const char* p) { return table_read_server(p, &t->type, &server); }))
      return err;
    t->port = server.port;
    return 0;
  }
  char buf[kSocketFileMax];
  size_t len = 0;
  if (int err = reach(path, [&](const char* p) {
        return read_socket_file(p, O_RDONLY, buf, sizeof buf, &len);
      }))
    return err;
  SocketFile f;
  if (int err = parse_socket_file(buf, len, &f)) return err;
  if (kDesign.client_secret && !f.has_client_secret) return EBADF;
  t->port = f.port;
  t->type = f.type;
  t->secret = f.secret;
  t->client_secret = f.client_secret;
  return 0;
}

// Where a datagram goes: the made-up peer name, or the port in the socket file.
int datagram_destination(const sockaddr* sa, socklen_t len, sockaddr_in* out, char* path_out,
                         bool check_type) {
  UnixAddr a;
  if (int err = parse_connect_addr(sa, len, &a)) return err;
  if (a.kind == AddrKind::kUnspec) return EAFNOSUPPORT;
  if (a.kind == AddrKind::kDgramName) {
    *out = loopback(a.port);
    if (path_out) path_out[0] = '\0';
    return 0;
  }
  Target t;
  if (int err = read_target(a.path, &t)) return err;
  if (check_type && t.type != SOCK_DGRAM) return EPROTOTYPE;
  *out = loopback(t.port);
  if (path_out) std::snprintf(path_out, kPathBytes, "%s", a.path);
  return 0;
}

}  // namespace

// ---- addresses shared with io.cc -------------------------------------------------------------

// The address a received datagram came from, as Cygwin names it; stream peers by connect()'s path.
void peer_name_out(const SockState* st, const sockaddr_in* from, sockaddr* addr, socklen_t* len) {
  if (!addr || !len) return;
  sockaddr_un u;
  socklen_t full;
  if (st->type == SOCK_DGRAM && from)
    full = make_dgram_name(ntohs(from->sin_port), &u);
  else
    full = make_path_addr(st->peer_path, &u);
  copy_addr_out(u, full, addr, len);
}

int resolve_send_destination(SockState* st, const sockaddr* dest, socklen_t len, sockaddr_in* out,
                             bool* use) {
  *use = false;
  if (!dest) return 0;
  if (int err = datagram_destination(dest, len, out, nullptr, false)) return err;
  *use = st->type == SOCK_DGRAM;  // Winsock ignores the address on a stream socket
  return 0;
}

}  // namespace afunix_emu

using namespace afunix_emu;

// ---- socket, socketpair -------------------------------------------------------------------------

namespace {

int base_type(int type) { return type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC); }

SockState fresh_state(int fd, int type) {
  SockState st;
  init_state(&st, static_cast<uint8_t>(kDesign.id), type);
  st.ino = socket_inode(fd);
  if (forced_no_handshake() && type == SOCK_STREAM) st.flags |= kNoHandshake;
  return st;
}

}  // namespace

AFUNIX_EXPORT int socket(int domain, int type, int protocol) __THROW {
  ensure_real();
  if (domain != AF_UNIX) return real.socket(domain, type, protocol);
  int base = base_type(type);
  if (base != SOCK_STREAM && base != SOCK_DGRAM) return fail(ESOCKTNOSUPPORT);
  int fd = real.socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  if (!attach(fd, fresh_state(fd, base))) {
    real.close(fd);
    return fail(EMFILE);
  }
  debug("socket(AF_UNIX, %s) = %d", base == SOCK_STREAM ? "stream" : "dgram", fd);
  return fd;
}

AFUNIX_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) __THROW {
  ensure_real();
  if (domain != AF_UNIX) return real.socketpair(domain, type, protocol, sv);
  int base = base_type(type);
  if (base != SOCK_STREAM && base != SOCK_DGRAM) return fail(ESOCKTNOSUPPORT);
  int cloexec = type & SOCK_CLOEXEC;
  int a = -1, b = -1, err = 0;
  if (base == SOCK_STREAM) {
    // Cygwin: a loopback listener, connect, accept; the peer is not verified.
    int l = real.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;
    if (l < 0) return -1;
    if ((err = bind_loopback(l, &port)) == 0 && real.listen(l, 1) != 0) err = errno;
    if (err == 0 && (a = real.socket(AF_INET, SOCK_STREAM | cloexec, 0)) < 0) err = errno;
    if (err == 0) {
      sockaddr_in sin = loopback(port);
      if (real.connect(a, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) err = errno;
    }
    if (err == 0 && (b = real.accept4(l, nullptr, nullptr, cloexec)) < 0) err = errno;
    real.close(l);
  } else {
    uint16_t pa = 0, pb = 0;
    if ((a = real.socket(AF_INET, SOCK_DGRAM | cloexec, 0)) < 0 ||
        (b = real.socket(AF_INET, SOCK_DGRAM | cloexec, 0)) < 0)
      err = errno;
    if (err == 0) err = bind_loopback(a, &pa);
    if (err == 0) err = bind_loopback(b, &pb);
    if (err == 0) {
      sockaddr_in sa = loopback(pb), sb = loopback(pa);
      if (real.connect(a, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
          real.connect(b, reinterpret_cast<sockaddr*>(&sb), sizeof sb) != 0)
        err = errno;
    }
  }
  if (err == 0 && (type & SOCK_NONBLOCK)) {
    real.fcntl(a, F_SETFL, real.fcntl(a, F_GETFL) | O_NONBLOCK);
    real.fcntl(b, F_SETFL, real.fcntl(b, F_GETFL) | O_NONBLOCK);
  }
  if (err != 0) {
    if (a >= 0) real.close(a);
    if (b >= 0) real.close(b);
    return fail(err);
  }
  for (int fd : {a, b}) {
    SockState st = fresh_state(fd, base);
    st.flags = kPair;
    st.phase = Phase::kConnected;
    if (base == SOCK_STREAM) {
      // Cygwin's af_local_set_sockpair_cred: both ends report their creator.
      st.own = st.peer = current_cred();
      st.flags |= kPeerValid;
    }
    attach(fd, st);
  }
  sv[0] = a;
  sv[1] = b;
  return 0;
}

// ---- bind, listen --------------------------------------------------------------------------------

AFUNIX_EXPORT int bind(int fd, const sockaddr* addr, socklen_t len) __THROW {
  ensure_real();
  SockState* st = lookup_checked(fd);
  if (!st) return real.bind(fd, addr, len);
  UnixAddr a;
  if (int err = parse_bind_addr(addr, len, &a)) return fail(err);
  // Checked before the loopback bind so the application may try another name (Cygwin).
  struct stat sb;
  if (raw_lstat(a.path, &sb) == 0) return fail(EADDRINUSE);
  if (errno != ENOENT) return -1;
  // Cygwin's path_conv fails a path whose directory is missing (or that names a directory with a
  // trailing slash) before anything is bound; only a missing last component is a name to create.
  {
    size_t n = std::strlen(a.path);
    if (a.path[n - 1] == '/') return fail(ENOENT);
    char dir[kPathBytes];
    std::memcpy(dir, a.path, n + 1);
    char* slash = std::strrchr(dir, '/');
    if (slash) {
      if (slash == dir) slash[1] = '\0';
      else *slash = '\0';
      if (::stat(dir, &sb) != 0) return -1;
      if (!S_ISDIR(sb.st_mode)) return fail(ENOTDIR);
    }
  }
  if (st->flags & kTcpBound) return fail(EINVAL);
  uint16_t port = 0;
  if (int err = bind_loopback(fd, &port)) return fail(err);
  st->flags |= kTcpBound;
  st->tcp_port = port;

  mode_t mode = adjust_socket_mode(0777 & ~current_umask());
  int err;
  if (kDesign.connection_table) {
    Slot server{port, current_cred(), static_cast<int64_t>(::time(nullptr))};
    err = table_create(a.path, mode, st->type, server);
  } else {
    SocketFile f;
    f.port = port;
    f.type = st->type;
    if ((err = random_secret(&f.secret)) == 0 && kDesign.client_secret) {
      f.has_client_secret = true;
      err = random_secret(&f.client_secret);
    }
    char content[kSocketFileMax];
    size_t clen = err == 0 ? format_socket_file(f, content, sizeof content) : 0;
    if (err == 0 && clen == 0) err = EINVAL;
    if (err == 0) err = create_socket_file(a.path, mode, content, clen);
    st->secret = f.secret;
    st->client_secret = f.client_secret;
  }
  // The loopback port stays bound even when the file cannot be made, as in Cygwin.
  if (err == EEXIST) err = EADDRINUSE;
  if (err != 0) return fail(err);
  std::snprintf(st->path, sizeof st->path, "%s", a.path);
  absolute_path(a.path, st->file, sizeof st->file);
  st->phase = Phase::kBound;
  publish_mirror(a.path);
  debug("bind(%d, %s) -> 127.0.0.1:%u", fd, a.path, port);
  return 0;
}

AFUNIX_EXPORT int listen(int fd, int backlog) __THROW {
  ensure_real();
  SockState* st = lookup_checked(fd);
  if (!st) return real.listen(fd, backlog);
  // TCP would bind an unbound socket to a port on every interface; Winsock (and Linux AF_UNIX)
  // refuse.
  if (st->type == SOCK_STREAM && !(st->flags & kTcpBound) && st->phase == Phase::kFresh)
    return fail(EINVAL);
  if (real.listen(fd, backlog) != 0) return -1;
  st->own = current_cred();  // Cygwin captures the server's creds at listen()
  st->phase = Phase::kListening;
  return 0;
}

// ---- connect --------------------------------------------------------------------------------------

namespace {

int stream_connect(int fd, SockState* st, const UnixAddr& a) {
  if (a.kind == AddrKind::kUnspec) return EINVAL;
  if (a.kind == AddrKind::kDgramName) return EPROTOTYPE;
  bool nb = is_nonblocking(fd);
  Cred own = current_cred();  // captured at connect(), before anything can block
  sockaddr_in sin;

  if (kDesign.connection_table) {
    // Nothing to register for a socket that is connected or listening already.
    if (st->phase == Phase::kConnected || st->phase == Phase::kBroken) return EISCONN;
    if (st->phase == Phase::kListening) return EINVAL;
    // Bind first so the port is known, register (port, creds, timestamp) under the file lock.
    if (!(st->flags & kTcpBound)) {
      if (int err = bind_loopback(fd, &st->tcp_port)) return err;
      st->flags |= kTcpBound;
    }
    Slot server;
    Slot mine{st->tcp_port, own, static_cast<int64_t>(::time(nullptr))};
    const char* table = a.path;
    char mirror[kFileBytes];
    bool creds = !(st->flags & kNoHandshake);
    int type = 0;
    // Without credentials nothing is registered: the table is only read for the server's port.
    auto registration = [&](const char* p) {
      if (creds) return table_register(p, SOCK_STREAM, mine, &server);
      int e = table_read_server(p, &type, &server);
      return e == 0 && type != SOCK_STREAM ? EPROTOTYPE : e;
    };
    int err = registration(table);
    if (err == EACCES && traverse_link_for(a.path, mirror, sizeof mirror)) {
      err = reach(a.path, registration);
      if (err == 0) table = mirror;
    }
    if (err != 0) return err;
    sin = loopback(server.port);
    if (real.connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 &&
        errno != EINPROGRESS) {
      err = errno;
      if (err != EINTR && creds) table_release(table, st->tcp_port);
      return err;
    }
    st->own = own;
    if (creds) {
      st->peer = server.cred;
      st->flags |= kPeerValid;
    }
    std::snprintf(st->peer_path, sizeof st->peer_path, "%s", a.path);
    st->phase = Phase::kConnected;
    return nb ? EINPROGRESS : 0;
  }

  Target t;
  if (int err = read_target(a.path, &t)) return err;
  if (t.type != st->type) return EPROTOTYPE;
  st->own = own;
  st->secret = t.secret;
  st->client_secret = t.client_secret;
  kDesign.start_client_exchange(&st->ex, t.secret, t.client_secret, own);
  sin = loopback(t.port);
  if (real.connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    int err = errno;
    if (err == EINPROGRESS || err == EINTR) {
      std::snprintf(st->peer_path, sizeof st->peer_path, "%s", a.path);
      st->phase = Phase::kTcpConnecting;
      // A nonblocking TCP connect always says EINPROGRESS, but on loopback the connection is up
      // by now: a design that sends its packet at connect sends it now.
      if (err == EINPROGRESS && kDesign.packet_at_nonblocking_connect) {
        int e = finish_tcp_connect(fd, st, false);
        if (e != 0 && e != EAGAIN) return e;
      }
    }
    return err;
  }
  std::snprintf(st->peer_path, sizeof st->peer_path, "%s", a.path);
  return after_tcp_connect(fd, st, nb);
}

int datagram_connect(int fd, SockState* st, const sockaddr* addr, socklen_t len) {
  UnixAddr a;
  if (int err = parse_connect_addr(addr, len, &a)) return err;
  if (a.kind == AddrKind::kUnspec) {
    sockaddr unspec;
    std::memset(&unspec, 0, sizeof unspec);
    unspec.sa_family = AF_UNSPEC;
    if (real.connect(fd, &unspec, sizeof unspec) != 0) return errno;
    st->peer_path[0] = '\0';
    st->phase = st->path[0] ? Phase::kBound : Phase::kFresh;
    return 0;
  }
  sockaddr_in sin;
  char path[kPathBytes];
  if (int err = datagram_destination(addr, len, &sin, path, true)) return err;
  if (real.connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) return errno;
  std::snprintf(st->peer_path, sizeof st->peer_path, "%s", path);
  st->phase = Phase::kConnected;
  return 0;
}

}  // namespace

AFUNIX_EXPORT int connect(int fd, const sockaddr* addr, socklen_t len) {
  ensure_real();
  SockState* st = lookup_checked(fd);
  if (!st) return real.connect(fd, addr, len);
  int err;
  if (st->type == SOCK_DGRAM) {
    err = datagram_connect(fd, st, addr, len);
  } else if (pending(st) && !(st->flags & kConnectOk)) {
    err = resume_connect(fd, st);
  } else {
    UnixAddr a;
    err = parse_connect_addr(addr, len, &a);
    if (err == 0) err = stream_connect(fd, st, a);
  }
  debug("connect(%d) -> %s", fd, err ? std::strerror(err) : "ok");
  if (err == 0) st->flags |= kConnectOk;
  return err ? fail(err) : 0;
}

// ---- accept ---------------------------------------------------------------------------------------

namespace {

int accept_common(int fd, sockaddr* addr, socklen_t* addrlen, int flags, bool is_accept4) {
  SockState* st = lookup_checked(fd);
  if (!st) {
    return is_accept4 ? real.accept4(fd, addr, addrlen, flags) : real.accept(fd, addr, addrlen);
  }
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return fail(EINVAL);
  if (st->type != SOCK_STREAM || st->phase != Phase::kListening) {
    // Let the kernel say what is wrong (EOPNOTSUPP for UDP, EINVAL when not listening).
    return real.accept4(fd, nullptr, nullptr, flags);
  }

  int c;
  Exchange ex{};
  if (st->stash_fd >= 0) {  // a connection whose exchange an earlier accept() left half done
    c = st->stash_fd;
    ex = st->stash_ex;
    st->stash_fd = -1;
  } else {
    c = real.accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return -1;
    // A design without an exchange (a connection table) claims the client's slot below instead.
    if (kDesign.start_server_exchange)
      kDesign.start_server_exchange(&ex, st->secret, st->client_secret, st->own);
  }

  SockState ns;
  init_state(&ns, static_cast<uint8_t>(kDesign.id), SOCK_STREAM);
  ns.ino = socket_inode(c);
  ns.phase = Phase::kConnected;
  ns.flags = static_cast<uint16_t>(kAccepted | (st->flags & kNoHandshake));
  std::memcpy(ns.path, st->path, sizeof ns.path);  // Cygwin: the listener's name
  std::memcpy(ns.file, st->file, sizeof ns.file);
  ns.own = st->own;
  ns.secret = st->secret;
  ns.client_secret = st->client_secret;

  int err = 0;
  if (needs_exchange(&ns)) {
    int r;
    {
      ForcedBlocking blocking(c);
      r = ex_drive(&ex, c, kIo, DriveGoal::kDone, false);
    }
    if (r == 0) {
      ns.peer = ex.peer;
      ns.flags |= kPeerValid;
    } else if (r == -1) {
      err = errno;
    } else {
      debug("accept(%d): exchange failed (%d): connection dropped", fd,
            static_cast<int>(ex.failure));
      err = ECONNABORTED;
    }
  } else if (kDesign.connection_table && !(ns.flags & kNoHandshake)) {
    sockaddr_in peer;
    socklen_t plen = sizeof peer;
    Slot slot;
    if (real.getpeername(c, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) {
      err = ECONNABORTED;
    } else {
      int e = table_claim(st->file, ntohs(peer.sin_port), &slot);
      if (e == 0) {
        ns.peer = slot.cred;
        ns.flags |= kPeerValid;
      } else if (e == EINTR) {
        err = EINTR;
      } else {
        debug("accept(%d): no slot for port %u (%s): connection dropped", fd,
              ntohs(peer.sin_port), std::strerror(e));
        err = ECONNABORTED;
      }
    }
  }
  if (err == EINTR || err == EAGAIN) {
    st->stash_fd = c;  // resumed by the next accept()
    st->stash_ex = ex;
    return fail(EINTR);
  }
  if (err != 0) {
    real.shutdown(c, SHUT_RDWR);
    real.close(c);
    return fail(err);
  }
  if (!attach(c, ns)) {
    real.close(c);
    return fail(EMFILE);
  }
  if (flags & SOCK_NONBLOCK) real.fcntl(c, F_SETFL, real.fcntl(c, F_GETFL) | O_NONBLOCK);
  if (!(flags & SOCK_CLOEXEC)) real.fcntl(c, F_SETFD, 0);
  if (addr && addrlen) {
    // Cygwin: "we have no way to determine the bound socket name of the peer": family only.
    sockaddr_un u;
    copy_addr_out(u, make_path_addr("", &u), addr, addrlen);
  }
  debug("accept(%d) = %d", fd, c);
  return c;
}

}  // namespace

AFUNIX_EXPORT int accept(int fd, sockaddr* addr, socklen_t* addrlen) {
  ensure_real();
  return accept_common(fd, addr, addrlen, 0, false);
}

AFUNIX_EXPORT int accept4(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
  ensure_real();
  return accept_common(fd, addr, addrlen, flags, true);
}

// ---- names ----------------------------------------------------------------------------------------

AFUNIX_EXPORT int getsockname(int fd, sockaddr* addr, socklen_t* len) __THROW {
  ensure_real();
  SockState* st = lookup_checked(fd);
  if (!st) return real.getsockname(fd, addr, len);
  if (!len) return fail(EFAULT);
  sockaddr_un u;
  copy_addr_out(u, make_path_addr(st->path, &u), addr, len);
  return 0;
}

AFUNIX_EXPORT int getpeername(int fd, sockaddr* addr, socklen_t* len) __THROW {
  ensure_real();
  SockState* st = lookup_checked(fd);
  if (!st) return real.getpeername(fd, addr, len);
  sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  // TCP forgets its peer once both sides have closed; the emulated socket stays connected, as an
  // AF_UNIX socket does.
  if (real.getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0 &&
      !(errno == ENOTCONN && (st->phase == Phase::kConnected || st->phase == Phase::kBroken ||
                              st->phase == Phase::kExchanging)))
    return -1;
  if (!len) return fail(EFAULT);
  sockaddr_un u;
  copy_addr_out(u, make_path_addr(st->peer_path, &u), addr, len);
  return 0;
}

// ---- options --------------------------------------------------------------------------------------

namespace {

int put_int(void* optval, socklen_t* optlen, int v) {
  if (!optval || !optlen) return fail(EFAULT);
  socklen_t n = *optlen < sizeof(int) ? *optlen : static_cast<socklen_t>(sizeof(int));
  std::memcpy(optval, &v, n);
  *optlen = n;
  return 0;
}

int peercred(int fd, SockState* st, void* optval, socklen_t* optlen) {
  if (st->type != SOCK_STREAM) return fail(EINVAL);
  if (st->flags & kNoHandshake) return fail(ENOTSUP);
  if (pending(st)) {
    if (int err = prepare_peercred(fd, st)) return fail(err);
  }
  if (st->phase != Phase::kConnected || !(st->flags & kPeerValid)) return fail(ENOTCONN);
  if (!optval || !optlen) return fail(EFAULT);
  // Cygwin stores a whole struct ucred through optval and leaves optlen alone; the model leaves
  // optlen alone too but writes no more than optlen bytes, so a short buffer is not overrun.
  struct ucred uc;
  uc.pid = st->peer.pid;
  uc.uid = st->peer.uid;
  uc.gid = st->peer.gid;
  socklen_t n = *optlen < sizeof uc ? *optlen : static_cast<socklen_t>(sizeof uc);
  std::memcpy(optval, &uc, n);
  return 0;
}

// The SOL_SOCKET options Winsock has (plus SO_PEERCRED, which Cygwin adds). Everything else at
// that level is ENOPROTOOPT on an emulated socket, whatever Linux's TCP or UDP would say.
bool winsock_option(int name) {
  switch (name) {
    case SO_DEBUG: case SO_ACCEPTCONN: case SO_REUSEADDR: case SO_KEEPALIVE: case SO_DONTROUTE:
    case SO_BROADCAST: case SO_LINGER: case SO_OOBINLINE: case SO_SNDBUF: case SO_RCVBUF:
    case SO_SNDLOWAT: case SO_RCVLOWAT: case SO_ERROR: case SO_TYPE:
#ifdef SO_RCVTIMEO_OLD
    case SO_RCVTIMEO_OLD: case SO_SNDTIMEO_OLD:
#endif
#ifdef SO_RCVTIMEO_NEW
    case SO_RCVTIMEO_NEW: case SO_SNDTIMEO_NEW:
#endif
#if !defined(SO_RCVTIMEO_OLD) && !defined(SO_RCVTIMEO_NEW)
    case SO_RCVTIMEO: case SO_SNDTIMEO:
#endif
      return true;
    default:
      return false;
  }
}

}  // namespace

AFUNIX_EXPORT int getsockopt(int fd, int level, int name, void* optval, socklen_t* optlen) __THROW {
  ensure_real();
  SockState* st = level == SOL_SOCKET ? lookup_checked(fd) : nullptr;
  if (!st) return real.getsockopt(fd, level, name, optval, optlen);
  switch (name) {
    case SO_PEERCRED: return peercred(fd, st, optval, optlen);
    case SO_DOMAIN: return put_int(optval, optlen, AF_UNIX);
    case SO_PROTOCOL: return put_int(optval, optlen, 0);
    default:
      if (!winsock_option(name)) return fail(ENOPROTOOPT);
      return real.getsockopt(fd, level, name, optval, optlen);
  }
}

AFUNIX_EXPORT int setsockopt(int fd, int level, int name, const void* optval,
                             socklen_t optlen) __THROW {
  ensure_real();
  SockState* st = level == SOL_SOCKET ? lookup_checked(fd) : nullptr;
  if (!st) return real.setsockopt(fd, level, name, optval, optlen);
  if (name == SO_PEERCRED) {
    // Cygwin's switch to turn the handshake off (postfix, Cygwin's Python): NULL, 0 only, on a
    // stream socket that is neither connected nor listening.
    if (optval || optlen || st->type != SOCK_STREAM) return fail(EINVAL);
    if (st->phase != Phase::kFresh && st->phase != Phase::kBound) return fail(EALREADY);
    st->flags |= kNoHandshake;
    return 0;
  }
  if (name == SO_REUSEADDR && st->type == SOCK_STREAM) return 0;  // noted, not passed (Cygwin)
  if (!winsock_option(name)) return fail(ENOPROTOOPT);
  return real.setsockopt(fd, level, name, optval, optlen);
}

// ---- shutdown -------------------------------------------------------------------------------------

AFUNIX_EXPORT int shutdown(int fd, int how) __THROW {
  ensure_real();
  SockState* st = lookup_checked(fd);
  if (!st) return real.shutdown(fd, how);
  if (real.shutdown(fd, how) == 0) return 0;
  // Winsock only shuts down connected sockets; Cygwin fakes success like Linux.
  if (errno == ENOTCONN) return 0;
  return -1;
}
