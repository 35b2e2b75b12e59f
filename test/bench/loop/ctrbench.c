// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ctrbench: the syscall loops that ctrace's benchmark harness (bench/) times.
 * Built statically, so that no dynamic loader makes failing openat calls of
 * its own before main: every failure the tracers see from a process named
 * "ctrbench" is one this program made and counted.
 *
 *   ctrbench open    THREADS SECONDS FILE  openat(FILE)+close, succeeding
 *   ctrbench open-seccomp THREADS SECONDS FILE
 *                                          the same under a seccomp filter
 *                                          that allows every call, as a
 *                                          container's processes run
 *   ctrbench getppid THREADS SECONDS       a syscall ctrace does not trace
 *   ctrbench fail    THREADS SECONDS       failing openat, as fast as possible
 *   ctrbench lat     RATE    SECONDS       failing openat at RATE calls/s, one
 *                                          thread; the path carries the
 *                                          CLOCK_MONOTONIC time of the call
 *
 * Each thread runs until SECONDS have passed, then one JSON line goes to
 * stdout: iterations (calls that behaved as the mode expects), the summed
 * time the threads ran, the time per iteration of one thread, and the CPU
 * time per iteration the threads themselves used (CLOCK_THREAD_CPUTIME_ID:
 * it leaves out the time other tasks had the CPU, but also the work of a
 * tracer in its own process), and the time per call of the fastest 1% of
 * the batches of BATCH calls the threads timed (batch_p1_ns_per_call).
 *
 * Why the fastest batches: on a shared VM the time per call moves by 10-20%
 * from one half second to the next, as other guests take the CPU and its
 * caches, and that noise only ever adds time. The fastest 1% of batches
 * are the calls nothing got in the way of; there a loop's time repeats
 * within about 1% from run to run, while a tracer's work, done on every
 * call, shifts it all the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL_PATH "/nonexistent-ctrbench/t"
#define LAT_PREFIX "/nonexistent-ctrbench/lat/"

/* fail-distinct: a path of its own for every call (a hex counter), so
 * that ctrace --dedup sends each whole, as the first of its kind. */
#define DISTINCT_PREFIX "/nonexistent-ctrbench/d/"

enum mode { M_OPEN, M_GETPPID, M_FAIL, M_FAIL_DISTINCT, M_LAT };

struct worker {
	pthread_t th;
	uint64_t iters;
	uint64_t unexpected; /* calls that did not behave as the mode expects */
	uint64_t ns;
	uint64_t cpu_ns; /* the thread's own CPU time, user and system */
	uint32_t *batch_ns; /* each batch's time, up to MAX_BATCHES */
	size_t batches;
};

static enum mode mode;
static int under_seccomp;
static const char *file;
static uint64_t duration_ns;
static long rate;
static pthread_barrier_t start;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Calls between two looks at the clock: cheap against a syscall, and short
 * enough under strace (about 1 ms a call) to stop close to the deadline. */
#define BATCH 64
#define MAX_BATCHES (1u << 20)

static void put_hex(char *p, uint64_t v)
{
	for (int d = 15; d >= 0; d--, v >>= 4)
		p[d] = "0123456789abcdef"[v & 15];
}

static void *run_loop(void *arg)
{
	struct worker *w = arg;
	uint64_t t0, c0, end, t, prev, n = 0, bad = 0, seq = 0;
	char path[64];
	int i, fd;

	char *ctr;

	/* Per thread: threads never make the same path. The counter is the
	 * last 16 characters, rewritten in place. */
	snprintf(path, sizeof(path), DISTINCT_PREFIX "%016lx-%016llx", (unsigned long)pthread_self(), 0ull);
	ctr = path + strlen(path) - 16;

	pthread_barrier_wait(&start);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	prev = t0;
	end = t0 + duration_ns;
	do {
		for (i = 0; i < BATCH; i++) {
			switch (mode) {
			case M_OPEN:
				fd = openat(AT_FDCWD, file, O_RDONLY | O_CLOEXEC);
				if (fd >= 0) {
					close(fd);
					n++;
				} else {
					bad++;
				}
				break;
			case M_GETPPID:
				syscall(SYS_getppid);
				n++;
				break;
			case M_FAIL:
				fd = openat(AT_FDCWD, FAIL_PATH, O_RDONLY);
				if (fd < 0) {
					n++;
				} else {
					close(fd);
					bad++;
				}
				break;
			case M_FAIL_DISTINCT:
				put_hex(ctr, ++seq);
				fd = openat(AT_FDCWD, path, O_RDONLY);
				if (fd < 0) {
					n++;
				} else {
					close(fd);
					bad++;
				}
				break;
			default:
				break;
			}
		}
		t = now_ns();
		if (w->batch_ns && w->batches < MAX_BATCHES)
			w->batch_ns[w->batches++] = t - prev > UINT32_MAX ? UINT32_MAX : (uint32_t)(t - prev);
		prev = t;
	} while (t < end);
	w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	w->iters = n;
	w->unexpected = bad;
	w->ns = t - t0;
	return NULL;
}

/* One thread, RATE failing calls a second, each at its own scheduled time
 * (late calls are not skipped: they go out back to back). */
static void *run_lat(void *arg)
{
	struct worker *w = arg;
	uint64_t period = 1000000000ull / (uint64_t)rate;
	uint64_t t0, next, t, n = 0, bad = 0;
	char path[64];
	int fd;

	pthread_barrier_wait(&start);
	t0 = now_ns();
	next = t0;
	for (;;) {
		t = now_ns();
		if (t - t0 >= duration_ns)
			break;
		if (t < next) {
			if (next - t > 100000) {
				struct timespec ts = {
					.tv_sec = next / 1000000000ull,
					.tv_nsec = next % 1000000000ull,
				};
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			}
			continue;
		}
		next += period;
		snprintf(path, sizeof(path), LAT_PREFIX "%llu", (unsigned long long)now_ns());
		fd = openat(AT_FDCWD, path, O_RDONLY);
		if (fd < 0) {
			n++;
		} else {
			close(fd);
			bad++;
		}
	}
	w->iters = n;
	w->unexpected = bad;
	w->ns = now_ns() - t0;
	return NULL;
}

/* A filter of one instruction that allows every call: a container's filter
 * costs more to run, but the tracers' work that depends on the task being
 * under a filter at all is the same. Threads made after it inherit it. */
static void allow_all_seccomp(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		perror("seccomp");
		exit(1);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The time per call of the fastest 1% of all threads' batches. */
static double fastest_batches(struct worker *ws, long threads)
{
	size_t n = 0, k = 0;
	uint32_t *all;
	double r;
	long i;

	for (i = 0; i < threads; i++)
		n += ws[i].batches;
	if (!n || !(all = malloc(n * sizeof(*all))))
		return 0;
	for (i = 0; i < threads; i++) {
		memcpy(all + k, ws[i].batch_ns, ws[i].batches * sizeof(*all));
		k += ws[i].batches;
	}
	qsort(all, n, sizeof(*all), cmp_u32);
	r = (double)all[n / 100] / BATCH;
	free(all);
	return r;
}

/* storm PROCS CALLS: PROCS processes, each one thread making CALLS failing
 * openat of FAIL_PATH, started together: a crash-looping workload. Prints
 * the same JSON as the loops: ns_per_iter is the processes' own time per
 * call, their sum over their calls. */
static int storm(long procs, long calls)
{
	int res[2], gate[2];
	uint64_t ns = 0, cpu = 0, iters = 0, bad = 0;
	long i;

	if (pipe(res) || pipe(gate)) {
		perror("pipe");
		return 1;
	}
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			uint64_t r[4] = { 0 }, t0, c0;
			char b;
			long k;

			close(res[0]);
			close(gate[1]);
			if (read(gate[0], &b, 1) < 0)
				_exit(1);
			c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
			t0 = now_ns();
			for (k = 0; k < calls; k++) {
				int fd = openat(AT_FDCWD, FAIL_PATH, O_RDONLY);

				if (fd < 0) {
					r[2]++;
				} else {
					close(fd);
					r[3]++;
				}
			}
			r[0] = now_ns() - t0;
			r[1] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
			_exit(write(res[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
		}
	}
	close(res[1]);
	close(gate[0]);
	close(gate[1]); /* end of file: every child starts */
	for (i = 0; i < procs; i++) {
		uint64_t r[4];

		if (read(res[0], r, sizeof(r)) != sizeof(r)) {
			fprintf(stderr, "storm: a process failed\n");
			return 1;
		}
		ns += r[0], cpu += r[1], iters += r[2], bad += r[3];
	}
	while (wait(NULL) > 0)
		;
	printf("{\"mode\":\"storm\",\"threads\":%ld,\"iterations\":%llu,\"unexpected\":%llu,"
	       "\"thread_ns\":%llu,\"ns_per_iter\":%.3f,\"cpu_ns_per_iter\":%.3f}\n",
	       procs, (unsigned long long)iters, (unsigned long long)bad, (unsigned long long)ns,
	       iters ? (double)ns / (double)iters : 0.0, iters ? (double)cpu / (double)iters : 0.0);
	return bad ? 3 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: ctrbench open|open-seccomp|getppid|fail|fail-distinct THREADS SECONDS [FILE]\n"
			"       ctrbench lat RATE SECONDS\n"
			"       ctrbench storm PROCS CALLS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct worker *ws;
	uint64_t iters = 0, bad = 0, ns = 0, cpu = 0;
	long threads = 1, i;
	double secs;

	if (argc < 4)
		usage();
	if (!strcmp(argv[1], "storm")) {
		if (atol(argv[2]) < 1 || atol(argv[3]) < 1)
			usage();
		return storm(atol(argv[2]), atol(argv[3]));
	}
	if (!strcmp(argv[1], "open"))
		mode = M_OPEN;
	else if (!strcmp(argv[1], "open-seccomp"))
		mode = M_OPEN, under_seccomp = 1;
	else if (!strcmp(argv[1], "getppid"))
		mode = M_GETPPID;
	else if (!strcmp(argv[1], "fail"))
		mode = M_FAIL;
	else if (!strcmp(argv[1], "fail-distinct"))
		mode = M_FAIL_DISTINCT;
	else if (!strcmp(argv[1], "lat"))
		mode = M_LAT;
	else
		usage();
	if (mode == M_LAT)
		rate = atol(argv[2]);
	else
		threads = atol(argv[2]);
	secs = atof(argv[3]);
	if (threads < 1 || threads > 1024 || secs <= 0 || (mode == M_LAT && rate < 1))
		usage();
	duration_ns = (uint64_t)(secs * 1e9);
	if (mode == M_OPEN) {
		if (argc < 5)
			usage();
		file = argv[4];
	}

	if (under_seccomp)
		allow_all_seccomp();
	ws = calloc((size_t)threads, sizeof(*ws));
	if (!ws)
		return 1;
	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (i = 0; i < threads; i++) {
		if (mode != M_LAT && !(ws[i].batch_ns = malloc(MAX_BATCHES * sizeof(uint32_t)))) {
			perror("malloc");
			return 1;
		}
		if (pthread_create(&ws[i].th, NULL, mode == M_LAT ? run_lat : run_loop, &ws[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	for (i = 0; i < threads; i++) {
		pthread_join(ws[i].th, NULL);
		iters += ws[i].iters;
		bad += ws[i].unexpected;
		ns += ws[i].ns;
		cpu += ws[i].cpu_ns;
	}
	printf("{\"mode\":\"%s\",\"threads\":%ld,\"iterations\":%llu,\"unexpected\":%llu,"
	       "\"thread_ns\":%llu,\"ns_per_iter\":%.3f,\"cpu_ns_per_iter\":%.3f,"
	       "\"batch_p1_ns_per_call\":%.3f}\n",
	       argv[1], threads, (unsigned long long)iters, (unsigned long long)bad,
	       (unsigned long long)ns, iters ? (double)ns / (double)iters : 0.0,
	       iters ? (double)cpu / (double)iters : 0.0, fastest_batches(ws, threads));
	return bad ? 3 : 0;
}
