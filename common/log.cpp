#include "log.hpp"

#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace fibs {
namespace {

// Bytes written to stdout so far: log_drain's sign that somebody reads it.
std::atomic<long> written{0};

void write_all(std::string_view text) {
    for (std::size_t done = 0; done < text.size();) {
        ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // stdout closed: nobody will read the log
        done += static_cast<std::size_t>(n);
        written += n;
    }
}

// A line and its "\n", without a copy: the writer needs no memory to write, so a process out of
// memory still gets its log out.
void write_line(std::string_view line) {
    iovec both[2] = {{const_cast<char*>(line.data()), line.size()}, {const_cast<char*>("\n"), 1}};
    ssize_t n = ::writev(STDOUT_FILENO, both, 2);
    if (n == static_cast<ssize_t>(line.size() + 1)) {
        written += n;
        return;
    }
    std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;  // a part, or nothing (EINTR, or stdout full)
    if (n < 0 && errno != EINTR && errno != EAGAIN) return;      // stdout closed: nobody will read the log
    written += static_cast<long>(done);
    if (done < line.size()) write_all(line.substr(done));
    write_all("\n");
}

class Writer {
public:
    void put(std::string_view line) {
        std::lock_guard lock(mu_);
        if (!threaded_) return write_line(line);
        if (queued_.size() >= kLogQueueLines) {
            ++dropped_;
            return;
        }
        queued_.emplace_back(line);
        more_.notify_one();
    }

    // Waits while the lines go out. A stdout that took nothing for kStuck is not being read (a
    // pipe nobody reads, a terminal stopped with Ctrl-S): then the wait ends at once, not at `timeout`.
    void drain(std::chrono::milliseconds timeout) {
        constexpr std::chrono::milliseconds kStuck{100};
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::unique_lock lock(mu_);
        auto drained = [this] { return queued_.empty() && dropped_ == 0 && !writing_; };
        while (!drained() && std::chrono::steady_clock::now() < deadline) {
            long before = written;
            bool was_writing = writing_;
            done_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + kStuck), drained);
            if (was_writing && writing_ && written == before) return;  // in write() all along: not read
        }
    }

    // False when no thread can be started: the lines are then written by whoever logs them.
    bool start() {
        sigset_t all, old;  // the writer takes no signal: a Ctrl-C must interrupt the server's own calls
        sigfillset(&all);
        ::pthread_sigmask(SIG_BLOCK, &all, &old);
        try {
            std::thread([this] { run(); }).detach();
            threaded_ = true;
        } catch (const std::exception&) {
            threaded_ = false;
        }
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return threaded_;
    }

private:
    void run() {
        std::unique_lock lock(mu_);
        for (;;) {
            more_.wait(lock, [this] { return !queued_.empty() || dropped_ > 0; });
            writing_lines_.swap(queued_);  // everything queued, taken at once: a swap needs no memory
            long dropped = std::exchange(dropped_, 0);
            writing_ = true;
            lock.unlock();
            for (const std::string& line : writing_lines_) write_line(line);  // may wait for a reader for ever
            if (dropped > 0) {
                char notice[96];
                std::snprintf(notice, sizeof notice, "(%ld log lines dropped: stdout was not read)", dropped);
                write_line(notice);
            }
            writing_lines_.clear();
            lock.lock();
            writing_ = false;
            done_.notify_all();
        }
    }

    std::mutex mu_;
    std::condition_variable more_, done_;
    std::deque<std::string> queued_;
    std::deque<std::string> writing_lines_;  // the writer's, made before memory can run out
    long dropped_ = 0;
    bool writing_ = false;
    bool threaded_ = false;
};

// Never destroyed: the writer thread may still be blocked in write() while the process exits.
Writer& writer() {
    static Writer* w = [] {
        auto* made = new Writer;
        if (made->start()) std::atexit([] { log_drain(std::chrono::seconds(1)); });
        return made;
    }();
    return *w;
}

}  // namespace

void log_line(std::string_view line) {
    try {
        writer().put(line);
    } catch (const std::bad_alloc&) {
        // no memory for the line: the log loses it, the server goes on
    }
}

void log_drain(std::chrono::milliseconds timeout) { writer().drain(timeout); }

}  // namespace fibs
