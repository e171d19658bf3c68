// Actor, "Pairs" (scenario.h): a connected pair of a kind made by the portable recipe, recorded as
// one observation.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <future>
#include <thread>

#include "actor_util.h"
#include "context.h"
#include "kinds.h"
#include "names.h"
#include "observation.h"
#include "platform.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {

namespace {

Addr kernel_name(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return Addr::autobind();
  return Addr::from_kernel(reinterpret_cast<sockaddr*>(&addr), len);
}

bool wait_ready(int fd, short events) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, context::event_timeout_ms());
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

int set_blocking(int fd, bool nonblocking) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  return ::fcntl(fd, F_SETFL, nonblocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

}  // namespace

Pair Actor::pair(const SocketKind& kind) {
  int serial = context::next_serial();
  std::string suffix = serial == 1 ? "" : std::to_string(serial);
  const std::string xname = "x" + suffix, yname = "y" + suffix;
  Pair p;
  std::string failed;  // the step that failed, empty on success
  int err = 0;
  auto fail = [&](const char* step) {
    if (failed.empty()) {
      failed = step;
      err = errno;
    }
  };
  auto address = [&](const std::string& name) {
    return kind.naming == Naming::Pathname   ? Addr::path(name + ".sock")
           : kind.naming == Naming::Abstract ? Addr::abstract(name)
                                             : Addr::autobind();
  };

  if (kind.naming == Naming::Socketpair) {
    int fds[2];
    if (::socketpair(AF_UNIX, kind.type | (kind.nonblocking ? SOCK_NONBLOCK : 0), 0, fds) == 0) {
      p.x = fds[0];
      p.y = fds[1];
    } else {
      fail("socketpair");
    }
  } else if (kind.connection_oriented()) {
    // The client connects (blocking) from a second thread while this one accepts, as two
    // processes would: an emulation whose connect() completes only together with the server's
    // accept() (a handshake) still makes its pair. The accept is under the watchdog, which only
    // this thread receives; a client still stuck after it is shut down.
    int l = ::socket(AF_UNIX, kind.type, 0);
    if (l < 0) fail("socket");
    if (failed.empty() && ::bind(l, address(yname).sa(), address(yname).len()) != 0) fail("bind");
    if (failed.empty() && ::listen(l, 1) != 0) fail("listen");
    Addr server = kernel_name(l);
    if (failed.empty() && (p.x = ::socket(AF_UNIX, kind.type, 0)) < 0) fail("socket");
    if (failed.empty()) {
      int client_err = 0;
      std::promise<void> connected;
      std::future<void> client_done = connected.get_future();
      std::thread client([&, x = p.x] {
        sigset_t alarm;
        sigemptyset(&alarm);
        sigaddset(&alarm, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &alarm, nullptr);
        if (::connect(x, server.sa(), server.len()) != 0) client_err = errno;
        connected.set_value();
      });
      if (!wait_ready(l, POLLIN)) {
        fail("poll listener");
      } else {
        Returned r = under_watchdog([&] { return platform::accept_nonblocking(l, kind.nonblocking); });
        p.y = static_cast<int>(r.ret);
        if (p.y < 0) {
          errno = r.err;
          fail(r.blocked ? "accept blocked" : "accept");
        }
      }
      const auto op_timeout = std::chrono::milliseconds(context::op_timeout_ms());
      if (client_done.wait_for(op_timeout) != std::future_status::ready) {
        ::shutdown(p.x, SHUT_RDWR);
        if (failed.empty()) {
          failed = "connect blocked";
          err = EINTR;
        }
      }
      client.join();
      if (failed.empty() && client_err) {
        failed = "connect";
        err = client_err;
      }
    }
    if (failed.empty() && set_blocking(p.x, kind.nonblocking) != 0) fail("fcntl");
    if (l >= 0) ::close(l);
  } else {
    // Datagrams: both ends named, each connected to the other.
    p.y = ::socket(AF_UNIX, kind.type, 0);
    p.x = ::socket(AF_UNIX, kind.type, 0);
    if (p.x < 0 || p.y < 0) fail("socket");
    if (failed.empty() && ::bind(p.y, address(yname).sa(), address(yname).len()) != 0) fail("bind");
    if (failed.empty() && ::bind(p.x, address(xname).sa(), address(xname).len()) != 0) fail("bind");
    Addr yaddr = kernel_name(p.y), xaddr = kernel_name(p.x);
    if (failed.empty() && ::connect(p.x, yaddr.sa(), yaddr.len()) != 0) fail("connect");
    if (failed.empty() && ::connect(p.y, xaddr.sa(), xaddr.len()) != 0) fail("connect");
    if (failed.empty() && kind.nonblocking &&
        (set_blocking(p.x, true) != 0 || set_blocking(p.y, true) != 0))
      fail("fcntl");
  }

  Obs o("pair");
  o.str("kind", kind.name);
  if (failed.empty()) {
    o.str("result", "ok");
    label(p.x, xname);
    label(p.y, yname);
  } else {
    o.str("result", failed + ": " + errno_name(err));
    if (p.x >= 0) ::close(p.x);
    if (p.y >= 0) ::close(p.y);
    p = Pair{};
  }
  record(o.encode());
  return p;
}

}  // namespace afunix
