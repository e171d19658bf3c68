#include "emu_types.h"

#include <arpa/inet.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace afunix_emu {

const char* design_name(Design d) {
  switch (d) {
    case Design::kCygwin2014: return "cygwin-2014";
    case Design::kProposal1: return "proposal-1";
    case Design::kProposal2: return "proposal-2";
  }
  return "unknown";
}

bool operator==(const Secret& a, const Secret& b) {
  return a.w[0] == b.w[0] && a.w[1] == b.w[1] && a.w[2] == b.w[2] && a.w[3] == b.w[3];
}

bool operator==(const Cred& a, const Cred& b) {
  return a.pid == b.pid && a.uid == b.uid && a.gid == b.gid;
}

namespace {

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

void encode_secret(const Secret& s, uint8_t out[kSecretBytes]) {
  for (int i = 0; i < 4; ++i) put32(out + 4 * i, s.w[i]);
}

Secret decode_secret(const uint8_t in[kSecretBytes]) {
  Secret s;
  for (int i = 0; i < 4; ++i) s.w[i] = get32(in + 4 * i);
  return s;
}

void encode_cred(const Cred& c, uint8_t out[kCredBytes]) {
  put32(out, static_cast<uint32_t>(c.pid));
  put32(out + 4, c.uid);
  put32(out + 8, c.gid);
}

Cred decode_cred(const uint8_t in[kCredBytes]) {
  return Cred{static_cast<int32_t>(get32(in)), get32(in + 4), get32(in + 8)};
}

int random_secret(Secret* s) {
  size_t got = 0;
  auto* p = reinterpret_cast<uint8_t*>(s->w);
  while (got < sizeof s->w) {
    ssize_t n = getrandom(p + got, sizeof s->w - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    got += static_cast<size_t>(n);
  }
  return 0;
}

Cred current_cred() {
  return Cred{static_cast<int32_t>(getpid()), static_cast<uint32_t>(geteuid()),
              static_cast<uint32_t>(getegid())};
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in sin;
  std::memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

}  // namespace afunix_emu
