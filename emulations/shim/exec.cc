// exec(): the states of emulated sockets that survive exec (no FD_CLOEXEC) travel in the
// environment variable AFUNIX_EMU_STATE; the library's constructor in the new image takes them
// back (fdtable.cc). The new environment is built on the stack only, because exec may be called in
// a vfork() child where the heap belongs to the parent.
//
// Not covered: posix_spawn() and what uses it inside libc (system(), popen()); a program started
// that way sees inherited emulated sockets as plain TCP/UDP sockets.
#undef _FORTIFY_SOURCE
#include <alloca.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "shim.h"

using namespace afunix_emu;

namespace {

constexpr size_t kNameLen = sizeof kStateEnvName - 1;

bool is_state_var(const char* entry) {
  return std::strncmp(entry, kStateEnvName, kNameLen) == 0 && entry[kNameLen] == '=';
}

struct Count {
  size_t n;
};

void count_one(int fd, SockState*, void* arg) {
  int fl = real.fcntl(fd, F_GETFD);
  if (fl >= 0 && !(fl & FD_CLOEXEC)) ++static_cast<Count*>(arg)->n;
}

struct Pack {
  char* buf;
  size_t cap;
  size_t len;
};

void pack_one(int fd, SockState* st, void* arg) {
  auto* p = static_cast<Pack*>(arg);
  int fl = real.fcntl(fd, F_GETFD);
  if (fl < 0 || (fl & FD_CLOEXEC)) return;
  size_t n = format_state_entry(fd, *st, p->buf + p->len, p->cap - p->len);
  p->len += n;  // 0 if it did not fit: that descriptor is left out
}

// Upper bound of one packed entry: the descriptor, '=', two hex digits a byte, ';'.
constexpr size_t kEntryMax = 16 + 2 * sizeof(SockState) + 2;

}  // namespace

// Builds the environment for exec on the caller's stack and calls exec_fn with it.
#define WITH_STATE_ENV(envp, newenv, exec_call)                                                   \
  do {                                                                                            \
    ensure_real();                                                                                \
    char* const* src_ = (envp) ? (envp) : static_cast<char* const*>(nullptr);                    \
    size_t nenv_ = 0;                                                                             \
    while (src_ && src_[nenv_]) ++nenv_;                                                          \
    Count count_{0};                                                                              \
    for_each_state(count_one, &count_);                                                           \
    char* value_ = nullptr;                                                                       \
    if (count_.n > 0) {                                                                           \
      size_t cap_ = kNameLen + 1 + 64 + count_.n * kEntryMax + 1;                                 \
      value_ = static_cast<char*>(alloca(cap_));                                                  \
      std::memcpy(value_, kStateEnvName, kNameLen);                                               \
      value_[kNameLen] = '=';                                                                     \
      Pack pack_{value_, cap_, kNameLen + 1};                                                     \
      size_t h_ = format_state_header(static_cast<uint8_t>(kDesign.id), value_ + pack_.len,         \
                                      cap_ - pack_.len);                                          \
      pack_.len += h_;                                                                            \
      for_each_state(pack_one, &pack_);                                                           \
    }                                                                                             \
    char** newenv = static_cast<char**>(alloca((nenv_ + 2) * sizeof(char*)));                    \
    size_t k_ = 0;                                                                                \
    for (size_t i_ = 0; i_ < nenv_; ++i_)                                                         \
      if (!is_state_var(src_[i_])) newenv[k_++] = src_[i_];                                      \
    if (value_) newenv[k_++] = value_;                                                            \
    newenv[k_] = nullptr;                                                                         \
    return exec_call;                                                                             \
  } while (0)

AFUNIX_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) __THROW {
  WITH_STATE_ENV(envp, env, real.execve(path, argv, env));
}

AFUNIX_EXPORT int execv(const char* path, char* const argv[]) __THROW {
  WITH_STATE_ENV(environ, env, real.execve(path, argv, env));
}

AFUNIX_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) __THROW {
  WITH_STATE_ENV(envp, env, real.execvpe(file, argv, env));
}

AFUNIX_EXPORT int execvp(const char* file, char* const argv[]) __THROW {
  WITH_STATE_ENV(environ, env, real.execvpe(file, argv, env));
}

AFUNIX_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) __THROW {
  WITH_STATE_ENV(envp, env, real.fexecve(fd, argv, env));
}

// The list forms gather their arguments on the stack and go through the vector forms above.
#define GATHER_ARGS(first, argv, ap, extra_envp)                                                  \
  size_t argc_ = 1;                                                                               \
  va_start(ap, first);                                                                            \
  while (va_arg(ap, char*)) ++argc_;                                                              \
  va_end(ap);                                                                                     \
  char** argv = static_cast<char**>(alloca((argc_ + 1) * sizeof(char*)));                        \
  argv[0] = const_cast<char*>(first);                                                             \
  va_start(ap, first);                                                                            \
  for (size_t i_ = 1; i_ <= argc_; ++i_) argv[i_] = va_arg(ap, char*);                           \
  extra_envp;                                                                                     \
  va_end(ap)

AFUNIX_EXPORT int execl(const char* path, const char* arg, ...) __THROW {
  va_list ap;
  GATHER_ARGS(arg, argv, ap, (void)0);
  return execve(path, argv, environ);
}

AFUNIX_EXPORT int execlp(const char* file, const char* arg, ...) __THROW {
  va_list ap;
  GATHER_ARGS(arg, argv, ap, (void)0);
  return execvpe(file, argv, environ);
}

AFUNIX_EXPORT int execle(const char* path, const char* arg, ...) __THROW {
  va_list ap;
  char* const* envp = nullptr;
  GATHER_ARGS(arg, argv, ap, envp = va_arg(ap, char* const*));
  return execve(path, argv, envp);
}
