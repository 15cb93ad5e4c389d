// epoll(7): the kernel keeps the interest list, and a wait costs only as much as what is ready.
// Each watch is EPOLLONESHOT: once an fd is reported the kernel disarms it by itself, which is
// exactly "unwatch before resuming", with one epoll_ctl per wait instead of two.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
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
    std::string add(int fd) override {  // a new client: into the interest list, reporting nothing yet
        epoll_event ev{};
        ev.data.fd = fd;
        if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            return std::string("epoll_ctl ADD: ") + std::strerror(errno);  // ENOSPC: fs.epoll.max_user_watches
        }
        known(fd) = true;
        return "";
    }
    void watch(int fd, Why why) override {
        epoll_event ev{};
        ev.events = (why == Why::send ? EPOLLOUT : EPOLLIN | EPOLLRDHUP) | EPOLLONESHOT;
        ev.data.fd = fd;
        // The clients came through add(); the listener, the eventfd and the signalfd come here first.
        // A closed fd leaves epoll by itself, so `known` can be stale: then the other op works.
        int op = known(fd) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (::epoll_ctl(ep_.get(), op, fd, &ev) != 0 &&
            ::epoll_ctl(ep_.get(), op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
            if (errno == ENOSPC || errno == ENOMEM) throw Refused(std::string("epoll_ctl: ") + std::strerror(errno));
            throw std::system_error(errno, std::generic_category(), "epoll_ctl");
        }
        known(fd) = true;
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
    std::vector<bool>::reference known(int fd) {  // in the interest list (a client's: since add())
        if (static_cast<std::size_t>(fd) >= known_.size()) known_.resize(static_cast<std::size_t>(fd) + 1, false);
        return known_[static_cast<std::size_t>(fd)];
    }

    Fd ep_;
    std::vector<bool> known_;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() { return std::make_unique<EpollPoller>(); }

}  // namespace fibs::loop
