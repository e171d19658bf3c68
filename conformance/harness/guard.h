// Guard bytes around every buffer the kernel (or an emulation) fills for an actor: data, addresses,
// option values, control buffers. A write past the size the caller gave is an observation of its
// own: the op then records "overrun": {buffer: bytes written past it}. The key is absent otherwise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "observation.h"

namespace afunix {

class Guarded {
 public:
  static constexpr size_t kGuard = 32;
  static constexpr unsigned char kGuardByte = 0xa5;

  // `size` usable bytes, pre-filled with `fill`, between two guard zones.
  explicit Guarded(size_t size, unsigned char fill = 0)
      : size_(size), bytes_(size + 2 * kGuard, static_cast<char>(kGuardByte)) {
    std::fill(bytes_.begin() + kGuard, bytes_.end() - kGuard, static_cast<char>(fill));
  }
  char* data() { return bytes_.data() + kGuard; }
  const char* data() const { return bytes_.data() + kGuard; }
  size_t size() const { return size_; }
  // NULL for a zero-size buffer, as a program passes it.
  char* data_or_null() { return size_ ? data() : nullptr; }

  // How far past the end of the buffer something wrote: the offset of the last changed guard byte
  // after it, plus one (0 when none changed; at most kGuard, since nothing further is watched).
  size_t written_past() const {
    for (size_t i = kGuard; i > 0; --i)
      if (static_cast<unsigned char>(bytes_[kGuard + size_ + i - 1]) != kGuardByte) return i;
    return 0;
  }
  // How far before its start: the distance of the farthest changed guard byte before it.
  size_t written_before() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (static_cast<unsigned char>(bytes_[i]) != kGuardByte) return kGuard - i;
    return 0;
  }

 private:
  size_t size_;
  std::vector<char> bytes_;
};

// Collects how far the buffers of one call were written past and adds it to its observation:
// {"addr": 3} (and {"before addr": 1} for a write before a buffer's start).
class Overruns {
 public:
  Overruns& check(const Guarded& g, const std::string& name) {
    if (size_t n = g.written_before()) found_.emplace_back("before " + name, n);
    if (size_t n = g.written_past()) found_.emplace_back(name, n);
    return *this;
  }
  void add_to(Obs& o) const {
    if (found_.empty()) return;
    Obs by = Obs::object();
    for (const auto& f : found_) by.num(f.first, static_cast<long long>(f.second));
    o.json("overrun", by.encode());
  }

 private:
  std::vector<std::pair<std::string, size_t>> found_;
};

}  // namespace afunix
