// io_uring(7): two rings shared with the kernel, one for requests and one for their completions.
// Here it waits for readiness, like the others: each watch is a one-shot poll request put in the
// submission ring, and wait() submits them all and waits for completions in one io_uring_enter:
// re-arming costs no system call of its own (epoll registers a client once, and gets the same).
//
// Every poll request ends in exactly one completion, and the loop resumes the task only after it:
// a task never closes its socket while a poll on it is pending, so a completion always belongs to
// the socket now behind its fd, and unwatch has nothing to cancel.
#include <liburing.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "poller.hpp"

namespace fibs::loop {

namespace {

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
        // TASKRUN_FLAG is what lets the loop's quick look (wait without blocking) see that work:
        // the kernel raises a flag in the ring, and liburing enters the kernel to run it. Without
        // it, a submit with nothing to submit would not enter, and the look would find nothing.
        // Kernels before 6.1 refuse the flags; plain rings work there too. The single issuer is
        // the thread that enables the ring (R_DISABLED), not the one that makes it: with several
        // loops (Step 5) every ring is made at start-up and used by its loop's thread.
        io_uring_params params{};
        params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
                       IORING_SETUP_R_DISABLED;
        int rc = ::io_uring_queue_init_params(4096, &ring_, &params);
        if (rc == -EINVAL) {
            rc = ::io_uring_queue_init(4096, &ring_, 0);
            enabled_ = true;
        }
        if (rc < 0) throw Unavailable("io_uring is not available here (" + reason(-rc) + "); use --backend epoll");
    }
    ~UringPoller() override { ::io_uring_queue_exit(&ring_); }
    void watch(int fd, Why why) override {
        enable();
        io_uring_sqe* sqe = next_sqe();
        ::io_uring_prep_poll_add(sqe, fd, why == Why::send ? POLLOUT : POLLIN);
        ::io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(fd));
    }
    void unwatch(int) override {}  // the poll's completion was its end
    void wait(std::vector<int>& ready, bool block) override {
        enable();
        ready.insert(ready.end(), reaped_.begin(), reaped_.end());  // taken early by next_sqe
        if (!reaped_.empty()) block = false;
        reaped_.clear();
        int rc = ::io_uring_submit_and_wait(&ring_, block ? 1 : 0);
        // EBUSY or EAGAIN: too many completions not yet reaped; reaping them below is the cure.
        if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
            throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
        }
        reap(ready);
    }
    const char* name() const override { return "io_uring"; }

private:
    // The submission ring is full: hand it to the kernel early. If the kernel is busy (EBUSY: its
    // completions wait to be reaped), reap them, keeping them for the next wait(), and try again.
    io_uring_sqe* next_sqe() {
        io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
        for (int attempt = 0; sqe == nullptr && attempt < 2; ++attempt) {
            if (attempt == 1) reap(reaped_);
            if (::io_uring_submit(&ring_) >= 0) sqe = ::io_uring_get_sqe(&ring_);
        }
        if (sqe == nullptr) throw Refused("io_uring: no room in the submission ring");
        return sqe;
    }
    void reap(std::vector<int>& ready) {
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0, seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            ready.push_back(static_cast<int>(cqe->user_data));
        }
        ::io_uring_cq_advance(&ring_, seen);
    }

    void enable() {  // on the loop's thread, before its first use
        if (enabled_) return;
        // io_uring_enable_rings(), which Debian 12's liburing declares but does not export.
        if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0) {
            throw std::system_error(errno, std::generic_category(), "io_uring_register ENABLE_RINGS");
        }
        enabled_ = true;
    }

    io_uring ring_{};
    bool enabled_ = false;
    std::vector<int> reaped_;  // completions reaped while the ring was full, not yet reported
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
