#include "platform.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstring>
#include <ctime>

#include "internal.h"

namespace afunix {
namespace platform {

const char* name(Feature f) {
  switch (f) {
    case Feature::Epoll: return "epoll";
    case Feature::PeerCredentials: return "peer credentials (SO_PEERCRED, LOCAL_PEERCRED or getpeereid)";
    case Feature::SoPeercred: return "SO_PEERCRED";
    case Feature::ScmCredentials: return "SCM_CREDENTIALS";
    case Feature::SeqPacket: return "SOCK_SEQPACKET";
    case Feature::MsgCmsgCloexec: return "MSG_CMSG_CLOEXEC";
    case Feature::PeekOffset: return "SO_PEEK_OFF";
    case Feature::Pidfd: return "pidfds";
    case Feature::Sendmmsg: return "sendmmsg/recvmmsg";
    case Feature::AbstractNames: return "abstract names";
    case Feature::Autobind: return "autobind";
    case Feature::SockFlags: return "SOCK_CLOEXEC/SOCK_NONBLOCK";
    case Feature::ProcFs: return "/proc";
    case Feature::LinuxOptions: return "Linux-only socket options";
  }
  return "an unnamed feature";
}

namespace {

// Run-time probes, once per process: what the headers declare is not always what the kernel does
// (an abstract name binds on Linux and WSL, and is an ordinary path byte elsewhere).
#ifndef __linux__
bool probe_abstract() {
  int s = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  if (s < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string n = "afunix-probe-" + std::to_string(getpid());
  std::memcpy(a.sun_path + 1, n.data(), n.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n.size());
  sockaddr_un got{};
  socklen_t got_len = sizeof got;
  bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), len) == 0 &&
            ::getsockname(s, reinterpret_cast<sockaddr*>(&got), &got_len) == 0 && got_len == len &&
            got.sun_path[0] == '\0';
  ::close(s);
  return ok;
}

bool probe_autobind() {
  int s = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  if (s < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  sockaddr_un got{};
  socklen_t got_len = sizeof got;
  bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(sa_family_t)) == 0 &&
            ::getsockname(s, reinterpret_cast<sockaddr*>(&got), &got_len) == 0 &&
            got_len > sizeof(sa_family_t) && got.sun_path[0] == '\0';
  ::close(s);
  return ok;
}

bool probe_seqpacket() {
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (s < 0) return false;
  ::close(s);
  return true;
}
#endif

struct Probed {
  bool abstract, autobind, seqpacket;
};

const Probed& probed() {
#ifdef __linux__
  // On Linux these are the kernel's: a backend under test that breaks them deviates (FAIL); it is
  // not a platform that lacks them. Probing here would turn an emulation's bug into UNSUPPORTED.
  static const Probed p{!AFUNIX_POSIX_ONLY, !AFUNIX_POSIX_ONLY, AFUNIX_HAVE_SOCK_SEQPACKET != 0};
#else
  static const Probed p{!AFUNIX_POSIX_ONLY && probe_abstract(), !AFUNIX_POSIX_ONLY && probe_autobind(),
                        AFUNIX_HAVE_SOCK_SEQPACKET && probe_seqpacket()};
#endif
  return p;
}

}  // namespace

void probe() { (void)probed(); }

bool has(Feature f) {
  switch (f) {
    case Feature::Epoll: return AFUNIX_HAVE_EPOLL;
    case Feature::PeerCredentials:
      return AFUNIX_HAVE_SO_PEERCRED || AFUNIX_HAVE_LOCAL_PEERCRED || AFUNIX_HAVE_GETPEEREID;
    case Feature::SoPeercred: return AFUNIX_HAVE_SO_PEERCRED;
    case Feature::ScmCredentials: return AFUNIX_HAVE_SCM_CREDENTIALS;
    case Feature::SeqPacket: return probed().seqpacket;
    case Feature::MsgCmsgCloexec: return AFUNIX_HAVE_MSG_CMSG_CLOEXEC;
    case Feature::PeekOffset: return AFUNIX_HAVE_SO_PEEK_OFF;
    case Feature::Pidfd: return AFUNIX_HAVE_PIDFD && AFUNIX_HAVE_PROC_FS;
    case Feature::Sendmmsg: return AFUNIX_HAVE_SENDMMSG;
    case Feature::AbstractNames: return probed().abstract;
    case Feature::Autobind: return probed().autobind;
    case Feature::SockFlags: return AFUNIX_HAVE_SOCK_CLOEXEC;
    case Feature::ProcFs: return AFUNIX_HAVE_PROC_FS;
    case Feature::LinuxOptions: return !AFUNIX_POSIX_ONLY && AFUNIX_HAVE_PROC_FS;
  }
  return false;
}

void require(Feature f) {
  if (!has(f)) internal::end_unsupported(name(f));
}

bool is_missing_constant(long value) { return AFUNIX_IS_MISSING(value); }

void require_constant(long value, const char* constant_name) {
  if (AFUNIX_IS_MISSING(value)) internal::end_unsupported(constant_name);
}

void require_msg_flags(int flags) {
  require_constant(flags, "a MSG_ flag this platform lacks");
  if (flags & AFUNIX_REAL(MSG_CMSG_CLOEXEC)) require(Feature::MsgCmsgCloexec);
  if (flags & AFUNIX_REAL(MSG_ERRQUEUE)) require(Feature::LinuxOptions);
}

const char* profile() { return AFUNIX_POSIX_ONLY ? "posix-only" : "full"; }

std::string system_description() {
  struct utsname u;
  if (uname(&u) != 0) return "unknown";
  std::string d = std::string(u.sysname) + " " + u.release + " " + u.machine;
  if (AFUNIX_POSIX_ONLY) d += ", POSIX-only profile";
  return d;
}

int cloexec_pipe(int fds[2]) {
#if AFUNIX_HAVE_PIPE2
  return ::pipe2(fds, O_CLOEXEC);
#else
  if (::pipe(fds) != 0) return -1;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
#endif
}

int accept_nonblocking(int listener, bool nonblocking) {
#if AFUNIX_HAVE_ACCEPT4
  return ::accept4(listener, nullptr, nullptr, nonblocking ? SOCK_NONBLOCK : 0);
#else
  int fd = ::accept(listener, nullptr, nullptr);
  if (fd >= 0 && nonblocking) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
#endif
}

// ---- ChildWaiter ------------------------------------------------------------------------------

#if AFUNIX_HAVE_SIGTIMEDWAIT && !AFUNIX_POSIX_ONLY
namespace {
sigset_t g_old_mask;
sigset_t chld_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCHLD);
  return s;
}
}  // namespace

// SIGCHLD stays blocked in the runner so that the wait can use sigtimedwait.
void ChildWaiter::begin() {
  sigset_t s = chld_set();
  sigprocmask(SIG_BLOCK, &s, &g_old_mask);
}
void ChildWaiter::in_child() { sigprocmask(SIG_SETMASK, &g_old_mask, nullptr); }
void ChildWaiter::wait(long ms) {
  sigset_t s = chld_set();
  struct timespec t{ms / 1000, (ms % 1000) * 1000000};
  sigtimedwait(&s, nullptr, &t);
}
void ChildWaiter::end() { sigprocmask(SIG_SETMASK, &g_old_mask, nullptr); }
#else
// Without sigtimedwait (macOS, and the POSIX-only profile, which must exercise this path): a
// SIGCHLD handler writes to a pipe the runner polls with the time that is left.
namespace {
int g_chld_pipe[2] = {-1, -1};
struct sigaction g_old_action;
void on_sigchld(int) {
  int saved = errno;
  ssize_t ignored = ::write(g_chld_pipe[1], "c", 1);
  (void)ignored;
  errno = saved;
}
}  // namespace

void ChildWaiter::begin() {
  if (cloexec_pipe(g_chld_pipe) != 0) return;
  ::fcntl(g_chld_pipe[0], F_SETFL, O_NONBLOCK);
  ::fcntl(g_chld_pipe[1], F_SETFL, O_NONBLOCK);
  struct sigaction sa {};
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, &g_old_action);
}
void ChildWaiter::in_child() {
  sigaction(SIGCHLD, &g_old_action, nullptr);
  ::close(g_chld_pipe[0]);
  ::close(g_chld_pipe[1]);
}
void ChildWaiter::wait(long ms) {
  pollfd p{g_chld_pipe[0], POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(ms));
  char buf[64];
  while (::read(g_chld_pipe[0], buf, sizeof buf) > 0) {
  }
}
void ChildWaiter::end() {
  sigaction(SIGCHLD, &g_old_action, nullptr);
  ::close(g_chld_pipe[0]);
  ::close(g_chld_pipe[1]);
  g_chld_pipe[0] = g_chld_pipe[1] = -1;
}
#endif

}  // namespace platform
}  // namespace afunix
