#include "attack.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "actor_util.h"
#include "context.h"
#include "names.h"
#include "observation.h"
#include "platform.h"
#include "watchdog.h"

namespace afunix {
namespace attack {
namespace {

using util::outcome;

// Bytes already queued on a connected socket, without waiting for more.
std::string queued_bytes(int fd) {
  std::string data;
  char buf[256];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0 || data.size() > 4096) break;
    data.append(buf, n);
  }
  return data;
}

struct Endpoint {
  int family;
  std::string address;  // as in /proc/net: hex
  unsigned port;
};

// Loopback sockets of `uid` in /proc/net/<table>: listening ones for TCP (state 0A), all for UDP.
std::vector<Endpoint> loopback_sockets(const char* table, int family, uid_t uid, bool tcp) {
  std::vector<Endpoint> out;
  std::ifstream f(std::string("/proc/net/") + table);
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues, timer, retrans;
    unsigned long owner = 0;
    in >> slot >> local >> remote >> state >> queues >> timer >> retrans >> owner;
    if (owner != uid || (tcp && state != "0A")) continue;
    size_t colon = local.find(':');
    if (colon == std::string::npos) continue;
    std::string addr = local.substr(0, colon);
    bool loopback = family == AF_INET ? addr == "0100007F" || addr == "00000000"
                                      : addr == "00000000000000000000000001000000" ||
                                            addr == "00000000000000000000000000000000";
    if (loopback) out.push_back({family, addr, static_cast<unsigned>(std::stoul(local.substr(colon + 1), nullptr, 16))});
  }
  return out;
}

std::vector<Endpoint> owners_sockets(const Identity& owner, bool tcp) {
  auto v4 = loopback_sockets(tcp ? "tcp" : "udp", AF_INET, owner.uid, tcp);
  auto v6 = loopback_sockets(tcp ? "tcp6" : "udp6", AF_INET6, owner.uid, tcp);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

socklen_t loopback_address(const Endpoint& e, sockaddr_storage* ss) {
  *ss = {};
  if (e.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(e.port);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *in;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(e.port);
  in6->sin6_addr = in6addr_loopback;
  return sizeof *in6;
}

}  // namespace

void accept_until(Actor& a, int listener, Event& done) {
  platform::require(platform::Feature::PeerCredentials);  // it reports who each peer is
  int flags = fcntl(listener, F_GETFL);
  fcntl(listener, F_SETFL, flags | O_NONBLOCK);
  std::vector<int> accepted;
  bool finished = false;
  for (int round = 0; round < 64 && !finished; ++round) {
    pollfd p[2] = {{listener, POLLIN, 0}, {done.pollable_fd(), POLLIN, 0}};
    int r = ::poll(p, 2, context::event_timeout_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    finished = p[1].revents != 0;
    // Once done is posted, take whatever is still pending; refusals are not the victim's business.
    for (int i = 0; i < 16 && (p[0].revents || finished); ++i) {
      // An emulation may run a handshake inside accept.
      Returned fd = under_watchdog([&] { return ::accept(listener, nullptr, nullptr); });
      if (fd.ret < 0) break;
      accepted.push_back(static_cast<int>(fd.ret));
    }
  }
  fcntl(listener, F_SETFL, flags);
  std::string connections = "[";
  for (int fd : accepted) {
    Obs c = Obs::object();
    platform::PeerCredentials cred;
    Returned r = under_watchdog([&] {
      cred = platform::peer_credentials(fd);
      errno = cred.err;
      return cred.err ? -1 : 0;
    });
    if (r.ret == 0)
      c.str("pid", context::pid_name(cred.pid))
          .str("uid", context::uid_name(cred.uid))
          .str("gid", context::gid_name(cred.gid));
    else
      c.str("peercred", errno_name(r.err));
    c.str("data", escape_bytes(queued_bytes(fd)));
    connections += (connections.size() > 1 ? "," : "") + c.encode();
    ::close(fd);
  }
  a.record(Obs("accept_until").str("event", done.name()).json("connections", connections + "]").encode());
}

void receive_everything(Actor& a, int fd) {
  std::string datagrams = "[";
  char buf[512];
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) break;
    datagrams += (datagrams.size() > 1 ? "," : "") + json_quote(escape_bytes(std::string(buf, n)));
  }
  a.record(Obs("receive_everything").json("datagrams", datagrams + "]").encode());
}

void connect_to_owners_tcp_ports(Actor& a, const Identity& owner, const std::string& payload) {
  auto found = owners_sockets(owner, true);
  a.record(Obs("scan_tcp_listeners").str("owner", owner.name).num("found", found.size()).encode());
  for (const Endpoint& e : found) {
    sockaddr_storage ss;
    socklen_t len = loopback_address(e, &ss);
    int fd = ::socket(e.family, SOCK_STREAM, 0);
    Returned r = under_watchdog([&] { return ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len); });
    long sent = r.ret == 0 ? ::send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) : -1;
    a.record(Obs("tcp_connect_and_send").str("result", outcome(r)).num("sent", sent).encode());
    // Left open: closing could make a server that accepts late see nothing.
  }
}

void send_to_owners_udp_ports(Actor& a, const Identity& owner, const std::string& payload) {
  auto found = owners_sockets(owner, false);
  a.record(Obs("scan_udp_sockets").str("owner", owner.name).num("found", found.size()).encode());
  for (const Endpoint& e : found) {
    sockaddr_storage ss;
    socklen_t len = loopback_address(e, &ss);
    int fd = ::socket(e.family, SOCK_DGRAM, 0);
    long r = ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
    a.record(Obs("udp_send").str("result", r >= 0 ? "ok" : errno_name(errno)).encode());
    ::close(fd);
  }
}

Adversary::Adversary(Actor& a) : a_(a) {
  const char* path = std::getenv("AFUNIX_ADVERSARY");
  if (path && *path) {
    handle_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    Obs o("load_adversary_module");
    o.str("result", handle_ ? "ok" : "failed");
    if (!handle_) o.str("error", dlerror());
    a_.record(o.encode());
  }
}

void* Adversary::symbol(const char* name) { return handle_ ? dlsym(handle_, name) : nullptr; }

namespace {
template <typename F, typename... Args>
long call(Actor& a, void* fn, const char* what, Args... args) {
  if (!fn) {
    a.record(Obs(what).str("result", "not provided").encode());
    errno = ENOSYS;
    return -1;
  }
  Returned r = under_watchdog([&] { return reinterpret_cast<F>(fn)(args...); });
  a.record(Obs(what).str("result", outcome(r)).encode());
  errno = r.err;
  return r.blocked ? -1 : r.ret;
}
}  // namespace

int Adversary::connect_via_file(const std::string& path, int type) {
  return call<afunix_adversary_connect_via_file_fn>(a_, symbol("afunix_adversary_connect_via_file"),
                                                    "adversary_connect_via_file", path.c_str(), type);
}

int Adversary::connect_forged(const std::string& path, int type, int pid, unsigned uid, unsigned gid) {
  return call<afunix_adversary_connect_forged_fn>(a_, symbol("afunix_adversary_connect_forged"),
                                                  "adversary_connect_forged", path.c_str(), type, pid, uid,
                                                  gid);
}

int Adversary::squat(const std::string& path, int type) {
  return call<afunix_adversary_squat_fn>(a_, symbol("afunix_adversary_squat"), "adversary_squat",
                                         path.c_str(), type);
}

int Adversary::accept(int squat_fd, const std::string& path) {
  return call<afunix_adversary_accept_fn>(a_, symbol("afunix_adversary_accept"), "adversary_accept",
                                          squat_fd, path.c_str());
}

long Adversary::send_datagram(const std::string& path, const std::string& data) {
  return call<afunix_adversary_send_datagram_fn>(a_, symbol("afunix_adversary_send_datagram"),
                                                 "adversary_send_datagram", path.c_str(),
                                                 static_cast<const void*>(data.data()),
                                                 static_cast<unsigned long>(data.size()));
}

}  // namespace attack
}  // namespace afunix
