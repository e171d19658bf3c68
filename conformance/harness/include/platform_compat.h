// Constants the scenarios name that a platform's headers may lack. On Linux: the values of newer
// kernels than the C library's headers (linux_compat.h). Elsewhere, a missing constant gets a value
// no system uses (AFUNIX_MISSING | n), so every scenario still compiles; an operation handed one
// calls platform::require_constant() and the scenario is UNSUPPORTED naming it, rather than passing
// a number that means something else to this kernel (BSD's SO_* values are not Linux's).
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifdef __linux__
#include "linux_compat.h"
#endif

#define AFUNIX_MISSING 0x3e000000
#define AFUNIX_IS_MISSING(v) ((static_cast<long>(v) & AFUNIX_MISSING) == AFUNIX_MISSING)

// clang-format off
#ifndef SOL_UNIX
#define SOL_UNIX (AFUNIX_MISSING | 1)
#endif
#ifndef SO_PASSCRED
#define SO_PASSCRED (AFUNIX_MISSING | 2)
#endif
#ifndef SO_PEERCRED
#define SO_PEERCRED (AFUNIX_MISSING | 3)
#endif
#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF (AFUNIX_MISSING | 4)
#endif
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS (AFUNIX_MISSING | 5)
#endif
#ifndef SO_INQ
#define SO_INQ (AFUNIX_MISSING | 6)
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD (AFUNIX_MISSING | 7)
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD (AFUNIX_MISSING | 8)
#endif
#ifndef SO_PEERNAME
#define SO_PEERNAME (AFUNIX_MISSING | 9)
#endif
#ifndef SO_PEERSEC
#define SO_PEERSEC (AFUNIX_MISSING | 10)
#endif
#ifndef SO_PASSSEC
#define SO_PASSSEC (AFUNIX_MISSING | 11)
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS (AFUNIX_MISSING | 12)
#endif
#ifndef SO_DOMAIN
#define SO_DOMAIN (AFUNIX_MISSING | 13)
#endif
#ifndef SO_PROTOCOL
#define SO_PROTOCOL (AFUNIX_MISSING | 14)
#endif
#ifndef SO_PRIORITY
#define SO_PRIORITY (AFUNIX_MISSING | 15)
#endif
#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL (AFUNIX_MISSING | 16)
#endif
#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY (AFUNIX_MISSING | 17)
#endif
#ifndef SO_SNDBUFFORCE
#define SO_SNDBUFFORCE (AFUNIX_MISSING | 18)
#endif
#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE (AFUNIX_MISSING | 19)
#endif
#ifndef SO_NO_CHECK
#define SO_NO_CHECK (AFUNIX_MISSING | 20)
#endif
#ifndef SO_MARK
#define SO_MARK (AFUNIX_MISSING | 21)
#endif
#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU (AFUNIX_MISSING | 22)
#endif
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL (AFUNIX_MISSING | 23)
#endif
#ifndef SO_BSDCOMPAT
#define SO_BSDCOMPAT (AFUNIX_MISSING | 24)
#endif
#ifndef SO_REUSEPORT
#define SO_REUSEPORT (AFUNIX_MISSING | 25)
#endif
#ifndef SCM_CREDENTIALS
#define SCM_CREDENTIALS (AFUNIX_MISSING | 26)
#endif
#ifndef SCM_SECURITY
#define SCM_SECURITY (AFUNIX_MISSING | 27)
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD (AFUNIX_MISSING | 28)
#endif
#ifndef SCM_INQ
#define SCM_INQ (AFUNIX_MISSING | 29)
#endif
#ifndef SCM_MAX_FD
#define SCM_MAX_FD 253  // Linux's limit; only used to size a scenario's message
#endif
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL (AFUNIX_MISSING | 30)
#endif
#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC (AFUNIX_MISSING | 31)
#endif
#ifndef MSG_ERRQUEUE
#define MSG_ERRQUEUE (AFUNIX_MISSING | 32)
#endif
#ifndef SOCK_NONBLOCK
#define SOCK_NONBLOCK (AFUNIX_MISSING | 33)
#endif
#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC (AFUNIX_MISSING | 34)
#endif
#ifndef O_PATH
#define O_PATH (AFUNIX_MISSING | 35)
#endif
#ifndef SOL_IP
#define SOL_IP (AFUNIX_MISSING | 36)
#endif
#ifndef SOL_TCP
#define SOL_TCP (AFUNIX_MISSING | 37)
#endif
#ifndef SOL_UDP
#define SOL_UDP (AFUNIX_MISSING | 38)
#endif
#ifndef SOL_IPV6
#define SOL_IPV6 (AFUNIX_MISSING | 39)
#endif
#ifndef AF_NETLINK
#define AF_NETLINK (AFUNIX_MISSING | 40)
#endif
// clang-format on

// A flag's value for masks: 0 when the platform lacks it (a missing flag's stand-in value must
// never clear or match real bits).
#define AFUNIX_REAL(c) (AFUNIX_IS_MISSING(c) ? 0 : (c))

#include <sys/types.h>
namespace afunix {
// The layout of SCM_CREDENTIALS' struct ucred (pid, uid, gid), to size control buffers where the
// headers have no struct ucred; the scenarios that send credentials are UNSUPPORTED there.
struct CredentialsLayout {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};
}  // namespace afunix

// epoll's event bits, for scenarios to name; Actor::epoll_* require epoll before using them.
#include "afunix_features.h"
#if AFUNIX_HAVE_EPOLL
#include <sys/epoll.h>
#else
#define EPOLLIN 0x001
#define EPOLLPRI 0x002
#define EPOLLOUT 0x004
#define EPOLLERR 0x008
#define EPOLLHUP 0x010
#define EPOLLRDHUP 0x2000
#define EPOLLEXCLUSIVE (1u << 28)
#define EPOLLWAKEUP (1u << 29)
#define EPOLLONESHOT (1u << 30)
#define EPOLLET (1u << 31)
#endif
