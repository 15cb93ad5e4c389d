// What the loop needs from select, poll, epoll or io_uring, and nothing more (as in Redis's ae
// backends). One small file per backend: poller_select.cpp, poller_poll.cpp, poller_epoll.cpp,
// poller_io_uring.cpp.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "task.hpp"

namespace fibs::loop {

class Poller {
public:
    virtual ~Poller() = default;
    // A new client's descriptor, before its first watch (and again for the next client that gets
    // the same number), or a descriptor of the loop's own that lives as long as the poller (the
    // mailbox's): register it where the backend keeps registrations (epoll). Returns why it
    // cannot be watched, or "" when it can; the loop then refuses that one client ("select cannot
    // watch descriptors past FD_SETSIZE", or the kernel's refusal: epoll's max_user_watches).
    virtual std::string add(int fd) { return fd >= 0 ? "" : "not a descriptor"; }
    // Report fd once it is readable (Why::recv) or writable (Why::send). Throws Refused when the
    // kernel will not take the watch (a full io_uring): only that task ends.
    virtual void watch(int fd, Why why) = 0;
    // Stop reporting fd. The loop calls it before it resumes the task that waited.
    virtual void unwatch(int fd) = 0;
    // Appends the watched fds that are ready. With `block`, first waits until at least one is.
    // Throws std::system_error when waiting is impossible (the server then ends with exit 1).
    virtual void wait(std::vector<int>& ready, bool block) = 0;
    virtual const char* name() const = 0;
};

// A watch the kernel refused for lack of a resource: it costs the task that asked, never the loop.
struct Refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::unique_ptr<Poller> make_select_poller();
std::unique_ptr<Poller> make_poll_poller();
std::unique_ptr<Poller> make_epoll_poller();
std::unique_ptr<Poller> make_io_uring_poller();  // throws Unavailable where io_uring cannot run
// Why io_uring cannot be used here ("not permitted: ..."), or "" when it can (for the tests' skips).
std::string io_uring_unavailable();

// "select", "poll", "epoll" or "io_uring"; throws std::invalid_argument for another name, and
// Unavailable when io_uring cannot be used here.
std::unique_ptr<Poller> make_poller(std::string_view name);
struct Unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace fibs::loop
