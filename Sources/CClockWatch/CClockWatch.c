#include "CClockWatch.h"

#include <errno.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <unistd.h>

// Far enough ahead never to expire: a set is reported by ECANCELED, not by an expiry (a
// clock set past it expires the timer instead, which is reported as a set too).
static const time_t far_ahead = (time_t)1 << 40;

static int arm(int fd) {
    struct itimerspec spec = { .it_value = { .tv_sec = far_ahead } };
    return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, NULL) == 0 ? 0 : -errno;
}

int warden_clock_watch_open(void) {
    int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return -errno;
    int armed = arm(fd);
    if (armed < 0) {
        close(fd);
        return armed;
    }
    return fd;
}

int warden_clock_watch_consume(int fd) {
    uint64_t expirations;
    ssize_t n = read(fd, &expirations, sizeof expirations);
    if (n < 0 && errno == EAGAIN) return 0;
    if (n < 0 && errno != ECANCELED) return -errno;
    // Cancelled by a set, or expired by a set past `far_ahead`: the timer must be armed again
    // to report the next one.
    int armed = arm(fd);
    return armed < 0 ? armed : 1;
}
