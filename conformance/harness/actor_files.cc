// Actor, "Files and identity" (scenario.h): the files a story makes and who it runs as.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "actor_util.h"
#include "internal.h"
#include "names.h"
#include "observation.h"
#include "scenario.h"

namespace afunix {
using util::outcome;

int Actor::mkdir(const std::string& path, unsigned mode) {
  int r = ::mkdir(path.c_str(), mode);
  int err = errno;
  record(Obs("mkdir").str("path", path).str("mode", octal_mode(mode)).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::create_file(const std::string& path, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  int err = errno;
  if (fd >= 0) ::close(fd);
  record(Obs("create_file").str("path", path).str("mode", octal_mode(mode)).str("result", outcome(fd, err)).encode());
  return fd >= 0 ? 0 : -1;
}

int Actor::chmod(const std::string& path, unsigned mode) {
  int r = ::chmod(path.c_str(), mode);
  int err = errno;
  record(Obs("chmod").str("path", path).str("mode", octal_mode(mode)).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::unlink(const std::string& path) {
  int r = ::unlink(path.c_str());
  int err = errno;
  record(Obs("unlink").str("path", path).str("result", outcome(r, err)).encode());
  return r;
}

int Actor::symlink(const std::string& target, const std::string& path) {
  int r = ::symlink(target.c_str(), path.c_str());
  int err = errno;
  record(Obs("symlink").str("path", path).str("target", target).str("result", outcome(r, err)).encode());
  return r;
}

void Actor::stat(const std::string& path) {
  struct stat st {};
  int r = ::stat(path.c_str(), &st);
  int err = errno;
  Obs o("stat");
  o.str("path", path).str("result", outcome(r, err));
  if (r == 0) o.str("type", file_type_name(st.st_mode)).str("mode", octal_mode(st.st_mode));
  record(o.encode());
}

void Actor::umask(unsigned mask) {
  ::umask(mask);
  record(Obs("umask").str("mask", octal_mode(mask)).encode());
}

int Actor::become(const Identity& who) {
  int r = 0;
  if (!who.is_runner) {
    r = setgroups(who.groups.size(), who.groups.data());
    if (r == 0) r = setgid(who.gid);
    if (r == 0) r = setuid(who.uid);
  }
  int err = errno;
  // A faked switch (fakeroot) must not pass for a real one: the actor still has the old identity.
  bool faked = r == 0 && !who.is_runner && !internal::kernel_sees_identity(who.uid, who.gid);
  record(Obs("become").str("identity", who.name).str("result", faked ? "faked" : outcome(r, err)).encode());
  return faked ? -1 : r;
}

}  // namespace afunix
