#ifndef WARDEN_CCLOCKWATCH_H
#define WARDEN_CCLOCKWATCH_H
// Tells when CLOCK_REALTIME is set (clock_settime, settimeofday, an NTP step, a restored
// virtual machine): a CLOCK_REALTIME timerfd armed far ahead with TFD_TIMER_CANCEL_ON_SET
// becomes readable, its read failing with ECANCELED, at every set. Swift's Glibc module does
// not carry <sys/timerfd.h>.

// A non-blocking, close-on-exec descriptor to poll for reading; -errno on failure.
int warden_clock_watch_open(void);

// After the descriptor was readable: 1 when the clock was set (the watch is armed again),
// 0 when nothing happened, -errno on failure.
int warden_clock_watch_consume(int fd);

#endif
