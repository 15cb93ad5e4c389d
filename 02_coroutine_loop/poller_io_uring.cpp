// io_uring(7): two rings shared with the kernel, one for requests and one for their completions.
// Here it waits for readiness, like the others: each watch is a one-shot poll request put in the
// submission ring, and wait() submits them all and waits for completions in one io_uring_enter.
// epoll needs an epoll_ctl per watch on top of its wait: that syscall is what the ring saves.
//
// A completion names its fd and which watch of that fd it answers (a generation number), so one
// that arrives for a cancelled watch, or for an fd closed and reused since, is ignored.
#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "poller.hpp"

namespace fibs::loop {

namespace {

constexpr std::uint64_t kRemoval = ~0ull;  // the completion of a cancel: nothing to report

// Why a ring could not be set up, in words for the "not available" line.
std::string reason(int err) {
    if (err == ENOSYS) return "the kernel has no io_uring";
    if (err == EPERM) return "not permitted: kernel.io_uring_disabled or a seccomp filter";
    return std::strerror(err);
}

class UringPoller final : public Poller {
public:
    UringPoller() {
        // Only this thread uses the ring, so the kernel may keep completions' work until it asks
        // for them (DEFER_TASKRUN): no interruptions, which makes ping-pong as cheap as epoll.
        // Kernels before 6.1 refuse the flags; plain rings work there too.
        io_uring_params params{};
        params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
        int rc = ::io_uring_queue_init_params(4096, &ring_, &params);
        if (rc == -EINVAL) rc = ::io_uring_queue_init(4096, &ring_, 0);
        if (rc < 0) throw Unavailable("io_uring is not available here (" + reason(-rc) + "); use --backend epoll");
    }
    ~UringPoller() override { ::io_uring_queue_exit(&ring_); }
    void watch(int fd, Why why) override {
        Watch& w = watch_of(fd);
        w.armed = true;
        ++w.generation;
        io_uring_sqe* sqe = next_sqe();
        ::io_uring_prep_poll_add(sqe, fd, why == Why::send ? POLLOUT : POLLIN);
        ::io_uring_sqe_set_data64(sqe, tag(fd, w.generation));
    }
    void unwatch(int fd) override {  // after a completion nothing is pending; else cancel the poll
        Watch& w = watch_of(fd);
        if (!w.armed) return;
        w.armed = false;
        io_uring_sqe* sqe = next_sqe();
        ::io_uring_prep_poll_remove(sqe, tag(fd, w.generation));
        ::io_uring_sqe_set_data64(sqe, kRemoval);
    }
    void wait(std::vector<int>& ready, bool block) override {
        int rc = ::io_uring_submit_and_wait(&ring_, block ? 1 : 0);
        if (rc < 0 && rc != -EINTR) throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0, seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            if (cqe->user_data == kRemoval) continue;
            int fd = static_cast<int>(cqe->user_data & 0xffffffff);
            Watch& w = watch_of(fd);
            if (!w.armed || w.generation != cqe->user_data >> 32) continue;  // a stale completion
            w.armed = false;
            ready.push_back(fd);
        }
        ::io_uring_cq_advance(&ring_, seen);
    }
    const char* name() const override { return "io_uring"; }

private:
    struct Watch {
        std::uint32_t generation = 0;
        bool armed = false;  // a poll is in the ring, or in the kernel, for this fd
    };
    static std::uint64_t tag(int fd, std::uint32_t generation) {
        return static_cast<std::uint64_t>(generation) << 32 | static_cast<std::uint32_t>(fd);
    }
    Watch& watch_of(int fd) {
        if (static_cast<std::size_t>(fd) >= watches_.size()) watches_.resize(static_cast<std::size_t>(fd) + 1);
        return watches_[static_cast<std::size_t>(fd)];
    }
    io_uring_sqe* next_sqe() {  // the submission ring is full: hand it to the kernel early
        io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
        if (sqe == nullptr && ::io_uring_submit(&ring_) >= 0) sqe = ::io_uring_get_sqe(&ring_);
        if (sqe == nullptr) throw std::runtime_error("io_uring: no room in the submission ring");
        return sqe;
    }

    io_uring ring_{};
    std::vector<Watch> watches_;  // by fd
};

}  // namespace

std::string io_uring_unavailable() {
    io_uring ring{};
    int rc = ::io_uring_queue_init(2, &ring, 0);
    if (rc < 0) return reason(-rc);
    ::io_uring_queue_exit(&ring);
    return {};
}

std::unique_ptr<Poller> make_io_uring_poller() { return std::make_unique<UringPoller>(); }

}  // namespace fibs::loop
