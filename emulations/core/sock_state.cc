#include "sock_state.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace afunix_emu {
namespace {

const char kHex[] = "0123456789abcdef";

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

void init_state(SockState* st, uint8_t design, int type) {
  std::memset(st, 0, sizeof *st);
  st->design = design;
  st->type = static_cast<uint8_t>(type);
  st->phase = Phase::kFresh;
  st->stash_fd = -1;
  st->peer = Cred{0, static_cast<uint32_t>(-1), static_cast<uint32_t>(-1)};
}

size_t pack_bytes(const void* data, size_t len, char* out, size_t cap) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t o = 0;
  size_t i = 0;
  while (i < len) {
    size_t run = 0;
    while (i + run < len && p[i + run] == 0) ++run;
    if (run >= 3) {
      char buf[24];
      int n = std::snprintf(buf, sizeof buf, "Z%zx.", run);
      if (o + static_cast<size_t>(n) + 1 > cap) return 0;
      std::memcpy(out + o, buf, static_cast<size_t>(n));
      o += static_cast<size_t>(n);
      i += run;
      continue;
    }
    if (o + 3 > cap) return 0;
    out[o++] = kHex[p[i] >> 4];
    out[o++] = kHex[p[i] & 15];
    ++i;
  }
  if (o + 1 > cap) return 0;
  out[o] = '\0';
  return o;
}

size_t unpack_bytes(const char* text, void* data, size_t len) {
  auto* p = static_cast<uint8_t*>(data);
  const char* t = text;
  size_t i = 0;
  while (i < len) {
    if (*t == 'Z') {
      ++t;
      size_t run = 0;
      int digits = 0;
      int h;
      while ((h = hex_digit(*t)) >= 0) {
        if (++digits > 8) return 0;
        run = run * 16 + static_cast<size_t>(h);
        ++t;
      }
      if (*t != '.' || digits == 0 || run == 0 || run > len - i) return 0;
      ++t;
      std::memset(p + i, 0, run);
      i += run;
      continue;
    }
    int hi = hex_digit(t[0]);
    if (hi < 0) return 0;
    int lo = hex_digit(t[1]);
    if (lo < 0) return 0;
    p[i++] = static_cast<uint8_t>(hi << 4 | lo);
    t += 2;
  }
  return static_cast<size_t>(t - text);
}

size_t format_state_header(uint8_t design, char* out, size_t cap) {
  int n = std::snprintf(out, cap, "v1:%u:%zu:", design, sizeof(SockState));
  if (n < 0 || static_cast<size_t>(n) >= cap) return 0;
  return static_cast<size_t>(n);
}

size_t format_state_entry(int fd, const SockState& st, char* out, size_t cap) {
  int n = std::snprintf(out, cap, "%d=", fd);
  if (n < 0 || static_cast<size_t>(n) >= cap) return 0;
  size_t o = static_cast<size_t>(n);
  size_t m = pack_bytes(&st, sizeof st, out + o, cap - o);
  if (m == 0 || o + m + 2 > cap) return 0;
  o += m;
  out[o++] = ';';
  out[o] = '\0';
  return o;
}

bool parse_state_value(const char* value, uint8_t design,
                       void (*found)(int fd, const SockState& st, void* arg), void* arg) {
  char header[64];
  size_t hlen = format_state_header(design, header, sizeof header);
  if (hlen == 0 || std::strncmp(value, header, hlen) != 0) return false;
  const char* p = value + hlen;
  while (*p) {
    char* end;
    long fd = std::strtol(p, &end, 10);
    if (end == p || *end != '=' || fd < 0 || fd > 0x7fffffff) return true;
    p = end + 1;
    SockState st;
    size_t used = unpack_bytes(p, &st, sizeof st);
    if (used == 0 || p[used] != ';') return true;
    p += used + 1;
    if (st.design == design) found(static_cast<int>(fd), st, arg);
  }
  return true;
}

}  // namespace afunix_emu
