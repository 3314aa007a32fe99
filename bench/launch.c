// Runs one program and writes what it cost to OUT: "WALL_US USER_US SYS_US MAXRSS_KB STATUS".
// Wall time from just before vfork to wait4's return; CPU time and peak RSS are the
// kernel's rusage of that one process (vfork shares this launcher's few pages until the
// exec, so the launcher adds nothing to the program's peak). The program's standard
// streams pass through; the exit status is the program's.
//
//   launch OUT PROGRAM [ARGS...]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long us(const struct timeval* tv) { return (long long)tv->tv_sec * 1000000 + tv->tv_usec; }

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: launch OUT PROGRAM [ARGS...]\n");
    return 2;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pid_t pid = vfork();
  if (pid < 0) {
    perror("vfork");
    return 2;
  }
  if (pid == 0) {
    execv(argv[2], argv + 2);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) {
    perror("wait4");
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long wall = (long long)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE* f = fopen(argv[1], "w");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  fprintf(f, "%lld %lld %lld %ld %d\n", wall, us(&ru.ru_utime), us(&ru.ru_stime), ru.ru_maxrss, rc);
  fclose(f);
  return rc;
}
