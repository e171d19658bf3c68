// Types shared by every emulation design: which design, the per-socket secret, self-reported
// credentials and their wire encodings. Plain data and plain functions, so the logic can be tested
// without LD_PRELOAD.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace afunix_emu {

enum class Design : uint8_t {
  kCygwin2014 = 1,  // symmetric secret+creds handshake before connect() returns (also: no handshake)
  kProposal1 = 2,   // asymmetric exchange: client sends at connect, verifies before its first recv
  kProposal2 = 3,   // connection table in the socket file, nothing exchanged over TCP
};
const char* design_name(Design d);

// Cygwin's connect_secret: int[4] from the kernel's random source, one per bound socket.
struct Secret {
  uint32_t w[4];
};
bool operator==(const Secret& a, const Secret& b);
inline bool operator!=(const Secret& a, const Secret& b) { return !(a == b); }

// struct ucred as the peer reported it: pid, uid, gid.
struct Cred {
  int32_t pid;
  uint32_t uid;
  uint32_t gid;
};
bool operator==(const Cred& a, const Cred& b);

constexpr size_t kSecretBytes = 16;  // int[4], little-endian on the wire
constexpr size_t kCredBytes = 12;    // pid, uid, gid as 32-bit little-endian

void encode_secret(const Secret& s, uint8_t out[kSecretBytes]);
Secret decode_secret(const uint8_t in[kSecretBytes]);
void encode_cred(const Cred& c, uint8_t out[kCredBytes]);
Cred decode_cred(const uint8_t in[kCredBytes]);

// Fills s from getrandom(); returns 0 or an errno.
int random_secret(Secret* s);

// 127.0.0.1:port, where every design's emulated sockets live.
sockaddr_in loopback(uint16_t port);

// The calling process's pid, effective uid and effective gid (what SO_PEERCRED reports on Linux).
Cred current_cred();

}  // namespace afunix_emu
