#ifndef WARDEN_CSYSTEMD_SHIM_H
#define WARDEN_CSYSTEMD_SHIM_H
// libsystemd headers for Warden. Swift cannot call C variadics such as
// sd_journal_send, so callers use sd_journal_sendv and the non-variadic sd-bus API.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-bus.h>
#endif
