// afunix-private-dirs [--bind|--rbind SOURCE TARGET]... -- COMMAND...: runs COMMAND in a mount
// namespace of its own after the bind mounts given, in order (runners/conformlib/leftovers.py: a
// scenario process's private /tmp, /var/tmp, /dev/shm). The same as `unshare --mount sh -c 'mount
// ...; exec ...'`, without the five or six programs that costs per scenario process (about 7 ms of
// CPU, which a run with --isolate pays per scenario). Needs CAP_SYS_ADMIN; exits 125 on failure.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "afunix-private-dirs: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    return 125;
  }
  // Nothing mounted here may reach the other namespaces.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    fprintf(stderr, "afunix-private-dirs: making / private: %s\n", strerror(errno));
    return 125;
  }
  int i = 1;
  for (; i + 2 < argc && strcmp(argv[i], "--") != 0; i += 3) {
    unsigned long flags = MS_BIND | (strcmp(argv[i], "--rbind") == 0 ? MS_REC : 0);
    if (strcmp(argv[i], "--bind") != 0 && strcmp(argv[i], "--rbind") != 0) break;
    if (mount(argv[i + 1], argv[i + 2], NULL, flags, NULL) != 0) {
      fprintf(stderr, "afunix-private-dirs: mount %s %s: %s\n", argv[i + 1], argv[i + 2], strerror(errno));
      return 125;
    }
  }
  if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
    fprintf(stderr, "usage: afunix-private-dirs [--bind|--rbind SOURCE TARGET]... -- COMMAND...\n");
    return 125;
  }
  execvp(argv[i + 1], argv + i + 1);
  fprintf(stderr, "afunix-private-dirs: cannot run %s: %s\n", argv[i + 1], strerror(errno));
  return 127;
}
