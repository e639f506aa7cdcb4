/* rusage OUT CMD [ARGS...]: runs CMD, waits for it with wait4(2) and writes one line to OUT:
 *     <user s> <sys s> <max RSS KiB> <wall s> <exit status>
 * Same figures as GNU time's %U %S %M %e, but with microsecond resolution, which matters for
 * aplay's fraction of a second of CPU over a minute of real-time playback.
 * The command's stdin/stdout/stderr are inherited; its exit status is also this program's. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rusage OUT CMD [ARGS...]\n");
        return 64;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 71; }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rusage: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) { perror("wait4"); return 71; }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double wall = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *out = fopen(argv[1], "w");
    if (!out) { perror(argv[1]); return 73; }
    fprintf(out, "%.6f %.6f %ld %.3f %d\n", seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss, wall, code);
    fclose(out);
    return code;
}
