// What the loop needs from select, poll or epoll, and nothing more (as in Redis's ae backends).
// One small file per backend: poller_select.cpp, poller_poll.cpp, poller_epoll.cpp.
#pragma once
#include <memory>
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
// "select", "poll" or "epoll"; throws std::invalid_argument otherwise.
std::unique_ptr<Poller> make_poller(std::string_view name);

}  // namespace fibs::loop
