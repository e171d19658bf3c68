// Data transfer and descriptor bookkeeping: send/recv and friends, read/write (the descriptor is a
// real socket, so these work by themselves; they are interposed only to complete a pending
// exchange first), close and dup. The common case costs one table lookup.
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstring>

#include "shim.h"

using namespace afunix_emu;

extern "C" {
ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr,
                       socklen_t* addrlen);
}

namespace {

bool pending(const SockState* st) {
  return st->phase == Phase::kExchanging || st->phase == Phase::kTcpConnecting;
}

}  // namespace

// ---- send family ----------------------------------------------------------------------------------

AFUNIX_EXPORT ssize_t send(int fd, const void* buf, size_t len, int flags) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st) {
    if (int err = before_send(fd, st, flags)) return fail(err);
    flags = cygwin_send_flags(flags);
  }
  return real.send(fd, buf, len, flags);
}

AFUNIX_EXPORT ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* dest,
                             socklen_t destlen) {
  ensure_real();
  SockState* st = lookup(fd);
  if (!st) return real.sendto(fd, buf, len, flags, dest, destlen);
  if (dest) st = lookup_checked(fd);
  if (!st) return real.sendto(fd, buf, len, flags, dest, destlen);
  sockaddr_in sin;
  bool use = false;
  if (int err = resolve_send_destination(st, dest, destlen, &sin, &use)) return fail(err);
  if (int err = before_send(fd, st, flags)) return fail(err);
  flags = cygwin_send_flags(flags);
  if (use) return real.sendto(fd, buf, len, flags, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  return real.sendto(fd, buf, len, flags, nullptr, 0);
}

AFUNIX_EXPORT ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  ensure_real();
  SockState* st = lookup(fd);
  if (!st) return real.sendmsg(fd, msg, flags);
  if (msg && msg->msg_name) st = lookup_checked(fd);
  if (!st) return real.sendmsg(fd, msg, flags);
  if (!msg) return fail(EFAULT);
  msghdr m = *msg;
  sockaddr_in sin;
  bool use = false;
  if (int err = resolve_send_destination(st, static_cast<const sockaddr*>(msg->msg_name),
                                         msg->msg_namelen, &sin, &use))
    return fail(err);
  if (int err = before_send(fd, st, flags)) return fail(err);
  m.msg_name = use ? &sin : nullptr;
  m.msg_namelen = use ? sizeof sin : 0;
  // Cygwin: ancillary data on AF_LOCAL sockets is silently dropped (no SCM_RIGHTS, no creds).
  m.msg_control = nullptr;
  m.msg_controllen = 0;
  return real.sendmsg(fd, &m, cygwin_send_flags(flags));
}

AFUNIX_EXPORT int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags) {
  ensure_real();
  if (!lookup(fd)) return real.sendmmsg(fd, vec, vlen, flags);
  unsigned i = 0;
  for (; i < vlen && i < static_cast<unsigned>(INT_MAX); ++i) {
    ssize_t n = sendmsg(fd, &vec[i].msg_hdr, flags);
    if (n < 0) {
      if (i == 0) return -1;
      break;
    }
    vec[i].msg_len = static_cast<unsigned>(n);
  }
  return static_cast<int>(i);
}

// ---- receive family -------------------------------------------------------------------------------

AFUNIX_EXPORT ssize_t recv(int fd, void* buf, size_t len, int flags) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st) {
    if (int err = before_recv(fd, st, flags)) return fail(err);
    flags = cygwin_recv_flags(flags);
  }
  return real.recv(fd, buf, len, flags);
}

AFUNIX_EXPORT ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* addr,
                               socklen_t* addrlen) {
  ensure_real();
  SockState* st = lookup(fd);
  if (!st) return real.recvfrom(fd, buf, len, flags, addr, addrlen);
  if (addr && addrlen) st = lookup_checked(fd);
  if (!st) return real.recvfrom(fd, buf, len, flags, addr, addrlen);
  if (int err = before_recv(fd, st, flags)) return fail(err);
  flags = cygwin_recv_flags(flags);
  if (!addr || !addrlen) return real.recv(fd, buf, len, flags);
  sockaddr_in from;
  socklen_t fl = sizeof from;
  std::memset(&from, 0, sizeof from);
  ssize_t n = real.recvfrom(fd, buf, len, flags, reinterpret_cast<sockaddr*>(&from), &fl);
  if (n < 0) return n;
  int saved = errno;
  peer_name_out(st, &from, addr, addrlen);
  errno = saved;
  return n;
}

AFUNIX_EXPORT ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  ensure_real();
  SockState* st = lookup(fd);
  if (!st) return real.recvmsg(fd, msg, flags);
  if (msg && msg->msg_name) st = lookup_checked(fd);
  if (!st) return real.recvmsg(fd, msg, flags);
  if (!msg) return fail(EFAULT);
  if (int err = before_recv(fd, st, flags)) return fail(err);
  msghdr m = *msg;
  sockaddr_in from;
  std::memset(&from, 0, sizeof from);
  m.msg_name = msg->msg_name ? &from : nullptr;
  m.msg_namelen = msg->msg_name ? sizeof from : 0;
  // Cygwin forces msg_controllen to 0: no ancillary data is ever delivered.
  m.msg_control = nullptr;
  m.msg_controllen = 0;
  ssize_t n = real.recvmsg(fd, &m, cygwin_recv_flags(flags));
  if (n < 0) return n;
  int saved = errno;
  msg->msg_flags = m.msg_flags;
  msg->msg_controllen = 0;
  if (msg->msg_name) peer_name_out(st, &from, static_cast<sockaddr*>(msg->msg_name),
                                   &msg->msg_namelen);
  errno = saved;
  return n;
}

AFUNIX_EXPORT int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags,
                           struct timespec* timeout) {
  ensure_real();
  if (!lookup(fd)) return real.recvmmsg(fd, vec, vlen, flags, timeout);
  // One message at a time; after the first, only what is already queued (the timeout is ignored).
  unsigned i = 0;
  for (; i < vlen && i < static_cast<unsigned>(INT_MAX); ++i) {
    int f = i == 0 ? flags & ~MSG_WAITFORONE : flags | ((flags & MSG_WAITFORONE) ? MSG_DONTWAIT : 0);
    ssize_t n = recvmsg(fd, &vec[i].msg_hdr, f);
    if (n < 0) {
      if (i == 0) return -1;
      break;
    }
    vec[i].msg_len = static_cast<unsigned>(n);
  }
  return static_cast<int>(i);
}

// ---- read and write: only a pending exchange needs attention ----------------------------------------

AFUNIX_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st && pending(st)) {
    if (int err = before_recv(fd, st, 0)) return fail(err);
  }
  return real.read(fd, buf, n);
}

AFUNIX_EXPORT ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st && pending(st) && nbytes <= buflen) {
    if (int err = before_recv(fd, st, 0)) return fail(err);
  }
  return real.read_chk(fd, buf, nbytes, buflen);
}

AFUNIX_EXPORT ssize_t readv(int fd, const iovec* iov, int cnt) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st && pending(st)) {
    if (int err = before_recv(fd, st, 0)) return fail(err);
  }
  return real.readv(fd, iov, cnt);
}

AFUNIX_EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st) {
    if (int err = before_send(fd, st, 0)) return fail(err);
  }
  return real.write(fd, buf, n);
}

AFUNIX_EXPORT ssize_t writev(int fd, const iovec* iov, int cnt) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st) {
    if (int err = before_send(fd, st, 0)) return fail(err);
  }
  return real.writev(fd, iov, cnt);
}

AFUNIX_EXPORT ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  ensure_real();
  SockState* st = lookup(fd);
  if (st && n <= buflen) {
    if (int err = before_recv(fd, st, flags)) return fail(err);
    flags = cygwin_recv_flags(flags);
  }
  return real.recv_chk(fd, buf, n, buflen, flags);
}

AFUNIX_EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                     sockaddr* addr, socklen_t* addrlen) {
  ensure_real();
  if (!lookup(fd) || n > buflen) return real.recvfrom_chk(fd, buf, n, buflen, flags, addr, addrlen);
  return recvfrom(fd, buf, n, flags, addr, addrlen);
}

// ---- descriptors ----------------------------------------------------------------------------------

AFUNIX_EXPORT int close(int fd) {
  ensure_real();
  detach(fd);  // before the number can be reused by another thread
  return real.close(fd);
}

AFUNIX_EXPORT int close_range(unsigned int first, unsigned int last, int flags) __THROW {
  ensure_real();
  if (!real.close_range) return static_cast<int>(fail(ENOSYS));
  int r = real.close_range(first, last, flags);
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) detach_range(first, last);
  return r;
}

AFUNIX_EXPORT void closefrom(int lowfd) __THROW {
  ensure_real();
  if (lowfd >= 0) detach_range(static_cast<unsigned>(lowfd), static_cast<unsigned>(kMaxFd - 1));
  if (real.closefrom) real.closefrom(lowfd);
}

namespace {

// A descriptor was duplicated to newfd (or newfd was replaced): keep the table in step.
void duplicated(int oldfd, int newfd) {
  int saved = errno;
  if (lookup(oldfd))
    share(oldfd, newfd);
  else
    detach(newfd);
  errno = saved;
}

}  // namespace

AFUNIX_EXPORT int dup(int fd) __THROW {
  ensure_real();
  int r = real.dup(fd);
  if (r >= 0) duplicated(fd, r);
  return r;
}

AFUNIX_EXPORT int dup2(int fd, int fd2) __THROW {
  ensure_real();
  int r = real.dup2(fd, fd2);
  if (r >= 0 && fd != fd2) duplicated(fd, r);
  return r;
}

AFUNIX_EXPORT int dup3(int fd, int fd2, int flags) __THROW {
  ensure_real();
  int r = real.dup3(fd, fd2, flags);
  if (r >= 0) duplicated(fd, r);
  return r;
}

AFUNIX_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  ensure_real();
  int r = real.fcntl(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) duplicated(fd, r);
  return r;
}

AFUNIX_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  ensure_real();
  int r = real.fcntl64 ? real.fcntl64(fd, cmd, arg) : real.fcntl(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) duplicated(fd, r);
  return r;
}
