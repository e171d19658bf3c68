// Driving the exchange of a stream connection (drive.h): connect(), the first send or recv and
// SO_PEERCRED move it on, in forced blocking mode or in the application's, as the design chooses.
#include "drive.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "shim.h"

namespace afunix_emu {
namespace {

ssize_t io_send(int fd, const void* buf, size_t len, int flags) {
  return real.send(fd, buf, len, flags);
}
ssize_t io_recv(int fd, void* buf, size_t len, int flags) { return real.recv(fd, buf, len, flags); }

}  // namespace

const ExIo kIo = {io_send, io_recv};

bool is_nonblocking(int fd) {
  int fl = real.fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK) != 0;
}

// ---- the exchange ---------------------------------------------------------------------------------

bool needs_exchange(const SockState* st) {
  return !kDesign.connection_table && !(st->flags & kNoHandshake);
}

// Turns an ex_drive() result into the socket's new phase and an errno (0 when the goal was met).
static int settle(int fd, SockState* st, int r) {
  if (r == 0) {
    if (ex_status(st->ex) == ExStatus::kDone) {
      st->phase = Phase::kConnected;
      st->peer = st->ex.peer;
      st->flags |= kPeerValid;
    }
    return 0;
  }
  if (r == -1) return errno;  // EINTR or EAGAIN: resumable
  debug("fd %d: exchange failed (%d)", fd, static_cast<int>(st->ex.failure));
  real.shutdown(fd, SHUT_RDWR);
  st->phase = Phase::kBroken;
  return kDesign.exchange_refused_errno;
}

static int drive_forced(int fd, SockState* st, DriveGoal goal) {
  ForcedBlocking blocking(fd);
  return settle(fd, st, ex_drive(&st->ex, fd, kIo, goal, false));
}

// A TCP connect still in progress: wait for it (block) or look (not block). 0 once connected.
int finish_tcp_connect(int fd, SockState* st, bool block) {
  pollfd p{fd, POLLOUT, 0};
  int r = ::poll(&p, 1, block ? -1 : 0);
  if (r < 0) return errno;
  if (r == 0) return EAGAIN;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) return errno;
  if (soerr != 0) {
    st->phase = st->path[0] ? Phase::kBound : Phase::kFresh;
    st->peer_path[0] = '\0';
    return soerr;
  }
  if (!needs_exchange(st)) {
    st->phase = Phase::kConnected;
    return 0;
  }
  st->phase = Phase::kExchanging;
  // Put the opening bytes on the wire now so the server's accept() can proceed.
  int sent = settle(fd, st, ex_drive(&st->ex, fd, kIo, DriveGoal::kSendsFlushed, true));
  return sent == EAGAIN || sent == EINTR ? 0 : sent;
}

// Before data goes out: a design with forced blocking completes its exchange (as Cygwin does when
// it first sees FD_CONNECT); otherwise only the socket's own packet must have gone first.
static int prepare_send(int fd, SockState* st) {
  st = lookup_checked(fd);
  if (!st) return 0;
  if (st->phase == Phase::kTcpConnecting) {
    bool block = kDesign.exchange_forced_blocking || !is_nonblocking(fd);
    if (int err = finish_tcp_connect(fd, st, block)) return err;
  }
  if (st->phase != Phase::kExchanging) return 0;
  return drive_forced(fd, st, kDesign.exchange_forced_blocking ? DriveGoal::kDone
                                                              : DriveGoal::kSendsFlushed);
}

// Before data comes in: the exchange must be complete, in forced blocking mode or in the
// application's (EAGAIN while the peer's packet is not there yet).
static int prepare_recv(int fd, SockState* st, bool dontwait) {
  st = lookup_checked(fd);
  if (!st) return 0;
  bool forced = kDesign.exchange_forced_blocking;
  bool nb = !forced && (dontwait || is_nonblocking(fd));
  if (st->phase == Phase::kTcpConnecting) {
    if (int err = finish_tcp_connect(fd, st, !nb)) return err;
  }
  if (st->phase != Phase::kExchanging) return 0;
  if (forced) return drive_forced(fd, st, DriveGoal::kDone);
  if (!nb) return drive_forced(fd, st, DriveGoal::kDone);
  return settle(fd, st, ex_drive(&st->ex, fd, kIo, DriveGoal::kDone, true));
}

// SO_PEERCRED (getpeereid) completes a pending exchange, blocking.
int prepare_peercred(int fd, SockState* st) {
  if (st->phase == Phase::kTcpConnecting) {
    if (int err = finish_tcp_connect(fd, st, true)) return err;
  }
  if (st->phase != Phase::kExchanging) return 0;
  return drive_forced(fd, st, DriveGoal::kDone);
}

bool pending(const SockState* st) {
  return st->phase == Phase::kExchanging || st->phase == Phase::kTcpConnecting;
}

// Shared with io.cc.
int before_send(int fd, SockState* st, int flags) {
  if (flags & MSG_OOB) return EOPNOTSUPP;
  switch (st->phase) {
    case Phase::kConnected:
    case Phase::kBroken:
      return 0;
    case Phase::kExchanging:
    case Phase::kTcpConnecting:
      return prepare_send(fd, st);
    default:
      // Winsock refuses to send on an unconnected stream socket (TCP would raise SIGPIPE).
      return st->type == SOCK_STREAM ? ENOTCONN : 0;
  }
}

int before_recv(int fd, SockState* st, int flags) {
  if (flags & MSG_OOB) return EOPNOTSUPP;
  if (st->type == SOCK_DGRAM && (flags & MSG_WAITALL)) return EOPNOTSUPP;
  if (!pending(st)) return 0;
  return prepare_recv(fd, st, (flags & MSG_DONTWAIT) != 0);
}


// ---- connect ---------------------------------------------------------------------------------------

// The TCP connection is up: start the design's exchange.
int after_tcp_connect(int fd, SockState* st, bool nonblocking) {
  if (!needs_exchange(st)) {
    st->phase = Phase::kConnected;
    return nonblocking ? EINPROGRESS : 0;
  }
  st->phase = Phase::kExchanging;
  if (kDesign.exchange_forced_blocking) {
    if (nonblocking) {
      // The handshake will run in the first send/recv (forced blocking); the secret goes now so
      // that a server in accept() is not kept waiting.
      int r = settle(fd, st, ex_drive(&st->ex, fd, kIo, DriveGoal::kSendsFlushed, true));
      return r == 0 || r == EAGAIN ? EINPROGRESS : r;
    }
    return drive_forced(fd, st, DriveGoal::kDone);
  }
  // Otherwise: send the client's packet right away; verify the server's later.
  int r = drive_forced(fd, st, DriveGoal::kSendsFlushed);
  if (r != 0) return r;
  return nonblocking ? EINPROGRESS : 0;
}

// connect() again on a socket whose earlier connect was interrupted (blocking) or is still in
// progress (nonblocking). Blocking: finish and return 0. Nonblocking: EALREADY while in progress,
// then EISCONN, as TCP says.
int resume_connect(int fd, SockState* st) {
  bool nb = is_nonblocking(fd);
  if (st->phase == Phase::kTcpConnecting) {
    int err = finish_tcp_connect(fd, st, !nb);
    if (err == EAGAIN) return EALREADY;
    if (err != 0) return err;
  }
  if (st->phase == Phase::kExchanging && kDesign.exchange_forced_blocking) {
    if (!nb) return drive_forced(fd, st, DriveGoal::kDone);
    int r = settle(fd, st, ex_drive(&st->ex, fd, kIo, DriveGoal::kDone, true));
    if (r == EAGAIN) return EALREADY;
    if (r != 0) return r;
  }
  if (st->phase == Phase::kBroken) return ECONNREFUSED;
  return nb ? EISCONN : 0;
}

}  // namespace afunix_emu
