// The mirror of "bypass traverse checking" (traverse.h): every socket file bind() makes gets a
// second name in a directory everyone can reach, so that connect() can follow Windows' rules.
#include "traverse.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "shim.h"
#include "socket_file.h"

namespace afunix_emu {
namespace {

const char* mirror_dir() { return traverse_dir(); }

}  // namespace

void prepare_mirror_dir() {
  const char* dir = mirror_dir();
  int saved = errno;
  if (dir && ::mkdir(dir, 0700) == 0) ::chmod(dir, 01733);  // like /tmp, but not listable
  errno = saved;
}

namespace {

// Removes this user's mirror links whose socket file is gone (link count 1).
void collect_stale_mirrors(const char* dir) {
  DIR* d = ::opendir(dir);
  if (!d) return;
  uid_t me = ::geteuid();
  while (dirent* e = ::readdir(d)) {
    if (std::strlen(e->d_name) != 16) continue;
    struct stat st;
    if (raw_fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        st.st_nlink == 1 && st.st_uid == me)
      ::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

}  // namespace

// bind(): gives the new socket file its second name in the mirror directory.
void publish_mirror(const char* path) {
  const char* dir = mirror_dir();
  char cwd[kFileBytes], abs[kFileBytes], mirror[kFileBytes], tmp[kFileBytes + 16];
  if (!dir || !getcwd(cwd, sizeof cwd) || !lexical_absolute(cwd, path, abs, sizeof abs) ||
      !traverse_mirror_path(dir, abs, mirror, sizeof mirror))
    return;
  int saved = errno;
  prepare_mirror_dir();
  collect_stale_mirrors(dir);
  std::snprintf(tmp, sizeof tmp, "%s.%d", mirror, static_cast<int>(getpid()));
  ::unlink(tmp);
  if (::link(abs, tmp) == 0 && ::rename(tmp, mirror) != 0) ::unlink(tmp);
  errno = saved;
}

}  // namespace afunix_emu
