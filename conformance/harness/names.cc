#include "names.h"

#include "platform_compat.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

namespace afunix {
namespace {

struct Named {
  int value;
  const char* name;
};

#define NAMED(x) {x, #x}

// Only the errnos a socket program can plausibly see; anything else is printed as "errno-N".
const Named kErrnos[] = {
    NAMED(EPERM),        NAMED(ENOENT),       NAMED(ESRCH),           NAMED(EINTR),
    NAMED(EIO),          NAMED(ENXIO),        NAMED(E2BIG),           NAMED(EBADF),
    NAMED(ECHILD),       NAMED(EAGAIN),       NAMED(ENOMEM),          NAMED(EACCES),
    NAMED(EFAULT),       NAMED(EBUSY),        NAMED(EEXIST),          NAMED(EXDEV),
    NAMED(ENODEV),       NAMED(ENOTDIR),      NAMED(EISDIR),          NAMED(EINVAL),
    NAMED(ENFILE),       NAMED(EMFILE),       NAMED(ENOTTY),          NAMED(EFBIG),
    NAMED(ENOSPC),       NAMED(ESPIPE),       NAMED(EROFS),           NAMED(EMLINK),
    NAMED(EPIPE),        NAMED(EDOM),         NAMED(ERANGE),          NAMED(ENAMETOOLONG),
    NAMED(ENOSYS),       NAMED(ELOOP),        NAMED(ENOTSOCK),        NAMED(EDESTADDRREQ),
    NAMED(EMSGSIZE),     NAMED(EPROTOTYPE),   NAMED(ENOPROTOOPT),     NAMED(EPROTONOSUPPORT),
    NAMED(ESOCKTNOSUPPORT), NAMED(EOPNOTSUPP), NAMED(EPFNOSUPPORT),   NAMED(EAFNOSUPPORT),
    NAMED(EADDRINUSE),   NAMED(EADDRNOTAVAIL), NAMED(ENETDOWN),       NAMED(ENETUNREACH),
    NAMED(ECONNABORTED), NAMED(ECONNRESET),   NAMED(ENOBUFS),         NAMED(EISCONN),
    NAMED(ENOTCONN),     NAMED(ETIMEDOUT),    NAMED(ECONNREFUSED),    NAMED(EHOSTUNREACH),
    NAMED(EALREADY),     NAMED(EINPROGRESS),  NAMED(ENOTSUP),         NAMED(EOVERFLOW),
    NAMED(ETOOMANYREFS), NAMED(ESHUTDOWN),    NAMED(EBADFD),          NAMED(ENODATA),
};

const Named kSignals[] = {
    NAMED(SIGHUP),  NAMED(SIGINT),  NAMED(SIGQUIT), NAMED(SIGILL),  NAMED(SIGTRAP),
    NAMED(SIGABRT), NAMED(SIGBUS),  NAMED(SIGFPE),  NAMED(SIGKILL), NAMED(SIGUSR1),
    NAMED(SIGSEGV), NAMED(SIGUSR2), NAMED(SIGPIPE), NAMED(SIGALRM), NAMED(SIGTERM),
    NAMED(SIGCHLD), NAMED(SIGCONT), NAMED(SIGSTOP), NAMED(SIGTSTP), NAMED(SIGIO),
    NAMED(SIGSYS),  NAMED(SIGXCPU), NAMED(SIGXFSZ),
};

const Named kPollBits[] = {
    NAMED(POLLIN), NAMED(POLLPRI), NAMED(POLLOUT), NAMED(POLLERR),
    NAMED(POLLHUP), NAMED(POLLNVAL), NAMED(POLLRDHUP),
};

const Named kMsgFlags[] = {
    NAMED(MSG_OOB), NAMED(MSG_PEEK), NAMED(MSG_DONTROUTE), NAMED(MSG_CTRUNC),
    NAMED(MSG_TRUNC), NAMED(MSG_DONTWAIT), NAMED(MSG_EOR), NAMED(MSG_WAITALL),
    NAMED(MSG_NOSIGNAL), NAMED(MSG_ERRQUEUE), NAMED(MSG_CMSG_CLOEXEC),
};

const Named kLevels[] = {
    NAMED(SOL_SOCKET), NAMED(SOL_IP), NAMED(SOL_IPV6), {6, "SOL_TCP"}, {17, "SOL_UDP"},
};

const Named kSocketOptions[] = {
    NAMED(SO_DEBUG),       NAMED(SO_REUSEADDR),  NAMED(SO_TYPE),        NAMED(SO_ERROR),
    NAMED(SO_DONTROUTE),   NAMED(SO_BROADCAST),  NAMED(SO_SNDBUF),      NAMED(SO_RCVBUF),
    NAMED(SO_SNDBUFFORCE), NAMED(SO_RCVBUFFORCE), NAMED(SO_KEEPALIVE),  NAMED(SO_OOBINLINE),
    NAMED(SO_NO_CHECK),    NAMED(SO_PRIORITY),   NAMED(SO_LINGER),      NAMED(SO_BSDCOMPAT),
    NAMED(SO_REUSEPORT),   NAMED(SO_PASSCRED),   NAMED(SO_PEERCRED),    NAMED(SO_RCVLOWAT),
    NAMED(SO_SNDLOWAT),    NAMED(SO_RCVTIMEO),   NAMED(SO_SNDTIMEO),    NAMED(SO_PEERNAME),
    NAMED(SO_ACCEPTCONN),  NAMED(SO_PEERSEC),    NAMED(SO_PASSSEC),     NAMED(SO_MARK),
    NAMED(SO_PROTOCOL),    NAMED(SO_DOMAIN),     NAMED(SO_RXQ_OVFL),    NAMED(SO_PEEK_OFF),
    NAMED(SO_BUSY_POLL),   NAMED(SO_INCOMING_CPU), NAMED(SO_PEERGROUPS), NAMED(SO_ZEROCOPY),
    NAMED(SO_PASSPIDFD),   NAMED(SO_PEERPIDFD),  NAMED(SO_PASSRIGHTS),  NAMED(SO_INQ),
};

const Named kEpollBits[] = {
    NAMED(EPOLLIN),  NAMED(EPOLLPRI),   NAMED(EPOLLOUT),       NAMED(EPOLLERR),
    NAMED(EPOLLHUP), NAMED(EPOLLRDHUP), NAMED(EPOLLEXCLUSIVE), NAMED(EPOLLWAKEUP),
    NAMED(EPOLLONESHOT), {static_cast<int>(EPOLLET), "EPOLLET"},
};

const Named kOpenFlags[] = {
    NAMED(O_WRONLY), NAMED(O_RDWR),   NAMED(O_CREAT),    NAMED(O_EXCL),    NAMED(O_TRUNC),
    NAMED(O_APPEND), NAMED(O_NONBLOCK), NAMED(O_CLOEXEC), NAMED(O_NOCTTY),  NAMED(O_PATH),
};

const Named kFamilies[] = {
    NAMED(AF_UNSPEC), NAMED(AF_UNIX), NAMED(AF_INET), NAMED(AF_INET6), NAMED(AF_NETLINK),
};

#undef NAMED

template <size_t N>
std::string lookup(const Named (&table)[N], int value, const char* fallback_prefix) {
  for (const Named& n : table)
    if (n.value == value) return n.name;
  return std::string(fallback_prefix) + std::to_string(value);
}

template <size_t N>
std::string bit_names(const Named (&table)[N], int bits) {
  if (bits == 0) return "none";
  std::string out;
  for (const Named& n : table) {
    if (bits & n.value) {
      if (!out.empty()) out += "|";
      out += n.name;
      bits &= ~n.value;
    }
  }
  if (bits != 0) {
    if (!out.empty()) out += "|";
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(bits));
    out += hex;
  }
  return out;
}

}  // namespace

std::string errno_name(int err) {
  // EAGAIN/EWOULDBLOCK and ENOTSUP/EOPNOTSUPP share values on Linux; the table keeps one name each.
  return lookup(kErrnos, err, "errno-");
}

std::string signal_name(int sig) { return lookup(kSignals, sig, "signal-"); }

std::string socket_type_name(int type) {
  int base = type & ~(AFUNIX_REAL(SOCK_NONBLOCK) | AFUNIX_REAL(SOCK_CLOEXEC));
  std::string out;
  switch (base) {
    case SOCK_STREAM: out = "SOCK_STREAM"; break;
    case SOCK_DGRAM: out = "SOCK_DGRAM"; break;
    case SOCK_SEQPACKET: out = "SOCK_SEQPACKET"; break;
    case SOCK_RAW: out = "SOCK_RAW"; break;
    default: out = "type-" + std::to_string(base);
  }
  if (type & AFUNIX_REAL(SOCK_NONBLOCK)) out += "|SOCK_NONBLOCK";
  if (type & AFUNIX_REAL(SOCK_CLOEXEC)) out += "|SOCK_CLOEXEC";
  return out;
}

std::string poll_events_name(int revents) { return bit_names(kPollBits, revents); }

std::string msg_flags_name(int flags) { return bit_names(kMsgFlags, flags); }

std::string file_type_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFSOCK: return "socket";
    case S_IFREG: return "regular";
    case S_IFDIR: return "directory";
    case S_IFIFO: return "fifo";
    case S_IFLNK: return "symlink";
    case S_IFCHR: return "char-device";
    case S_IFBLK: return "block-device";
    default: return "unknown";
  }
}

std::string level_name(int level) { return lookup(kLevels, level, "level-"); }

std::string socket_option_name(int level, int option) {
  if (level == SOL_SOCKET) return lookup(kSocketOptions, option, "option-");
  return "option-" + std::to_string(option);
}

std::string cmsg_type_name(int level, int type) {
  if (level == SOL_SOCKET) {
    switch (type) {
      case SCM_RIGHTS: return "SCM_RIGHTS";
      case SCM_CREDENTIALS: return "SCM_CREDENTIALS";
      case SCM_SECURITY: return "SCM_SECURITY";
      case SCM_PIDFD: return "SCM_PIDFD";
      case SCM_INQ: return "SCM_INQ";
    }
  }
  return level_name(level) + "/" + std::to_string(type);
}

std::string epoll_events_name(unsigned events) { return bit_names(kEpollBits, static_cast<int>(events)); }

std::string open_flags_name(int flags) {
  // O_RDONLY is zero: name it when neither access bit is set.
  std::string rest = bit_names(kOpenFlags, flags);
  if ((flags & O_ACCMODE) == O_RDONLY) return rest == "none" ? "O_RDONLY" : "O_RDONLY|" + rest;
  return rest;
}

std::string family_name(int family) { return lookup(kFamilies, family, "family-"); }

std::string octal_mode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

std::string escape_bytes(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace afunix
