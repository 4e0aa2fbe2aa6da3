/* loadgen.c: closed-loop load generator for the ex2_sum protocol ("a b\n" -> "a+b\n").
 *
 * One thread, one epoll loop, so that the generator costs the machine far less CPU than
 * the Python server it measures. tests/bench/run.py compiles it with `cc -O2` and drives
 * it; tests/bench/loadgen.py is the same program in Python, used when there is no C
 * compiler. Both speak the same command line and print the same lines:
 *
 *   persistent, perreq:  "start\n" when the measured window opens, then one JSON line
 *                        when it closes; connections stay open until stdin reaches EOF.
 *   idle:                "ready N\n" once N idle connections are open and answered; on a
 *                        line from stdin, the probes run and one JSON line is printed;
 *                        then the connections stay open until stdin reaches EOF.
 *
 * Modes:
 *   persistent  --conns N connections, each keeps --inflight K requests in flight.
 *   perreq      --conns N clients, each opening one connection per request (the
 *               lecture's client); latency runs from connect() to the reply.
 *   idle        --conns N connections each send one request, read the reply and go
 *               silent; then --probes new clients connect one after the other, send one
 *               request each, and their latency (connect() to reply) is measured.
 *
 * Every reply is checked against the expected sum. Latency is from the moment a request
 * is written to the moment its reply is read (closed loop: a stalled server delays the
 * next requests too, so stalls are under-counted; see the runner's notes).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAXK 64          /* most requests in flight on one connection */
#define RBUF 4096        /* replies are short lines: this many bytes without "\n" is an error */
#define WBUF 2048
#define CONNECT_WINDOW 100 /* connections being set up at once: a small accept queue
                              must not overflow, or the kernel drops SYNs for a second */

enum { FREE, CONNECTING, WAITING, RUNNING, IDLE };
enum { MODE_PERSISTENT, MODE_PERREQ, MODE_IDLE };
enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DONE };

typedef struct {
    int fd, state;
    uint32_t ev; /* the epoll events asked for: change them only when they change */
    int rlen, wlen, head, count;
    char rbuf[RBUF], wbuf[WBUF];
    long long expect[MAXK];
    double sent[MAXK];
} conn_t;

static struct sockaddr_storage addr;
static socklen_t addrlen;
static int ep, mode, nconns, inflight = 1, phase = PH_SETUP, probes = 200;
static double warmup = 0.5, duration = 2.0, setup_limit = 30.0, probe_time = 2.0;
static conn_t *conns;
static uint64_t seq;
static double *lat;
static size_t nlat, caplat;
static long long wrong, closed, connect_errors, started, ready, done_in_window;
static double t_start, t_end;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t mix(uint64_t x) { /* splitmix64: varying operands, reproducible */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void record(double t_sent, double t_now) {
    if (phase != PH_MEASURE || t_now < t_start) return;
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) { perror("realloc"); exit(1); }
    }
    lat[nlat++] = (t_now - t_sent) * 1e6;
    done_in_window++;
}

static void set_events(conn_t *c, uint32_t ev) {
    if (ev == c->ev) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    c->ev = ev;
}

static void drop(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = FREE;
    c->count = c->rlen = c->wlen = 0;
}

static void flush(conn_t *c) {
    while (c->wlen > 0) {
        ssize_t n = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            closed++;
            drop(c);
            return;
        }
        memmove(c->wbuf, c->wbuf + n, c->wlen - n);
        c->wlen -= n;
    }
    set_events(c, EPOLLIN | (c->wlen ? EPOLLOUT : 0));
}

static void queue_request(conn_t *c, double t) {
    uint64_t r = mix(seq++);
    long long a = (long long)(r % 2000000001ULL) - 1000000000LL;
    long long b = (long long)((r >> 32) % 2000001ULL) - 1000000LL;
    if (c->count == MAXK || c->wlen > WBUF - 48) return;
    c->wlen += sprintf(c->wbuf + c->wlen, "%lld %lld\n", a, b);
    int slot = (c->head + c->count) % MAXK;
    c->expect[slot] = a + b;
    c->sent[slot] = t;
    c->count++;
}

static int open_conn(conn_t *c) {
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { connect_errors++; return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = CONNECTING;
    c->count = c->rlen = c->wlen = 0;
    c->head = 0;
    c->sent[0] = now(); /* perreq: latency counts from connect() */
    started++;
    if (connect(fd, (struct sockaddr *)&addr, addrlen) < 0 && errno != EINPROGRESS) {
        connect_errors++;
        close(fd);
        c->fd = -1;
        c->state = FREE;
        return -1;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    c->ev = EPOLLOUT;
    return 0;
}

/* Keep CONNECT_WINDOW connections being set up until all nconns are. */
static void open_more(void) {
    static int next;
    while (next < nconns && started - ready - connect_errors - closed < CONNECT_WINDOW) {
        if (open_conn(&conns[next++]) < 0 && errno == EMFILE) break;
    }
}

static void on_connected(conn_t *c, double t) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        connect_errors++;
        drop(c);
        if (mode != MODE_PERREQ) open_more(); /* perreq: the main loop reopens it */
        return;
    }
    c->state = WAITING;
    if (mode == MODE_PERREQ) {
        double t0 = c->sent[0];
        queue_request(c, t0);
    } else {
        int k = mode == MODE_PERSISTENT ? inflight : 1;
        for (int i = 0; i < k; i++) queue_request(c, t);
    }
    flush(c);
}

static void on_line(conn_t *c, char *line, double t) {
    if (c->count == 0) { wrong++; return; }
    char want[32];
    sprintf(want, "%lld", c->expect[c->head]);
    if (strcmp(line, want) != 0) wrong++;
    record(c->sent[c->head], t);
    c->head = (c->head + 1) % MAXK;
    c->count--;
    if (c->state == WAITING) {
        c->state = mode == MODE_IDLE ? IDLE : RUNNING;
        if (mode != MODE_PERREQ) { ready++; open_more(); }
    }
    /* While connections are still being set up, the ready ones wait: a busy server
       would accept the newcomers late, and the setup would take long. */
    if (mode == MODE_PERSISTENT && phase != PH_DONE && phase != PH_SETUP)
        queue_request(c, t); /* sent by on_readable, one send() for all the replies read */
}

static void on_readable(conn_t *c, double t) {
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (mode != MODE_PERREQ || c->count) closed++;
        drop(c);
        return;
    }
    c->rlen += n;
    char *start = c->rbuf, *nl;
    while (c->fd >= 0 && (nl = memchr(start, '\n', c->rbuf + c->rlen - start))) {
        *nl = 0;
        if (nl > start && nl[-1] == '\r') nl[-1] = 0;
        on_line(c, start, t);
        start = nl + 1;
    }
    if (c->fd < 0) return;
    if (c->wlen) flush(c);
    if (c->fd < 0) return;
    c->rlen -= start - c->rbuf;
    memmove(c->rbuf, start, c->rlen);
    if (c->rlen == RBUF) { wrong++; drop(c); return; }
    if (mode == MODE_PERREQ && c->count == 0) { /* one request per connection: done */
        drop(c);
        if (phase != PH_DONE) open_conn(c);
    }
}

static void handle(struct epoll_event *e, double t) {
    conn_t *c = e->data.ptr;
    if (c->state == FREE) return;
    if (c->state == CONNECTING) {
        if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c, t);
        return;
    }
    if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c, t);
    if (c->state != FREE && (e->events & EPOLLOUT)) flush(c);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A percentile as JSON: null when no reply came at all. */
static const char *pct(double q, char *buf) {
    if (!nlat) return "null";
    size_t i = (size_t)ceil(q * nlat);
    sprintf(buf, "%.1f", q >= 1 ? lat[nlat - 1] : lat[i ? i - 1 : 0]);
    return buf;
}

static void wait_stdin_line(void) {
    char buf[256];
    if (!fgets(buf, sizeof buf, stdin)) {}
}

static void report(double wall, double cpu, long long open_now, long long late) {
    qsort(lat, nlat, sizeof *lat, cmp);
    long long errors = wrong + closed + connect_errors + late;
    char b50[32], b99[32], bmax[32];
    printf("{\"generator\": \"c\", \"mode\": \"%s\", \"conns\": %d, \"inflight\": %d, "
           "\"requests\": %lld, \"wall_s\": %.6f, \"rps\": %.1f, \"p50_us\": %s, "
           "\"p99_us\": %s, \"max_us\": %s, \"errors\": %lld, \"wrong\": %lld, "
           "\"closed\": %lld, \"connect_errors\": %lld, \"late\": %lld, \"open\": %lld, "
           "\"cpu_s\": %.6f, \"cpu_frac\": %.4f}\n",
           mode == MODE_PERSISTENT ? "persistent" : mode == MODE_PERREQ ? "perreq" : "idle",
           nconns, inflight, done_in_window, wall, wall > 0 ? done_in_window / wall : 0,
           pct(0.5, b50), pct(0.99, b99), pct(1, bmax), errors, wrong, closed,
           connect_errors, late, open_now, cpu, wall > 0 ? cpu / wall : 0);
    fflush(stdout);
}

/* One new client at a time while the idle connections sit there. */
static void run_probes(void) {
    double t0 = now(), c0 = cpu_self();
    phase = PH_MEASURE;
    t_start = t0;
    for (int i = 0; i < probes && now() - t0 < probe_time; i++) {
        double ts = now();
        int fd = socket(addr.ss_family, SOCK_STREAM, 0);
        int one = 1;
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, addrlen) < 0) {
            connect_errors++;
            if (fd >= 0) close(fd);
            continue;
        }
        uint64_t r = mix(seq++);
        long long a = (long long)(r % 2000001ULL) - 1000000LL, b = (long long)(r >> 40);
        char req[64], want[32], got[RBUF];
        int len = sprintf(req, "%lld %lld\n", a, b), glen = 0;
        sprintf(want, "%lld\n", a + b);
        send(fd, req, len, MSG_NOSIGNAL);
        while (glen < RBUF - 1 && !memchr(got, '\n', glen)) {
            ssize_t n = recv(fd, got + glen, RBUF - 1 - glen, 0);
            if (n <= 0) break;
            glen += n;
        }
        got[glen] = 0;
        double te = now();
        close(fd);
        if (!memchr(got, '\n', glen)) { closed++; continue; }
        if (strcmp(got, want) != 0) wrong++;
        record(ts, te);
    }
    /* Did the server drop any idle connection meanwhile? */
    struct epoll_event ev[1024];
    int n;
    while ((n = epoll_wait(ep, ev, 1024, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            conn_t *c = ev[i].data.ptr;
            if (c->state == FREE) continue;
            char b[RBUF];
            ssize_t got = recv(c->fd, b, sizeof b, 0);
            if (got > 0) wrong++;
            else if (got == 0 || errno != EAGAIN) closed++;
            drop(c);
        }
    }
    long long open_now = 0;
    for (int i = 0; i < nconns; i++) open_now += conns[i].state == IDLE;
    report(now() - t0, cpu_self() - c0, open_now, 0);
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen --host H --port P --mode persistent|perreq|idle "
                    "[--conns N] [--inflight K] [--warmup S] [--duration S] "
                    "[--probes M] [--setup-limit S]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *port = NULL, *m = "persistent";
    nconns = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--host")) host = v;
        else if (!strcmp(k, "--port")) port = v;
        else if (!strcmp(k, "--mode")) m = v;
        else if (!strcmp(k, "--conns")) nconns = atoi(v);
        else if (!strcmp(k, "--inflight")) inflight = atoi(v);
        else if (!strcmp(k, "--warmup")) warmup = atof(v);
        else if (!strcmp(k, "--duration")) duration = probe_time = atof(v);
        else if (!strcmp(k, "--probes")) probes = atoi(v);
        else if (!strcmp(k, "--setup-limit")) setup_limit = atof(v);
        else usage();
    }
    if (!port || nconns < 1 || inflight < 1 || inflight > MAXK) usage();
    mode = !strcmp(m, "persistent") ? MODE_PERSISTENT
         : !strcmp(m, "perreq")     ? MODE_PERREQ
         : !strcmp(m, "idle")       ? MODE_IDLE
                                    : (usage(), 0);

    struct rlimit rl; /* one descriptor per connection: take all the system allows */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    memset(&addr, 0, sizeof addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(atoi(port));
        addrlen = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(atoi(port));
        addrlen = sizeof *a6;
    } else {
        fprintf(stderr, "loadgen: --host must be a numeric address\n");
        return 2;
    }

    ep = epoll_create1(0);
    conns = calloc(nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) conns[i].fd = -1;
    double t0 = now(), c0 = 0;
    if (mode == MODE_PERREQ) {
        for (int i = 0; i < nconns; i++) open_conn(&conns[i]);
        phase = PH_WARMUP;
    } else {
        open_more();
    }
    struct epoll_event ev[1024];
    double phase_at = t0;
    for (;;) {
        int n = epoll_wait(ep, ev, 1024, 5);
        double t = now();
        for (int i = 0; i < n; i++) handle(&ev[i], t);
        if (mode == MODE_PERREQ && phase != PH_DONE) /* keep nconns clients going */
            for (int i = 0; i < nconns; i++)
                if (conns[i].state == FREE) open_conn(&conns[i]);
        if (phase == PH_SETUP &&
            (ready + connect_errors + closed >= nconns || t - t0 > setup_limit)) {
            if (mode == MODE_IDLE) {
                printf("ready %lld\n", ready);
                fflush(stdout);
                wait_stdin_line();
                run_probes();
                break;
            }
            phase = PH_WARMUP;
            phase_at = t;
            for (int i = 0; i < nconns; i++) { /* everybody ready: the load starts */
                conn_t *c = &conns[i];
                if (c->state != RUNNING) continue;
                while (c->count < inflight) queue_request(c, t);
                flush(c);
            }
        } else if (phase == PH_WARMUP && t - phase_at >= warmup) {
            phase = PH_MEASURE;
            t_start = t;
            c0 = cpu_self();
            printf("start\n");
            fflush(stdout);
        } else if (phase == PH_MEASURE && t - t_start >= duration &&
                   /* a window without one reply measures nothing: on a loaded machine
                      the first ones can come late (a dead server: setup_limit more) */
                   (nlat > 0 || t - t_start >= duration + setup_limit)) {
            t_end = t;
            double c1 = cpu_self();
            phase = PH_DONE;
            long long open_now = 0, late = 0;
            for (int i = 0; i < nconns; i++) {
                conn_t *c = &conns[i];
                if (c->state == FREE) continue;
                open_now++;
                for (int j = 0; j < c->count; j++) /* no reply for 2 s: an error */
                    late += t - c->sent[(c->head + j) % MAXK] > 2.0;
            }
            report(t_end - t_start, c1 - c0, open_now, late);
            break;
        }
    }
    wait_stdin_line(); /* hold the connections open until the runner has looked */
    return 0;
}
