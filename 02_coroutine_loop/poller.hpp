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
    // Report fd once it is readable (Why::recv) or writable (Why::send).
    virtual void watch(int fd, Why why) = 0;
    // Stop reporting fd. The loop calls it before it resumes the task that waited.
    virtual void unwatch(int fd) = 0;
    // Appends the watched fds that are ready. With `block`, first waits until at least one is.
    virtual void wait(std::vector<int>& ready, bool block) = 0;
    // select cannot watch a descriptor at or above FD_SETSIZE.
    virtual bool can_watch(int fd) const { return fd >= 0; }
    virtual const char* name() const = 0;
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
