// poll(2): an array of (fd, events) with no size limit, but the kernel still walks all of it on
// every call, so the cost grows with the number of connections, idle ones included.
#include <poll.h>

#include <cerrno>
#include <system_error>
#include <unordered_map>

#include "poller.hpp"

namespace fibs::loop {

namespace {

class PollPoller final : public Poller {
public:
    void watch(int fd, Why why) override {
        short events = why == Why::send ? POLLOUT : POLLIN;
        auto [it, added] = index_.try_emplace(fd, fds_.size());
        if (added) {
            fds_.push_back({fd, events, 0});
        } else {
            fds_[it->second].events = events;
        }
    }
    void unwatch(int fd) override {
        auto it = index_.find(fd);
        if (it == index_.end()) return;
        std::size_t at = it->second;
        index_.erase(it);
        if (at != fds_.size() - 1) {  // move the last entry into the hole
            fds_[at] = fds_.back();
            index_[fds_[at].fd] = at;
        }
        fds_.pop_back();
    }
    void wait(std::vector<int>& ready, bool block) override {
        int n = ::poll(fds_.data(), fds_.size(), block ? -1 : 0);
        if (n < 0 && errno == EINTR) return;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "poll");
        for (const pollfd& p : fds_) {
            if (p.revents != 0) ready.push_back(p.fd);
        }
    }
    const char* name() const override { return "poll"; }

private:
    std::vector<pollfd> fds_;
    std::unordered_map<int, std::size_t> index_;  // fd -> position in fds_
};

}  // namespace

std::unique_ptr<Poller> make_poll_poller() { return std::make_unique<PollPoller>(); }

}  // namespace fibs::loop
