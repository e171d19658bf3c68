// afunix-private-ns [--net] [--bind|--rbind SOURCE TARGET]... -- COMMAND...: runs COMMAND in
// namespaces of its own (runners/conformlib/leftovers.py, per scenario-program process):
// - with binds, a mount namespace where the bind mounts given are made, in order (the process's
//   private /tmp, /var/tmp, /dev/shm);
// - with --net, a network namespace with only the loopback device, brought up: what the process
//   listens on over 127.0.0.1 (an emulation's sockets) and its abstract AF_UNIX names cannot be
//   reached by, or collide with, the scenario processes running beside it.
// The same as `unshare --mount --net sh -c 'ip link set lo up; mount ...; exec ...'`, without the
// programs that costs per scenario process (about 7 ms of CPU, which a run with --isolate pays
// per scenario). Needs CAP_SYS_ADMIN (and CAP_NET_ADMIN for lo); exits 125 on failure.
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char* what) {
  fprintf(stderr, "afunix-private-ns: %s: %s\n", what, strerror(errno));
  return 125;
}

// A new network namespace has a loopback device that is down: 127.0.0.1 unreachable.
static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail("socket for lo");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return fail("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return fail("SIOCSIFFLAGS lo up");
  close(s);
  return 0;
}

int main(int argc, char** argv) {
  int i = 1, net = 0;
  if (i < argc && strcmp(argv[i], "--net") == 0) net = 1, i++;
  int binds = i;
  while (i + 2 < argc && (strcmp(argv[i], "--bind") == 0 || strcmp(argv[i], "--rbind") == 0)) i += 3;
  if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
    fprintf(stderr, "usage: afunix-private-ns [--net] [--bind|--rbind SOURCE TARGET]... -- COMMAND...\n");
    return 125;
  }
  int command = i + 1;
  if (net) {
    if (unshare(CLONE_NEWNET) != 0) return fail("unshare(CLONE_NEWNET)");
    if (loopback_up() != 0) return 125;
  }
  if (command - 1 > binds) {
    if (unshare(CLONE_NEWNS) != 0) return fail("unshare(CLONE_NEWNS)");
    // Nothing mounted here may reach the other namespaces.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail("making / private");
    for (i = binds; i < command - 1; i += 3) {
      unsigned long flags = MS_BIND | (strcmp(argv[i], "--rbind") == 0 ? MS_REC : 0);
      if (mount(argv[i + 1], argv[i + 2], NULL, flags, NULL) != 0) {
        fprintf(stderr, "afunix-private-ns: mount %s %s: %s\n", argv[i + 1], argv[i + 2], strerror(errno));
        return 125;
      }
    }
  }
  execvp(argv[command], argv + command);
  fprintf(stderr, "afunix-private-ns: cannot run %s: %s\n", argv[command], strerror(errno));
  return 127;
}
