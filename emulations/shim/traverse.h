// "Bypass traverse checking" (see socket_file.h): Windows lets everyone traverse directories, so a
// socket file a client cannot reach by its path is reached through a second name, a hard link in a
// mirror directory (traverse.cc).
#pragma once

#include <cerrno>

#include "shim.h"
#include "socket_file.h"

namespace afunix_emu {

// bind(): gives the new socket file its second name in the mirror directory.
void publish_mirror(const char* path);

// Runs fn(path); if the path is refused (EACCES), runs it again through the mirror link, if the
// socket file still has its original name.
template <typename F>
int reach(const char* path, F fn) {
  int err = fn(path);
  if (err != EACCES) return err;
  char mirror[kFileBytes];
  if (!traverse_link_for(path, mirror, sizeof mirror)) return err;
  debug("%s: EACCES; reaching it as Windows would, through %s", path, mirror);
  return fn(mirror);
}

}  // namespace afunix_emu
