#include "names.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <poll.h>
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
  int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  std::string out;
  switch (base) {
    case SOCK_STREAM: out = "SOCK_STREAM"; break;
    case SOCK_DGRAM: out = "SOCK_DGRAM"; break;
    case SOCK_SEQPACKET: out = "SOCK_SEQPACKET"; break;
    case SOCK_RAW: out = "SOCK_RAW"; break;
    default: out = "type-" + std::to_string(base);
  }
  if (type & SOCK_NONBLOCK) out += "|SOCK_NONBLOCK";
  if (type & SOCK_CLOEXEC) out += "|SOCK_CLOEXEC";
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
