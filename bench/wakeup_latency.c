/* The latency the harness's watchdog guards, for measuring a backend's timeout_multiplier
 * (docs/triage/timeouts.md): one process blocked in accept() on a pathname socket while another
 * waits on a pipe (an Event), wakes when it is posted and connects. Prints, in microseconds, the
 * worst and the median time from the post to accept() returning over AFUNIX_WAKEUPS wake-ups
 * (default 100). Arguments are ignored (backends' commands append the runner's --gtest_filter).
 * bench/backend_latency.py runs it under backends by their descriptors, next to native.
 *
 * Plain C and POSIX so that it cross-builds with one command for every qemu guest, e.g.
 *   s390x-linux-gnu-gcc -O2 -o /tmp/wakeup-s390x bench/wakeup_latency.c
 *   qemu-s390x -L /usr/s390x-linux-gnu /tmp/wakeup-s390x */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static int cmp(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  (void)argc, (void)argv;
  const char* wakeups = getenv("AFUNIX_WAKEUPS");
  int n = wakeups ? atoi(wakeups) : 100;
  if (n <= 0 || n > 100000) return 2;
  char dir[4096];
  const char* base = getenv("AFUNIX_WORKDIR");
  snprintf(dir, sizeof dir, "%s/wakeup-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s/s", dir);
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  if (ls < 0 || bind(ls, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(ls, 8) != 0)
    return perror("listen"), 1;
  int go[2];
  if (pipe(go) != 0) return perror("pipe"), 1;
  pid_t child = fork();
  if (child == 0) {  /* the actor that waits for the event, then connects */
    close(go[1]);
    char c;
    while (read(go[0], &c, 1) == 1) {
      int s = socket(AF_UNIX, SOCK_STREAM, 0);
      if (s < 0 || connect(s, (struct sockaddr*)&addr, sizeof addr) != 0) _exit(1);
      close(s);
    }
    _exit(0);
  }
  close(go[0]);
  long long* lat = calloc(n, sizeof *lat);
  for (int i = 0; i < n; ++i) {
    usleep(2000); /* let the other actor block in read() again */
    long long posted = now_us();
    if (write(go[1], "!", 1) != 1) return perror("write"), 1;
    int c = accept(ls, NULL, NULL);
    lat[i] = now_us() - posted;
    if (c < 0) return perror("accept"), 1;
    close(c);
  }
  close(go[1]);
  waitpid(child, NULL, 0);
  unlink(addr.sun_path);
  rmdir(dir);
  qsort(lat, n, sizeof *lat, cmp);
  printf("{\"wakeups\": %d, \"median_us\": %lld, \"worst_us\": %lld}\n", n, lat[n / 2], lat[n - 1]);
  return 0;
}
