// poll(2): an array of (fd, events) with no size limit, but the kernel still walks all of it on
// every call, so the cost grows with the number of connections, idle ones included.
#include <poll.h>

#include <cerrno>
#include <system_error>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "poller.hpp"

namespace fibs::loop {

namespace {

class PollPoller final : public Poller {
public:
    std::string add(int fd) override {  // room for its entry now: a watch never needs memory
        if (fd < 0) return "not a descriptor";
        room(fd);
        fds_.reserve(at_.size());
        return "";
    }
    void watch(int fd, Why why) override {
        short events = why == Why::send ? POLLOUT : POLLIN;
        room(fd);  // a descriptor of the server's own: at start-up
        std::size_t& at = at_[static_cast<std::size_t>(fd)];
        if (at == kNone) {
            at = fds_.size();
            fds_.push_back({fd, events, 0});
        } else {
            fds_[at].events = events;
        }
    }
    void unwatch(int fd) override {
        auto slot = static_cast<std::size_t>(fd);
        if (slot >= at_.size() || at_[slot] == kNone) return;
        std::size_t at = std::exchange(at_[slot], kNone);
        if (at != fds_.size() - 1) {  // move the last entry into the hole
            fds_[at] = fds_.back();
            at_[static_cast<std::size_t>(fds_[at].fd)] = at;
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
    static constexpr std::size_t kNone = ~std::size_t{0};
    void room(int fd) {
        if (static_cast<std::size_t>(fd) >= at_.size()) at_.resize(std::max(static_cast<std::size_t>(fd) + 1, 2 * at_.size()), kNone);
    }
    std::vector<pollfd> fds_;
    std::vector<std::size_t> at_;  // fd -> its position in fds_, or kNone
};

}  // namespace

std::unique_ptr<Poller> make_poll_poller() { return std::make_unique<PollPoller>(); }

}  // namespace fibs::loop
