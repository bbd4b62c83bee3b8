#include "CSystemd.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

static void *library;
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void load_library(void) {
    library = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
}

static void *symbol(const char *name) {
    pthread_once(&library_once, load_library);
    return library ? dlsym(library, name) : NULL;
}

// One resolved pointer per function, typed after the header's declaration; a relaxed atomic
// load and store are enough: every thread resolves the same address.
#define RESOLVE(name) \
    static __typeof__(&name) resolved_##name; \
    __typeof__(&name) fn = __atomic_load_n(&resolved_##name, __ATOMIC_RELAXED); \
    if (!fn) { \
        fn = (__typeof__(&name))symbol(#name); \
        __atomic_store_n(&resolved_##name, fn, __ATOMIC_RELAXED); \
    }

#define FORWARD(name, missing, ...) \
    RESOLVE(name) \
    return fn ? fn(__VA_ARGS__) : (missing);

int warden_sd_notify(int unset_environment, const char *state) {
    FORWARD(sd_notify, -ENOSYS, unset_environment, state)
}

int warden_sd_watchdog_enabled(int unset_environment, uint64_t *usec) {
    FORWARD(sd_watchdog_enabled, -ENOSYS, unset_environment, usec)
}

int warden_sd_journal_sendv(const struct iovec *iov, int n) {
    FORWARD(sd_journal_sendv, -ENOSYS, iov, n)
}

int warden_sd_journal_open(sd_journal **ret, int flags) {
    FORWARD(sd_journal_open, -ENOSYS, ret, flags)
}

void warden_sd_journal_close(sd_journal *j) {
    RESOLVE(sd_journal_close)
    if (fn) fn(j);
}

int warden_sd_journal_add_match(sd_journal *j, const void *data, size_t size) {
    FORWARD(sd_journal_add_match, -ENOSYS, j, data, size)
}

int warden_sd_journal_add_conjunction(sd_journal *j) {
    FORWARD(sd_journal_add_conjunction, -ENOSYS, j)
}

int warden_sd_journal_seek_realtime_usec(sd_journal *j, uint64_t usec) {
    FORWARD(sd_journal_seek_realtime_usec, -ENOSYS, j, usec)
}

int warden_sd_journal_next(sd_journal *j) {
    FORWARD(sd_journal_next, -ENOSYS, j)
}

int warden_sd_journal_get_realtime_usec(sd_journal *j, uint64_t *ret) {
    FORWARD(sd_journal_get_realtime_usec, -ENOSYS, j, ret)
}

int warden_sd_journal_get_data(sd_journal *j, const char *field, const void **data, size_t *length) {
    FORWARD(sd_journal_get_data, -ENOSYS, j, field, data, length)
}

int warden_sd_bus_open_system(sd_bus **ret) {
    FORWARD(sd_bus_open_system, -ENOSYS, ret)
}

sd_bus *warden_sd_bus_flush_close_unref(sd_bus *bus) {
    FORWARD(sd_bus_flush_close_unref, NULL, bus)
}

int warden_sd_bus_message_new_method_call(sd_bus *bus, sd_bus_message **m, const char *destination,
                                          const char *path, const char *interface, const char *member) {
    FORWARD(sd_bus_message_new_method_call, -ENOSYS, bus, m, destination, path, interface, member)
}

sd_bus_message *warden_sd_bus_message_unref(sd_bus_message *m) {
    FORWARD(sd_bus_message_unref, NULL, m)
}

int warden_sd_bus_message_append_basic(sd_bus_message *m, char type, const void *p) {
    FORWARD(sd_bus_message_append_basic, -ENOSYS, m, type, p)
}

int warden_sd_bus_call(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error, sd_bus_message **reply) {
    FORWARD(sd_bus_call, -ENOSYS, bus, m, usec, ret_error, reply)
}

int warden_sd_bus_message_read_basic(sd_bus_message *m, char type, void *p) {
    FORWARD(sd_bus_message_read_basic, -ENOSYS, m, type, p)
}

void warden_sd_bus_error_free(sd_bus_error *e) {
    RESOLVE(sd_bus_error_free)
    if (fn) fn(e);
}

int warden_sd_bus_get_property_string(sd_bus *bus, const char *destination, const char *path, const char *interface,
                                      const char *member, sd_bus_error *ret_error, char **ret) {
    FORWARD(sd_bus_get_property_string, -ENOSYS, bus, destination, path, interface, member, ret_error, ret)
}

int warden_sd_bus_get_property_trivial(sd_bus *bus, const char *destination, const char *path, const char *interface,
                                       const char *member, sd_bus_error *ret_error, char type, void *ret_ptr) {
    FORWARD(sd_bus_get_property_trivial, -ENOSYS, bus, destination, path, interface, member, ret_error, type, ret_ptr)
}
