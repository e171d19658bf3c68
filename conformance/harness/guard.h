// Guard bytes around every buffer the kernel (or an emulation) fills for an actor: data, addresses,
// option values, control buffers. A write past the size the caller gave is an observation of its
// own: the op then records "overrun": [the buffers written past]. The key is absent otherwise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
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

  // Did anything write into the guard zones before or after the buffer?
  bool overrun() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (static_cast<unsigned char>(bytes_[i]) != kGuardByte ||
          static_cast<unsigned char>(bytes_[kGuard + size_ + i]) != kGuardByte)
        return true;
    return false;
  }

 private:
  size_t size_;
  std::vector<char> bytes_;
};

// Collects which buffers of one call were overrun and adds them to its observation.
class Overruns {
 public:
  Overruns& check(const Guarded& g, const char* name) {
    if (g.overrun()) names_.push_back(name);
    return *this;
  }
  void add_to(Obs& o) const {
    if (names_.empty()) return;
    std::string list = "[";
    for (size_t i = 0; i < names_.size(); ++i) list += (i ? "," : "") + json_quote(names_[i]);
    o.json("overrun", list + "]");
  }

 private:
  std::vector<std::string> names_;
};

}  // namespace afunix
