/*
 * pingpong.c - the floor for window-1 latency on this machine: two processes
 * on loopback TCP (TCP_NODELAY), blocking read/write, no protocol at all.
 * The client writes a 206-byte "submit_sm", the server answers with a
 * 40-byte "resp" and a 181-byte "receipt" (the loopback bench's sizes).
 * Prints round trips per second and p50/p99 in microseconds.
 *
 *   build/bench_pingpong [N]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUBMIT 206
#define ANSWER (40 + 181)

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Read exactly n bytes; 0 on EOF or error. */
static int read_full(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

static void serve(int ls)
{
    char buf[ANSWER];
    int c = accept(ls, NULL, NULL);
    if (c < 0 || nodelay(c) != 0)
        _exit(1);
    /* Two writes, as an SMPP server answers and then sends the receipt. */
    while (read_full(c, buf, SUBMIT)) {
        if (write(c, buf, 40) != 40 || write(c, buf, 181) != 181)
            break;
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 50000;
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    char buf[ANSWER];
    double *lat, start, elapsed;
    int ls, s, i;
    pid_t pid;

    if (n <= 0)
        n = 50000;
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&addr, &len) != 0) {
        perror("listen");
        return 1;
    }
    pid = fork();
    if (pid == 0)
        serve(ls);
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0 || nodelay(s) != 0) {
        perror("connect");
        return 1;
    }
    lat = malloc((size_t)n * sizeof(*lat));
    if (lat == NULL)
        return 1;
    for (i = 0; i < SUBMIT; i++)
        buf[i] = (char)i;
    start = now_us();
    for (i = 0; i < n; i++) {
        double t = now_us();
        if (write(s, buf, SUBMIT) != SUBMIT || !read_full(s, buf, ANSWER)) {
            fprintf(stderr, "pingpong: link broke at %d\n", i);
            return 1;
        }
        lat[i] = now_us() - t;
    }
    elapsed = now_us() - start;
    close(s);
    waitpid(pid, NULL, 0);
    qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
    printf("C ping-pong floor (no SMPP, blocking I/O): %.0f round trips/s, p50 %.0f us, p99 %.0f "
           "us\n",
           (double)n / elapsed * 1e6, lat[n / 2], lat[(size_t)n * 99 / 100]);
    free(lat);
    return 0;
}
