// What the security scenarios need beyond ordinary operations: what a victim observed, summed up so
// that the verdict rests on it alone, and the means an attacker has. On native Linux an attacker has
// only the kernel API; on an emulation backend it may also have the backend's adversary module.
#pragma once

#include <string>
#include <vector>

#include "scenario.h"

// The adversary module a backend may provide (descriptor key `adversary`, passed to the scenario
// program as AFUNIX_ADVERSARY). It knows the backend's wire protocol: what its socket files hold and
// what its handshake says. Every function is optional; each returns -1 with errno set when the
// attack cannot be made. Descriptors it returns are the backend's transport (e.g. TCP) sockets.
extern "C" {
// Reach the server behind the socket file at path using what the file reveals, as the attacker.
typedef int (*afunix_adversary_connect_via_file_fn)(const char* path, int type);
// The same, claiming credentials the attacker does not have.
typedef int (*afunix_adversary_connect_forged_fn)(const char* path, int type, int pid, unsigned uid,
                                                   unsigned gid);
// After the server died leaving its socket file: take over the endpoint the file points to.
typedef int (*afunix_adversary_squat_fn)(const char* path, int type);
// Accept a client on a squatted endpoint, playing the server's part of the protocol.
typedef int (*afunix_adversary_accept_fn)(int squat_fd, const char* path);
// Deliver one datagram to the datagram server behind path, around the backend's checks.
typedef long (*afunix_adversary_send_datagram_fn)(const char* path, const void* buf, unsigned long len);
}

namespace afunix {
namespace attack {

// ---- the victim's side (judged) ---------------------------------------------------------------

// Serves the listener until `done` is posted: accepts every connection as it comes (an emulation
// may need accept() to run before its client's connect() returns), then records as one observation
// who each peer is (SO_PEERCRED) and the bytes it had sent by then. Native: what the kernel let
// through; a backend that lets an attacker in shows an extra connection here.
void accept_until(Actor& a, int listener, Event& done);

// Receives every datagram queued on fd without blocking and records their bytes.
void receive_everything(Actor& a, int fd);

// ---- the attacker's means (evidence only) -----------------------------------------------------

// Connects to every TCP listener on the loopback that belongs to `owner` (found in /proc/net/tcp
// and tcp6, the way a local attacker guesses ports) and sends payload on each.
void connect_to_owners_tcp_ports(Actor& a, const Identity& owner, const std::string& payload);

// Sends payload to every UDP socket on the loopback that belongs to `owner` (/proc/net/udp, udp6).
void send_to_owners_udp_ports(Actor& a, const Identity& owner, const std::string& payload);

// The backend's adversary module, when it has one.
class Adversary {
 public:
  explicit Adversary(Actor& a);
  bool present() const { return handle_ != nullptr; }
  int connect_via_file(const std::string& path, int type);
  int connect_forged(const std::string& path, int type, int pid, unsigned uid, unsigned gid);
  int squat(const std::string& path, int type);
  int accept(int squat_fd, const std::string& path);
  long send_datagram(const std::string& path, const std::string& data);

 private:
  void* symbol(const char* name);
  Actor& a_;
  void* handle_ = nullptr;
};

}  // namespace attack
}  // namespace afunix
