// One observation: an ordered JSON object written as a single line of an actor's trace.
// Keys keep their insertion order so traces read like the story they record.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace afunix {

std::string json_quote(const std::string& s);

class Obs {
 public:
  explicit Obs(const std::string& op) { str("op", op); }

  Obs& str(const std::string& key, const std::string& value) {
    fields_.emplace_back(key, json_quote(value));
    return *this;
  }
  Obs& num(const std::string& key, long long value) {
    fields_.emplace_back(key, std::to_string(value));
    return *this;
  }
  Obs& flag(const std::string& key, bool value) {
    fields_.emplace_back(key, value ? "true" : "false");
    return *this;
  }
  // A nested object (another Obs without "op") or any already-encoded JSON value.
  Obs& json(const std::string& key, const std::string& encoded) {
    fields_.emplace_back(key, encoded);
    return *this;
  }

  std::string encode() const;

  // An object with no "op" key, for nested values such as credentials.
  static Obs object() { return Obs(); }

 private:
  Obs() = default;
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace afunix
