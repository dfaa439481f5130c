// vclock.so: an LD_PRELOAD shim that gives a process (ptp4l) a virtual CLOCK_REALTIME, so
// that a linuxptp slave can lock and be measured beside routerd without steering the
// machine's clock. The virtual clock is piecewise linear over the real CLOCK_REALTIME:
//
//   virtual(r) = base_v + (r - base_r) * (1 + (drift + adj) / 1e9)
//
// with drift the injected frequency error (VCLOCK_DRIFT_PPB) and adj the correction the
// process set through clock_adjtime; each adjustment re-bases it. It starts
// VCLOCK_OFFSET_NS off the real clock (the same meaning as routerd's
// --ptp-virtual-offset and --ptp-virtual-drift).
//
// Intercepted, for CLOCK_REALTIME only: clock_gettime, gettimeofday, time (reads);
// clock_adjtime, adjtimex, ntp_adjtime, clock_settime, settimeofday (they read and
// change the virtual clock and never reach the kernel; the timex a read returns is the
// virtual clock's: frequency, tick, status, time); recvmsg and
// recvmmsg rewrite software timestamps (SCM_TIMESTAMPING ts[0], SCM_TIMESTAMPNS,
// SCM_TIMESTAMP, old and new layouts), including TX timestamps read from MSG_ERRQUEUE.
// Other clocks pass through untouched.
//
// VCLOCK_LOG=PATH appends "real_ns virtual_minus_real_ns" at every frequency
// adjustment: the true error of the servoed clock, one line per servo sample.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_TIMESTAMP_NEW
#define SO_TIMESTAMP_NEW 63
#endif
#ifndef SO_TIMESTAMPNS_NEW
#define SO_TIMESTAMPNS_NEW 64
#endif
#ifndef SO_TIMESTAMPING_NEW
#define SO_TIMESTAMPING_NEW 65
#endif
#define SO_TIMESTAMP_OLD_ 29
#define SO_TIMESTAMPNS_OLD_ 35
#define SO_TIMESTAMPING_OLD_ 37

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_clock_adjtime)(clockid_t, struct timex *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static int (*real_recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);

static int64_t base_r, base_v; // real and virtual ns at the last re-base
static double drift, adj;      // ppb
static long v_freq;            // timex.freq as last set (ppm << 16)
static long v_tick;            // timex.tick as last set (0: nominal)
static int v_status = STA_UNSYNC;
static long v_maxerror = 16000000, v_esterror = 16000000;
static int v_tai;
static int log_fd = -1;
static long hz, nominal_tick;

static int64_t real_now(void)
{
	struct timespec ts;
	real_clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void init(void)
{
	real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
	real_clock_adjtime = dlsym(RTLD_NEXT, "clock_adjtime");
	real_recvmsg = dlsym(RTLD_NEXT, "recvmsg");
	real_recvmmsg = dlsym(RTLD_NEXT, "recvmmsg");
	const char *s = getenv("VCLOCK_OFFSET_NS");
	int64_t off = s ? strtoll(s, NULL, 10) : 0;
	s = getenv("VCLOCK_DRIFT_PPB");
	drift = s ? strtod(s, NULL) : 0;
	s = getenv("VCLOCK_LOG");
	if (s && *s)
		log_fd = open(s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	hz = sysconf(_SC_CLK_TCK);
	nominal_tick = hz > 0 ? (1000000 + hz / 2) / hz : 10000;
	v_tick = nominal_tick;
	base_r = real_now();
	base_v = base_r + off;
}

// at maps a real CLOCK_REALTIME reading to the virtual clock; mu held.
static int64_t at(int64_t r)
{
	double d = (double)(r - base_r) * (1 + (drift + adj) * 1e-9);
	return base_v + (int64_t)(d + (d >= 0 ? 0.5 : -0.5));
}

static void rebase(void)
{
	int64_t r = real_now();
	base_v = at(r);
	base_r = r;
}

static int64_t virt_now(void)
{
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	int64_t v = at(real_now());
	pthread_mutex_unlock(&mu);
	return v;
}

static void to_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000LL;
	}
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	pthread_once(&once, init);
	if (id != CLOCK_REALTIME)
		return real_clock_gettime(id, ts);
	to_ts(virt_now(), ts);
	return 0;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	(void)tz;
	struct timespec ts;
	to_ts(virt_now(), &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	time_t s = (time_t)(virt_now() / 1000000000LL);
	if (t)
		*t = s;
	return s;
}

static void set_virtual(int64_t v)
{
	pthread_mutex_lock(&mu);
	base_r = real_now();
	base_v = v;
	pthread_mutex_unlock(&mu);
}

int clock_settime(clockid_t id, const struct timespec *ts)
{
	pthread_once(&once, init);
	if (id != CLOCK_REALTIME) {
		// Only CLOCK_REALTIME is virtual; setting any other clock is refused rather
		// than risked (the shim exists so that nothing here changes a real clock).
		errno = EPERM;
		return -1;
	}
	set_virtual((int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec);
	return 0;
}

int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	(void)tz;
	pthread_once(&once, init);
	if (tv)
		set_virtual((int64_t)tv->tv_sec * 1000000000LL + (int64_t)tv->tv_usec * 1000);
	return 0;
}

// adjust applies a timex to the virtual clock, as the kernel's do_adjtimex would to
// the real one, and fills it in for reading back. It makes no system call at all, so a
// test can forbid clock_adjtime outright (strace --inject) and still run ptp4l.
static int adjust(struct timex *tx)
{
	pthread_once(&once, init);
	unsigned modes = tx->modes;
	if (modes == ADJ_OFFSET_SS_READ)
		modes = 0;
	if ((modes & ADJ_SETOFFSET) && (tx->time.tv_usec < 0 ||
	    tx->time.tv_usec >= ((modes & ADJ_NANO) ? 1000000000L : 1000000L))) {
		errno = EINVAL;
		return -1;
	}
	if ((modes & ADJ_TICK) && (tx->tick < 900000 / hz || tx->tick > 1100000 / hz)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&mu);
	if (modes & (ADJ_FREQUENCY | ADJ_TICK | ADJ_SETOFFSET | ADJ_OFFSET))
		rebase();
	if (modes & ADJ_FREQUENCY) {
		long f = tx->freq;
		const long max = 500L << 16;
		v_freq = f > max ? max : f < -max ? -max : f;
	}
	if (modes & ADJ_TICK)
		v_tick = tx->tick;
	if (modes & (ADJ_FREQUENCY | ADJ_TICK))
		adj = v_freq / 65.536 + 1e3 * hz * (v_tick - nominal_tick);
	if (modes & ADJ_SETOFFSET) {
		int64_t d = (int64_t)tx->time.tv_sec * 1000000000LL +
			    ((modes & ADJ_NANO) ? tx->time.tv_usec : tx->time.tv_usec * 1000LL);
		base_v += d;
	}
	if ((modes & ADJ_OFFSET) && !(modes & ADJ_SETOFFSET)) {
		// The kernel's PLL (or adjtime's slew) would bring this offset in over time;
		// the virtual clock takes it at once (linuxptp's pi servo does not use it).
		base_v += (modes & ADJ_NANO) ? tx->offset : (int64_t)tx->offset * 1000;
	}
	if (modes & ADJ_STATUS)
		v_status = (v_status & ~0xff) | (tx->status & 0xff);
	if (modes & ADJ_MAXERROR)
		v_maxerror = tx->maxerror;
	if (modes & ADJ_ESTERROR)
		v_esterror = tx->esterror;
	if (modes & ADJ_TAI)
		v_tai = tx->constant;
	if ((modes & ADJ_FREQUENCY) && log_fd >= 0) {
		int64_t r = real_now();
		dprintf(log_fd, "%lld %lld\n", (long long)r, (long long)(at(r) - r));
	}
	int64_t v = at(real_now());
	unsigned keep = tx->modes;
	memset(tx, 0, sizeof(*tx));
	tx->modes = keep;
	tx->freq = v_freq;
	tx->tick = v_tick;
	tx->status = v_status | STA_NANO;
	tx->maxerror = v_maxerror;
	tx->esterror = v_esterror;
	tx->tai = v_tai;
	tx->constant = 2;
	tx->precision = 1;
	tx->tolerance = 500L << 16; // MAXFREQ_SCALED: 500 ppm
	tx->time.tv_sec = v / 1000000000LL;
	tx->time.tv_usec = v % 1000000000LL;
	int state = (v_status & STA_UNSYNC) ? TIME_ERROR : TIME_OK;
	pthread_mutex_unlock(&mu);
	return state;
}

int clock_adjtime(clockid_t id, struct timex *tx)
{
	pthread_once(&once, init);
	if (id != CLOCK_REALTIME) {
		if ((tx->modes & ~ADJ_OFFSET_SS_READ) == 0)
			return real_clock_adjtime(id, tx);
		errno = EPERM;
		return -1;
	}
	return adjust(tx);
}

int adjtimex(struct timex *tx) { return adjust(tx); }
int ntp_adjtime(struct timex *tx) { return adjust(tx); }

static void fix_ns(struct timespec *ts)
{
	if (ts->tv_sec == 0 && ts->tv_nsec == 0)
		return; // no timestamp of this kind (e.g. ts[1], ts[2] with software only)
	int64_t r = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
	pthread_mutex_lock(&mu);
	int64_t v = at(r);
	pthread_mutex_unlock(&mu);
	to_ts(v, ts);
}

// fix rewrites the software timestamps of one received message from real to virtual
// time. On x86_64 the old and new cmsg layouts are the same (64-bit time_t).
static void fix(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		size_t len = c->cmsg_len - CMSG_LEN(0);
		switch (c->cmsg_type) {
		case SO_TIMESTAMPING_OLD_: /* ts[0], the software stamp, comes first */
		case SO_TIMESTAMPING_NEW:
		case SO_TIMESTAMPNS_OLD_:
		case SO_TIMESTAMPNS_NEW:
			if (len >= sizeof(struct timespec)) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
				fix_ns(&ts);
				memcpy(CMSG_DATA(c), &ts, sizeof(ts));
			}
			break;
		case SO_TIMESTAMP_OLD_:
		case SO_TIMESTAMP_NEW:
			if (len >= sizeof(struct timeval)) {
				struct timeval tv;
				memcpy(&tv, CMSG_DATA(c), sizeof(tv));
				struct timespec ts = {tv.tv_sec, tv.tv_usec * 1000};
				fix_ns(&ts);
				tv.tv_sec = ts.tv_sec;
				tv.tv_usec = ts.tv_nsec / 1000;
				memcpy(CMSG_DATA(c), &tv, sizeof(tv));
			}
			break;
		}
	}
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	pthread_once(&once, init);
	ssize_t n = real_recvmsg(fd, m, flags);
	if (n >= 0 && m && m->msg_control && m->msg_controllen)
		fix(m);
	return n;
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned int len, int flags, struct timespec *timeout)
{
	pthread_once(&once, init);
	int n = real_recvmmsg(fd, v, len, flags, timeout);
	for (int i = 0; i < n; i++)
		if (v[i].msg_hdr.msg_control && v[i].msg_hdr.msg_controllen)
			fix(&v[i].msg_hdr);
	return n;
}
