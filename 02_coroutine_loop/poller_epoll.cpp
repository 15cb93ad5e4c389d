// epoll(7): the kernel keeps the interest list, and a wait costs only as much as what is ready.
// Each watch is EPOLLONESHOT: once an fd is reported the kernel disarms it by itself, which is
// exactly "unwatch before resuming", with one epoll_ctl per wait instead of two.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "net.hpp"
#include "poller.hpp"

namespace fibs::loop {

namespace {

class EpollPoller final : public Poller {
public:
    EpollPoller() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!ep_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    void watch(int fd, Why why) override {
        epoll_event ev{};
        ev.events = (why == Why::send ? EPOLLOUT : EPOLLIN | EPOLLRDHUP) | EPOLLONESHOT;
        ev.data.fd = fd;
        if (static_cast<std::size_t>(fd) >= known_.size()) known_.resize(static_cast<std::size_t>(fd) + 1, false);
        // A closed fd leaves epoll by itself, so `known_` can be stale either way: fall back.
        int op = known_[fd] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (::epoll_ctl(ep_.get(), op, fd, &ev) != 0) {
            int other = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
            if (::epoll_ctl(ep_.get(), other, fd, &ev) != 0) {
                throw std::system_error(errno, std::generic_category(), "epoll_ctl");
            }
        }
        known_[fd] = true;
    }
    void unwatch(int) override {}  // EPOLLONESHOT already disarmed it
    void wait(std::vector<int>& ready, bool block) override {
        epoll_event events[256];
        int n = ::epoll_wait(ep_.get(), events, 256, block ? -1 : 0);
        if (n < 0 && errno == EINTR) return;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "epoll_wait");
        for (int i = 0; i < n; ++i) ready.push_back(events[i].data.fd);
    }
    const char* name() const override { return "epoll"; }

private:
    Fd ep_;
    std::vector<bool> known_;  // fds added to the epoll set (maybe closed since)
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() { return std::make_unique<EpollPoller>(); }

}  // namespace fibs::loop
