#include "faults.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_set>

namespace fibs::loop {

Faults Faults::parse(const char* spec) {
    Faults f;
    std::string rest = spec ? spec : "";
    while (!rest.empty()) {
        std::size_t comma = rest.find(',');
        std::string item = rest.substr(0, comma);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        std::size_t eq = item.find('=');
        std::string key = item.substr(0, eq);
        std::string text = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (key == "refuse-own") {
            if (text != "listener" && text != "eventfd" && text != "pipe" && text != "timerfd") {
                throw std::invalid_argument("FIBS_FAULTS: refuse-own is listener, eventfd, pipe or timerfd, not \"" +
                                            text + "\"");
            }
            f.refuse_own = text;
            continue;
        }
        int value = 0;
        try {
            value = eq == std::string::npos ? -1 : std::stoi(text);
        } catch (const std::exception&) {
            value = -1;
        }
        if (value < 0) throw std::invalid_argument("FIBS_FAULTS: expected name=number, got \"" + item + "\"");
        if (key == "add-limit") f.add_limit = value;
        else if (key == "refuse-watch") f.refuse_watch = value;
        else if (key == "wait-error") f.wait_error = value;
        else if (key == "hold-descriptors-ms") f.hold = std::chrono::milliseconds(value);
        else throw std::invalid_argument("FIBS_FAULTS: unknown fault \"" + key + "\"");
    }
    return f;
}

// The kernel's name for a descriptor: /proc/self/fd says "anon_inode:[eventfd]", "pipe:[...]",
// "socket:[...]"; a socket that accepts connections is the listener.
std::string Failpoint::kind(int fd) {
    char link[64] = {};
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    std::string target(link, n > 0 ? static_cast<std::size_t>(n) : 0);
    for (const char* k : {"eventfd", "timerfd", "pipe"}) {
        if (target.find(k) != std::string::npos) return k;
    }
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) return "listener";
    return target;
}

std::string Failpoint::refuse_add(int fd, const char* who) {
    if (kind(fd) == "eventfd") return "";  // a loop's own mailbox (Loop's constructor): not a client
    if (f_.add_limit >= 0 && ++f_.counts->adds > f_.add_limit) return std::string(who) + ": " + std::strerror(ENOSPC) + " (FIBS_FAULTS)";
    std::lock_guard lock(mu_);
    clients_.insert(fd);
    return "";
}

void Failpoint::check_watch(int fd, const char* who) {
    bool client;
    {
        std::lock_guard lock(mu_);
        client = clients_.contains(fd);
    }
    if (f_.refuse_watch > 0 && client && ++f_.counts->watches % f_.refuse_watch == 0) {
        throw Refused(std::string(who) + " refused a watch: no room in the kernel (FIBS_FAULTS)");
    }
    if (!f_.refuse_own.empty() && !client && kind(fd) == f_.refuse_own) {
        throw Refused(std::string(who) + " refused a watch of the " + f_.refuse_own + ": no room in the kernel (FIBS_FAULTS)");
    }
}

void Failpoint::check_wait(const char* who) {
    if (f_.wait_error > 0 && ++f_.counts->waits == f_.wait_error) {
        throw std::system_error(EBADF, std::generic_category(), std::string(who) + " wait (FIBS_FAULTS)");
    }
}

std::shared_ptr<Failpoint> Failpoint::of(const Faults& f) {
    if (f.add_limit < 0 && f.refuse_watch == 0 && f.wait_error == 0 && f.refuse_own.empty()) return nullptr;
    return std::make_shared<Failpoint>(f);
}

namespace {

class FaultyPoller final : public Poller {
public:
    FaultyPoller(std::unique_ptr<Poller> real, std::shared_ptr<Failpoint> f) : real_(std::move(real)), f_(std::move(f)) {}

    std::string add(int fd) override {
        if (std::string why = f_->refuse_add(fd, name()); !why.empty()) return why;
        return real_->add(fd);
    }
    void watch(int fd, Why why) override {
        f_->check_watch(fd, name());
        real_->watch(fd, why);
    }
    void unwatch(int fd) override { real_->unwatch(fd); }
    void wait(std::vector<int>& ready, bool block) override {
        f_->check_wait(name());
        real_->wait(ready, block);
    }
    const char* name() const override { return real_->name(); }

private:
    std::unique_ptr<Poller> real_;
    std::shared_ptr<Failpoint> f_;
};

}  // namespace

std::unique_ptr<Poller> with_faults(std::unique_ptr<Poller> poller, const Faults& f) {
    std::shared_ptr<Failpoint> failpoint = Failpoint::of(f);
    if (!failpoint) return poller;
    return std::make_unique<FaultyPoller>(std::move(poller), std::move(failpoint));
}

DescriptorHold::DescriptorHold(std::chrono::milliseconds hold) {
    if (hold.count() <= 0) return;
    for (;;) {  // bounded by the descriptor limit
        Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!fd) break;
        held_.push_back(std::move(fd));
    }
    release_ = std::thread([this, hold] {
        std::unique_lock lock(mu_);
        ended_.wait_for(lock, hold, [this] { return ending_; });  // the hold's time, or the server's end
        held_.clear();
    });
}

DescriptorHold::~DescriptorHold() {
    {
        std::lock_guard lock(mu_);
        ending_ = true;  // a server that ends during its hold ends at once, not when the hold would
    }
    ended_.notify_one();
    if (release_.joinable()) release_.join();
}

}  // namespace fibs::loop
