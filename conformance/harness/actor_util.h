// Helpers shared by the files that implement Actor's operations (not for scenarios).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "names.h"
#include "scenario.h"
#include "observation.h"
#include "watchdog.h"

namespace afunix {
namespace util {

// The outcome of a call returning 0, an fd or -1: "ok", "blocked" or the errno's name.
inline std::string outcome(long ret, int err, bool blocked = false) {
  if (blocked) return "blocked";
  return ret >= 0 ? "ok" : errno_name(err);
}

inline std::string outcome(const Returned& r) { return outcome(r.ret, r.err, r.blocked); }

// For calls returning a byte count: the count, or "blocked" / the errno's name.
inline Obs& count_or_error(Obs& o, long ret, int err, bool blocked = false) {
  if (ret >= 0 && !blocked) return o.num("result", ret);
  return o.str("result", outcome(ret, err, blocked));
}
inline Obs& count_or_error(Obs& o, const Returned& r) { return count_or_error(o, r.ret, r.err, r.blocked); }

// A JSON array of strings.
inline std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + json_quote(items[i]);
  return out + "]";
}

// What a descriptor refers to, in the scenario's words: the label of its file or socket ("memo",
// "y"), else "unknown <file type>", or "closed". With `flags`, " cloexec" when FD_CLOEXEC is set.
std::string describe_fd(int fd, bool flags);
// Descriptions of several descriptors, runs of equal ones compressed to "memo*253".
std::string describe_fds(const std::vector<int>& fds, bool flags);
// The process a pidfd refers to, as a role name (from /proc/self/fdinfo), or "unknown".
std::string pidfd_process(int pidfd);
// Open descriptors of this process, as the kernel lists them (/proc/self/fd, /dev/fd), or a scan
// with F_GETFD bounded by the descriptor limit where neither exists.
int count_open_fds();
// Records an address the kernel wrote into a buffer of `bufsize` bytes while reporting `reported`
// as its length: under `key` what the buffer holds (normalised), under `len_key` the reported
// length as if the name had no run tag (and, inside the scenario directory, as if relative), then
// "name_class", "nul_terminated" (pathnames) and "written_past_length" (bytes past the reported
// length that differ from `before`, the buffer's contents before the call; only when any do).
void record_address(Obs& o, const char* key, const char* len_key, const char* buf, size_t bufsize,
                    socklen_t reported, const std::string& before);
// Writes what an AddrBuf holds into the buffer (its earlier address, over the filler already there).
void prefill(char* buf, size_t bufsize, const AddrBuf& how);
// "buffer" and, when it holds an earlier address, "held".
void record_buffer(Obs& o, const AddrBuf& how);
// Filler bytes for sends whose content does not matter.
std::string filler(size_t n);

}  // namespace util
}  // namespace afunix
