// select(2): two bitmaps of FD_SETSIZE (1024) bits, copied and scanned on every call. A descriptor
// at or above FD_SETSIZE must never be put in them (FD_SET would write past the bitmap).
#include <sys/select.h>

#include <cerrno>
#include <system_error>

#include "poller.hpp"

namespace fibs::loop {

namespace {

class SelectPoller final : public Poller {
public:
    SelectPoller() {
        FD_ZERO(&read_);
        FD_ZERO(&write_);
    }
    void watch(int fd, Why why) override {
        FD_SET(fd, why == Why::send ? &write_ : &read_);
        if (fd > max_fd_) max_fd_ = fd;
    }
    void unwatch(int fd) override {
        FD_CLR(fd, &read_);
        FD_CLR(fd, &write_);
        while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &read_) && !FD_ISSET(max_fd_, &write_)) --max_fd_;
    }
    void wait(std::vector<int>& ready, bool block) override {
        fd_set r = read_, w = write_;
        timeval now{0, 0};
        int n = ::select(max_fd_ + 1, &r, &w, nullptr, block ? nullptr : &now);
        if (n < 0 && errno == EINTR) return;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "select");
        for (int fd = 0; fd <= max_fd_ && n > 0; ++fd) {
            if (FD_ISSET(fd, &r) || FD_ISSET(fd, &w)) {
                ready.push_back(fd);
                --n;
            }
        }
    }
    std::string add(int fd) override {
        return fd >= 0 && fd < FD_SETSIZE ? "" : "select cannot watch descriptors past FD_SETSIZE";
    }
    const char* name() const override { return "select"; }

private:
    fd_set read_, write_;
    int max_fd_ = -1;
};

}  // namespace

std::unique_ptr<Poller> make_select_poller() { return std::make_unique<SelectPoller>(); }

}  // namespace fibs::loop
