#ifndef WARDEN_CSYSTEMD_H
#define WARDEN_CSYSTEMD_H
// libsystemd for Warden, loaded on first use (dlopen) instead of linked: linked, it and the
// six libraries it needs (libgcrypt, liblzma, libzstd, ...) were loaded and initialised by
// every `warden` process, a millisecond of each CLI command's start (BENCHMARKS.md).
//
// The types come from libsystemd's headers; call the `warden_` functions, never the `sd_`
// ones (those would need the library linked). Each returns what its `sd_` function does, or,
// when libsystemd.so.0 or the symbol cannot be loaded, -ENOSYS (NULL for the `unref`s).
// Swift cannot call C variadics such as sd_journal_send: use warden_sd_journal_sendv and
// the non-variadic sd-bus calls.
#include <stdint.h>
#include <stddef.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-bus.h>

int warden_sd_notify(int unset_environment, const char *state);
int warden_sd_watchdog_enabled(int unset_environment, uint64_t *usec);
int warden_sd_journal_sendv(const struct iovec *iov, int n);

int warden_sd_journal_open(sd_journal **ret, int flags);
void warden_sd_journal_close(sd_journal *j);
int warden_sd_journal_add_match(sd_journal *j, const void *data, size_t size);
int warden_sd_journal_add_conjunction(sd_journal *j);
int warden_sd_journal_seek_realtime_usec(sd_journal *j, uint64_t usec);
int warden_sd_journal_next(sd_journal *j);
int warden_sd_journal_get_realtime_usec(sd_journal *j, uint64_t *ret);
int warden_sd_journal_get_data(sd_journal *j, const char *field, const void **data, size_t *length);

int warden_sd_bus_open_system(sd_bus **ret);
sd_bus *warden_sd_bus_flush_close_unref(sd_bus *bus);
int warden_sd_bus_message_new_method_call(sd_bus *bus, sd_bus_message **m, const char *destination,
                                          const char *path, const char *interface, const char *member);
sd_bus_message *warden_sd_bus_message_unref(sd_bus_message *m);
int warden_sd_bus_message_append_basic(sd_bus_message *m, char type, const void *p);
int warden_sd_bus_call(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error, sd_bus_message **reply);
int warden_sd_bus_message_read_basic(sd_bus_message *m, char type, void *p);
void warden_sd_bus_error_free(sd_bus_error *e);
int warden_sd_bus_get_property_string(sd_bus *bus, const char *destination, const char *path, const char *interface,
                                      const char *member, sd_bus_error *ret_error, char **ret);
int warden_sd_bus_get_property_trivial(sd_bus *bus, const char *destination, const char *path, const char *interface,
                                       const char *member, sd_bus_error *ret_error, char type, void *ret_ptr);

#endif
