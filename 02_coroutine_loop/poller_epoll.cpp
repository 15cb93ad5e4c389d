// epoll(7): the kernel keeps the interest list, so a client's socket is registered once (add) and
// epoll_ctl runs again only when what its task waits for changes, recv <-> send.
//
// Level-triggered, with a lazy disarm. unwatch() costs nothing: the registration stays. A socket
// that turns ready while its task runs or sits in `tasks` is reported to nobody; then, and only
// then, it leaves the interest list (EPOLL_CTL_DEL), so the loop cannot spin on it, and its next
// watch puts it back. Nothing is lost: level-triggered reports a socket that is still readable
// the moment its task waits again. (Edge-triggered would need a per-fd "ready" bit and handlers
// that read until EAGAIN; ours read once per wait.)
//
// The server's other own descriptors (the listener, the stop pipe, the pause timer) never come
// through add(), so the backend would not learn if one were closed and its number reused: each of
// their watches arms a one-shot registration instead. The mailbox's eventfd, woken at every
// worker's result, is added by its loop, which it outlives: one registration, never re-armed.
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

constexpr std::uint32_t kRecv = EPOLLIN | EPOLLRDHUP, kSend = EPOLLOUT;

class EpollPoller final : public Poller {
public:
    EpollPoller() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!ep_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    std::string add(int fd) override {  // a new client: registered once, for its first recv
        if (!ctl(EPOLL_CTL_ADD, fd, kRecv)) return std::string("epoll_ctl ADD: ") + std::strerror(errno);
        entry(fd) = {kRecv, true, false};
        return "";
    }
    void watch(int fd, Why why) override {
        Entry& e = entry(fd);
        std::uint32_t want = why == Why::send ? kSend : kRecv;
        e.waiting = true;
        if (e.client && e.events == want) return;  // registered already: nothing to tell the kernel
        if (!e.client) want |= EPOLLONESHOT;
        int op = e.events != 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (!ctl(op, fd, want) && !ctl(op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, want)) {
            if (errno == ENOSPC || errno == ENOMEM) throw Refused(std::string("epoll_ctl: ") + std::strerror(errno));
            throw std::system_error(errno, std::generic_category(), "epoll_ctl");
        }
        e.events = want;
    }
    void unwatch(int fd) override { entry(fd).waiting = false; }  // lazily: see the top of the file
    void wait(std::vector<int>& ready, bool block) override {
        epoll_event events[256];
        int n = ::epoll_wait(ep_.get(), events, 256, block ? -1 : 0);
        if (n < 0 && errno == EINTR) return;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "epoll_wait");
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            Entry& e = entry(fd);
            if (e.waiting) {
                ready.push_back(fd);
            } else if (ctl(EPOLL_CTL_DEL, fd, 0)) {  // ready, but nobody waits yet: the lazy disarm
                e.events = 0;
            }
        }
    }
    const char* name() const override { return "epoll"; }

private:
    struct Entry {
        std::uint32_t events = 0;  // what the kernel has for this fd; 0: not in the interest list
        bool client = false;       // came through add(): registered once, level-triggered
        bool waiting = false;      // a task waits on it (between watch and unwatch)
    };
    bool ctl(int op, int fd, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        return ::epoll_ctl(ep_.get(), op, fd, &ev) == 0;
    }
    Entry& entry(int fd) {
        if (static_cast<std::size_t>(fd) >= entries_.size()) entries_.resize(static_cast<std::size_t>(fd) + 1);
        return entries_[static_cast<std::size_t>(fd)];
    }

    Fd ep_;
    std::vector<Entry> entries_;  // by fd
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() { return std::make_unique<EpollPoller>(); }

}  // namespace fibs::loop
